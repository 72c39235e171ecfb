//! `#[keel::transaction]` against hand-written `BEGIN`/`COMMIT` around the same two statements
//! (the Python original's users/audit_log migration), on a file-backed SQLite database in WAL
//! mode, each on its own fresh database file. Target: the macro adds at most 2%.

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum AppError {
    #[allow(dead_code)] // read through Debug only
    Db(rusqlite::Error),
    #[allow(dead_code)]
    Tx(keel::tx::TxError),
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<keel::tx::TxError> for AppError {
    fn from(e: keel::tx::TxError) -> Self {
        Self::Tx(e)
    }
}

fn database(dir: &tempfile::TempDir, file: &str) -> Connection {
    let conn = Connection::open(dir.path().join(file)).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = OFF;
         CREATE TABLE users (id INTEGER PRIMARY KEY, tier TEXT NOT NULL, spend INTEGER NOT NULL);
         CREATE TABLE audit_log (id INTEGER PRIMARY KEY, event TEXT NOT NULL);",
    )
    .unwrap();
    for id in 0..100 {
        conn.execute(
            "INSERT INTO users (id, tier, spend) VALUES (?1, 'basic', ?2)",
            [id, id * 200],
        )
        .unwrap();
    }
    conn
}

/// The two statements both variants run.
fn statements(conn: &Connection, threshold: i64) -> rusqlite::Result<usize> {
    let n = conn
        .prepare_cached("UPDATE users SET tier = 'premium', spend = spend + 1 WHERE id = ?1")?
        .execute([threshold])?;
    conn.prepare_cached("INSERT INTO audit_log (event) VALUES ('tier_upgrade_batch')")?
        .execute([])?;
    Ok(n)
}

#[keel::transaction]
fn with_macro(conn: &mut Connection, threshold: i64) -> Result<usize, AppError> {
    Ok(statements(conn, threshold)?)
}

fn by_hand(conn: &mut Connection, threshold: i64) -> Result<usize, AppError> {
    conn.execute_batch("BEGIN")?;
    match statements(conn, threshold) {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

/// Times `timed` while running `other` untimed in between, each on its own database file: both
/// benchmarks then do the same mix of work, so machine load and SQLite state (WAL growth,
/// checkpoints, page cache) weigh on them equally. On a shared machine this pairing is what
/// makes a 2% comparison meaningful.
fn paired(
    b: &mut criterion::Bencher<'_>,
    timed: fn(&mut Connection, i64) -> Result<usize, AppError>,
    timed_db: &mut Connection,
    other: fn(&mut Connection, i64) -> Result<usize, AppError>,
    other_db: &mut Connection,
) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            other(other_db, black_box(42)).unwrap();
            let start = Instant::now();
            timed(timed_db, black_box(42)).unwrap();
            total += start.elapsed();
        }
        total
    });
}

fn transaction(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut hand_db = database(&dir, "by_hand.db");
    let mut macro_db = database(&dir, "macro.db");
    let mut group = c.benchmark_group("transaction_sqlite_file");
    group.bench_function("hand_written_begin_commit", |b| {
        paired(b, by_hand, &mut hand_db, with_macro, &mut macro_db)
    });
    group.bench_function("keel_transaction_macro", |b| {
        paired(b, with_macro, &mut macro_db, by_hand, &mut hand_db)
    });
    group.finish();
}

/// A connection whose BEGIN/COMMIT cost nothing: what remains is keel's own work per
/// transaction (options check, audit emit, nesting frame, timing, panic guard).
struct NoopConnection {
    open: bool,
}

impl keel::tx::Transactional for NoopConnection {
    type Error = keel::tx::TxError;
    fn database(&self) -> &'static str {
        "noop"
    }
    fn in_transaction(&self) -> bool {
        self.open
    }
    fn execute_sql(&mut self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    fn begin(&mut self, _: &keel::tx::Options) -> Result<(), Self::Error> {
        self.open = black_box(true);
        Ok(())
    }
    fn commit(&mut self, _: &keel::tx::Options) -> Result<(), Self::Error> {
        self.open = black_box(false);
        Ok(())
    }
    fn rollback(&mut self, _: &keel::tx::Options) -> Result<(), Self::Error> {
        self.open = black_box(false);
        Ok(())
    }
    fn savepoint(&mut self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    fn release_savepoint(&mut self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
    fn rollback_to_savepoint(&mut self, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[keel::transaction]
fn noop_with_macro(conn: &mut NoopConnection, x: u64) -> Result<u64, keel::tx::TxError> {
    let _ = conn;
    Ok(black_box(x))
}

fn noop_by_hand(conn: &mut NoopConnection, x: u64) -> Result<u64, keel::tx::TxError> {
    use keel::tx::Transactional;
    let options = keel::tx::Options::new();
    conn.begin(&options)?;
    let x = black_box(x);
    conn.commit(&options)?;
    Ok(x)
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("transaction_fixed_cost");
    let mut conn = NoopConnection { open: false };
    group.bench_function("noop_connection_by_hand", |b| {
        b.iter(|| noop_by_hand(&mut conn, black_box(7)).unwrap())
    });
    group.bench_function("noop_connection_keel_macro", |b| {
        b.iter(|| noop_with_macro(&mut conn, black_box(7)).unwrap())
    });
    group.finish();
}

// ------------------------------------------------ async: sqlx SQLite file, paired as above

mod async_sqlite {
    use super::NoopConnection;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    use std::hint::black_box;

    #[derive(Debug)]
    pub enum AsyncError {
        #[allow(dead_code)] // read through Debug only
        Db(sqlx::Error),
        #[allow(dead_code)]
        Tx(keel::tx::TxError),
    }

    impl From<sqlx::Error> for AsyncError {
        fn from(e: sqlx::Error) -> Self {
            Self::Db(e)
        }
    }

    impl From<keel::tx::TxError> for AsyncError {
        fn from(e: keel::tx::TxError) -> Self {
            Self::Tx(e)
        }
    }

    async fn statements(conn: &mut SqliteConnection, id: i64) -> Result<u64, sqlx::Error> {
        let n = sqlx::query("UPDATE users SET spend = spend + 1 WHERE id = ?1")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("INSERT INTO audit_log (event) VALUES ('tier_upgrade_batch')")
            .execute(&mut *conn)
            .await?;
        Ok(n)
    }

    #[keel::transaction]
    pub async fn with_macro(conn: &mut SqliteConnection, id: i64) -> Result<u64, AsyncError> {
        Ok(statements(conn, id).await?)
    }

    /// What a careful hand-written version does: sqlx's own transaction (`BEGIN`, `COMMIT`,
    /// rollback on drop).
    pub async fn by_hand(conn: &mut SqliteConnection, id: i64) -> Result<u64, AsyncError> {
        use sqlx::Connection;
        let mut tx = conn.begin().await?;
        let n = statements(&mut tx, id).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The leanest hand-written version: `BEGIN` and `COMMIT` as plain statements (what keel's
    /// engine sends), `ROLLBACK` on an error.
    pub async fn raw_by_hand(conn: &mut SqliteConnection, id: i64) -> Result<u64, AsyncError> {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        match statements(conn, id).await {
            Ok(n) => {
                sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
                Ok(n)
            }
            Err(e) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
                Err(e.into())
            }
        }
    }

    pub async fn connect(dir: &tempfile::TempDir, file: &str) -> SqliteConnection {
        let mut conn = SqliteConnectOptions::new()
            .filename(dir.path().join(file))
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
             CREATE TABLE users (id INTEGER PRIMARY KEY, spend INTEGER NOT NULL);
             CREATE TABLE audit_log (id INTEGER PRIMARY KEY, event TEXT NOT NULL);
             INSERT INTO users VALUES (1, 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn
    }

    /// The no-op connection of the sync rows, as an async connection: statements complete at
    /// once, so what remains is keel's own work per async transaction (the engine shared with
    /// the sync form, plus the future's state machine and its drop guard).
    impl keel::tx::AsyncTransactional for NoopConnection {
        type Error = keel::tx::TxError;
        fn database(&self) -> &'static str {
            "noop"
        }
        fn in_transaction(&self) -> bool {
            self.open
        }
        fn execute_sql(
            &mut self,
            sql: &str,
        ) -> impl Future<Output = Result<(), Self::Error>> + Send {
            self.open = black_box(sql.len() == 5); // "BEGIN" opens, COMMIT/ROLLBACK close
            std::future::ready(Ok(()))
        }
        fn rollback_on_drop(
            &mut self,
            _: &keel::tx::Options,
            _: Option<&str>,
            _: keel::tx::Ending,
        ) {
            self.open = false;
        }
    }

    #[keel::transaction]
    pub async fn noop_with_macro(
        conn: &mut NoopConnection,
        x: u64,
    ) -> Result<u64, keel::tx::TxError> {
        let _ = conn;
        Ok(black_box(x))
    }

    pub async fn noop_by_hand(conn: &mut NoopConnection, x: u64) -> Result<u64, keel::tx::TxError> {
        use keel::tx::AsyncTransactional;
        let options = keel::tx::Options::new();
        conn.begin(&options).await?;
        let x = black_box(x);
        conn.commit(&options).await?;
        Ok(x)
    }
}

fn transaction_async(c: &mut Criterion) {
    use async_sqlite::{AsyncError, by_hand, raw_by_hand, with_macro};
    use sqlx::sqlite::SqliteConnection;
    type Body = for<'c> fn(
        &'c mut SqliteConnection,
        i64,
    )
        -> std::pin::Pin<Box<dyn Future<Output = Result<u64, AsyncError>> + 'c>>;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut hand_db = rt.block_on(async_sqlite::connect(&dir, "async_by_hand.db"));
    let mut macro_db = rt.block_on(async_sqlite::connect(&dir, "async_macro.db"));
    // Both variants are boxed the same way, so the box is not part of the difference.
    let hand: Body = |c, id| Box::pin(by_hand(c, id));
    let raw: Body = |c, id| Box::pin(raw_by_hand(c, id));
    let keel: Body = |c, id| Box::pin(with_macro(c, id));
    let paired_async = |b: &mut criterion::Bencher<'_>,
                        timed: Body,
                        timed_db: &mut SqliteConnection,
                        other: Body,
                        other_db: &mut SqliteConnection| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(other(other_db, black_box(1))).unwrap();
                let start = Instant::now();
                rt.block_on(timed(timed_db, black_box(1))).unwrap();
                total += start.elapsed();
            }
            total
        })
    };
    let mut group = c.benchmark_group("transaction_async_sqlx_sqlite_file");
    group.bench_function("hand_written_begin_commit", |b| {
        paired_async(b, hand, &mut hand_db, keel, &mut macro_db)
    });
    group.bench_function("keel_transaction_async_fn", |b| {
        paired_async(b, keel, &mut macro_db, hand, &mut hand_db)
    });
    // The same pairing against the raw-statement version.
    group.bench_function("hand_written_raw_sql_begin_commit", |b| {
        paired_async(b, raw, &mut hand_db, keel, &mut macro_db)
    });
    group.bench_function("keel_transaction_async_fn_vs_raw", |b| {
        paired_async(b, keel, &mut macro_db, raw, &mut hand_db)
    });
    group.finish();

    let mut group = c.benchmark_group("transaction_async_fixed_cost");
    let mut conn = NoopConnection { open: false };
    group.bench_function("noop_connection_by_hand", |b| {
        b.iter(|| {
            rt.block_on(async_sqlite::noop_by_hand(&mut conn, black_box(7)))
                .unwrap()
        })
    });
    group.bench_function("noop_connection_keel_macro", |b| {
        b.iter(|| {
            rt.block_on(async_sqlite::noop_with_macro(&mut conn, black_box(7)))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, transaction, overhead, transaction_async);
criterion_main!(benches);
