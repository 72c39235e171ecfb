//! `#[keel::transaction]` on `async fn` and `keel::tx::run_async`: sqlx's SQLite on temp files
//! (always), and PostgreSQL through tokio-postgres and sqlx (`KEEL_PG_URL`, which `.ci/run` sets by
//! starting a throwaway server; without it the PostgreSQL tests print a notice and check nothing).
//! Covers the synchronous contract (commit, rollback, panic, nesting, read_only, isolation,
//! behavior, audit events, trace span), cancellation per driver and for a pooled connection,
//! retry, `Send` futures, and the 16 x 250 contention run.

#![deny(warnings, clippy::all)]
#![cfg(all(feature = "tokio-postgres", feature = "sqlx"))]

use keel::trace::Outcome;
use keel::tx::{self, Options, Transient, TxError};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Sqlite};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

#[derive(Debug)]
enum AppError {
    Pg(tokio_postgres::Error),
    Sqlx(sqlx::Error),
    Tx(TxError),
    Rejected(&'static str),
}

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sqlx(e)
    }
}

impl From<TxError> for AppError {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

impl Transient for AppError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Pg(e) => e.is_transient(),
            Self::Sqlx(e) => e.is_transient(),
            Self::Tx(e) => e.is_transient(),
            Self::Rejected(_) => false,
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn assert_send<F: Future + Send>(f: F) -> F {
    f
}

// ---------------------------------------------------------------- SQLite through sqlx

/// A fresh SQLite file with `t (x INTEGER)`; the directory lives as long as the guard.
async fn sqlite_file() -> (tempfile::TempDir, SqliteConnectOptions) {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("db.sqlite"))
        .create_if_missing(true);
    let mut conn = options.connect().await.unwrap();
    sqlx::raw_sql("CREATE TABLE t (x INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (dir, options)
}

async fn sqlite_rows(conn: &mut SqliteConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT x FROM t ORDER BY x")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[keel::transaction]
async fn insert(conn: &mut SqliteConnection, x: i64, fail: bool) -> Result<u64, AppError> {
    let n = sqlx::query("INSERT INTO t (x) VALUES (?1)")
        .bind(x)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if fail {
        return Err(AppError::Rejected("asked to fail"));
    }
    Ok(n)
}

#[keel::transaction]
async fn insert_then_panic(conn: &mut SqliteConnection) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (99)")
        .execute(&mut *conn)
        .await?;
    panic!("boom");
}

#[test]
fn sqlite_ok_commits_err_rolls_back_panic_rolls_back_and_resumes() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        assert_eq!(insert(&mut conn, 1, false).await.unwrap(), 1);
        let err = insert(&mut conn, 2, true).await.unwrap_err();
        let AppError::Rejected(why) = err else {
            panic!("{err:?}")
        };
        assert_eq!(why, "asked to fail");
        let panicked = tokio::spawn(async move {
            let _ = insert_then_panic(&mut conn).await;
            unreachable!("the panic goes on");
        })
        .await
        .unwrap_err();
        assert!(panicked.is_panic());
        let mut other = options.connect().await.unwrap();
        assert_eq!(sqlite_rows(&mut other).await, [1]);
    });
}

#[keel::transaction(nested = "join")]
async fn joined_insert(conn: &mut SqliteConnection, x: i64, fail: bool) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (?1)")
        .bind(x)
        .execute(&mut *conn)
        .await?;
    if fail {
        return Err(AppError::Rejected("inner"));
    }
    Ok(())
}

#[keel::transaction(nested = "fail")]
async fn must_be_outermost(conn: &mut SqliteConnection) -> Result<(), AppError> {
    let _ = conn;
    Ok(())
}

#[keel::transaction(name = "outer")]
async fn outer(conn: &mut SqliteConnection, mode: &str) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (1)")
        .execute(&mut *conn)
        .await?;
    match mode {
        "savepoint" => {
            // The failing inner savepoint is rolled back alone; the outer commits 1 and 3.
            assert!(insert(conn, 2, true).await.is_err());
            insert(conn, 3, false).await?;
        }
        "join" => {
            // A failing joined body marks the outer transaction rollback-only.
            assert!(joined_insert(conn, 2, true).await.is_err());
        }
        "fail" => {
            let err = must_be_outermost(conn).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    AppError::Tx(TxError::AlreadyInTransaction {
                        name: "must_be_outermost"
                    })
                ),
                "{err:?}"
            );
        }
        _ => unreachable!(),
    }
    Ok(())
}

#[test]
fn sqlite_nesting_savepoint_join_fail() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        outer(&mut conn, "savepoint").await.unwrap();
        assert_eq!(sqlite_rows(&mut conn).await, [1, 3]);

        let err = outer(&mut conn, "join").await.unwrap_err();
        assert!(
            matches!(err, AppError::Tx(TxError::RollbackOnly { name: "outer" })),
            "{err:?}"
        );
        assert_eq!(sqlite_rows(&mut conn).await, [1, 3]);

        outer(&mut conn, "fail").await.unwrap();
        assert_eq!(sqlite_rows(&mut conn).await, [1, 1, 3]);
    });
}

#[keel::transaction(read_only)]
async fn read_only_insert(conn: &mut SqliteConnection) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (5)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[keel::transaction(isolation = "read_committed", name = "rc")]
async fn read_committed(conn: &mut SqliteConnection) -> Result<(), AppError> {
    let _ = conn;
    Ok(())
}

#[keel::transaction(behavior = "immediate", isolation = "serializable")]
async fn immediate(conn: &mut SqliteConnection) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (7)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[test]
fn sqlite_read_only_isolation_and_behavior() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        let err = read_only_insert(&mut conn).await.unwrap_err();
        assert!(format!("{err:?}").contains("readonly"), "{err:?}");
        // query_only is off again afterwards.
        sqlx::query("INSERT INTO t (x) VALUES (6)")
            .execute(&mut conn)
            .await
            .unwrap();

        let err = read_committed(&mut conn).await.unwrap_err();
        let AppError::Tx(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            err.to_string(),
            "transaction `rc`: SQLite does not support isolation = \"read_committed\" (SQLite transactions are always serializable)"
        );

        immediate(&mut conn).await.unwrap();
        assert_eq!(sqlite_rows(&mut conn).await, [6, 7]);
    });
}

/// The body's first statement ran, then it waits forever: the caller's timeout drops it.
#[keel::transaction]
async fn insert_then_hang(
    conn: &mut SqliteConnection,
    x: i64,
    ran: &AtomicBool,
    read_only_check: bool,
) -> Result<(), AppError> {
    if read_only_check {
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
    } else {
        sqlx::query("INSERT INTO t (x) VALUES (?1)")
            .bind(x)
            .execute(&mut *conn)
            .await?;
    }
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[keel::transaction(read_only)]
async fn read_then_hang(conn: &mut SqliteConnection, ran: &AtomicBool) -> Result<(), AppError> {
    sqlx::query("SELECT count(*) FROM t")
        .execute(&mut *conn)
        .await?;
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[test]
fn sqlite_dropped_future_rolls_back_before_the_next_use() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        let ran = AtomicBool::new(false);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            insert_then_hang(&mut conn, 41, &ran, false),
        )
        .await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        // The next transaction on that connection sees none of the dropped work and commits.
        insert(&mut conn, 42, false).await.unwrap();
        assert_eq!(sqlite_rows(&mut conn).await, [42]);
        let mut other = options.connect().await.unwrap();
        assert_eq!(sqlite_rows(&mut other).await, [42]);

        // A dropped read-only transaction does not leave the connection read-only.
        let ran = AtomicBool::new(false);
        let dropped =
            tokio::time::timeout(Duration::from_millis(100), read_then_hang(&mut conn, &ran)).await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        sqlx::query("INSERT INTO t (x) VALUES (43)")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(sqlite_rows(&mut other).await, [42, 43]);
    });
}

#[keel::transaction]
async fn pooled_insert(conn: &mut PoolConnection<Sqlite>, x: i64) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (?1)")
        .bind(x)
        .execute(&mut **conn)
        .await?;
    Ok(())
}

#[keel::transaction]
async fn pooled_insert_then_hang(
    conn: &mut PoolConnection<Sqlite>,
    ran: &AtomicBool,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO t (x) VALUES (13)")
        .execute(&mut **conn)
        .await?;
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[test]
fn sqlite_pooled_connection_returned_to_its_pool_is_rolled_back() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let ran = AtomicBool::new(false);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            pooled_insert_then_hang(&mut conn, &ran),
        )
        .await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        drop(conn); // back to the pool (the only connection)

        let mut again = pool.acquire().await.unwrap();
        pooled_insert(&mut again, 14).await.unwrap();
        drop(again);
        let mut other = options.connect().await.unwrap();
        assert_eq!(sqlite_rows(&mut other).await, [14]);
    });
}

/// Deferred, so the conflict shows up inside the body (which counts attempts); a default
/// (immediate) writer fails at `BEGIN`, before its body runs.
#[keel::transaction(retry = 20, behavior = "deferred")]
async fn contended_insert(
    conn: &mut SqliteConnection,
    attempts: &AtomicU64,
) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    sqlx::query("INSERT INTO t (x) VALUES (8)")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[test]
fn sqlite_busy_is_retried_with_an_async_backoff() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        // No busy timeout: a locked database fails at once with SQLITE_BUSY (rusqlite and sqlx
        // wait 5 s by default before giving up).
        // The holder waits for its lock: its COMMIT may meet the shared lock of the writer's
        // attempt in flight (seen once in CI).
        let mut holder = options
            .clone()
            .busy_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap();
        let options = options.busy_timeout(Duration::ZERO);
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut conn = options.connect().await.unwrap();
        let attempts = Arc::new(AtomicU64::new(0));
        let counted = attempts.clone();
        let writer = tokio::spawn(async move {
            contended_insert(&mut conn, &counted).await.unwrap();
            sqlite_rows(&mut conn).await
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
        assert_eq!(writer.await.unwrap(), [8]);
        assert!(
            attempts.load(Ordering::SeqCst) >= 2,
            "the locked attempt was retried"
        );
    });
}

// ------------------------------------------- SQLite writers begin IMMEDIATE by default

/// Reads a balance, then writes both rows (what lost 1-2 of 8 transfers per run when writers
/// began DEFERRED).
#[keel::transaction(retry = 3)]
async fn sqlite_transfer(
    conn: &mut SqliteConnection,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), AppError> {
    let balance: i64 = sqlx::query_scalar("SELECT balance FROM accounts WHERE id = ?1")
        .bind(from)
        .fetch_one(&mut *conn)
        .await?;
    if balance < amount {
        return Err(AppError::Rejected("insufficient funds"));
    }
    for (id, delta) in [(from, -amount), (to, amount)] {
        sqlx::query("UPDATE accounts SET balance = balance + ?2 WHERE id = ?1")
            .bind(id)
            .bind(delta)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The same, on the pool's connection type.
#[keel::transaction(retry = 3)]
async fn pooled_transfer(
    conn: &mut PoolConnection<Sqlite>,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), AppError> {
    sqlite_transfer(conn, from, to, amount).await
}

/// The issue's report: eight concurrent async transfers on one SQLite file with `retry = 3` and
/// the default behavior (sqlx's default 5 s busy timeout) all commit, in each of 20 rounds.
/// Even tasks use the pool's connection, odd ones the `SqliteConnection` inside it.
#[test]
fn eight_concurrent_async_transfers_on_one_file_all_commit_20_times() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("bank.sqlite"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap();
        for round in 0..20 {
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
                 DELETE FROM accounts;
                 INSERT INTO accounts VALUES (1, 1000), (2, 1000);",
            )
            .execute(&pool)
            .await
            .unwrap();
            let tasks: Vec<_> = (0..8i64)
                .map(|i| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let mut conn = pool.acquire().await.unwrap();
                        let (from, to) = if i % 2 == 0 { (1, 2) } else { (2, 1) };
                        if i % 2 == 0 {
                            pooled_transfer(&mut conn, from, to, 10 + i).await
                        } else {
                            sqlite_transfer(&mut conn, from, to, 10 + i).await
                        }
                    })
                })
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                let result = task.await.unwrap();
                assert!(result.is_ok(), "round {round}, transfer {i}: {result:?}");
            }
            let balances: Vec<i64> =
                sqlx::query_scalar("SELECT balance FROM accounts ORDER BY id")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            // Evens move 10+12+14+16 = 52 from 1 to 2, odds 11+13+15+17 = 56 from 2 to 1.
            assert_eq!(balances, [1004, 996], "round {round}");
        }
    });
}

/// True when another connection can take the write lock right now (no busy wait).
async fn write_lock_is_free(options: &SqliteConnectOptions) -> bool {
    let mut other = options
        .clone()
        .busy_timeout(Duration::ZERO)
        .connect()
        .await
        .unwrap();
    match sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK")
        .execute(&mut other)
        .await
    {
        Ok(_) => true,
        Err(e) if e.is_transient() => false,
        Err(e) => panic!("{e}"),
    }
}

#[keel::transaction]
async fn lock_held_by_default(
    _conn: &mut SqliteConnection,
    options: &SqliteConnectOptions,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(options).await)
}

#[keel::transaction(behavior = "deferred")]
async fn lock_held_when_deferred(
    _conn: &mut SqliteConnection,
    options: &SqliteConnectOptions,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(options).await)
}

#[keel::transaction(read_only)]
async fn lock_held_when_read_only(
    _conn: &mut PoolConnection<Sqlite>,
    options: &SqliteConnectOptions,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(options).await)
}

#[keel::transaction]
async fn pooled_lock_held_by_default(
    _conn: &mut PoolConnection<Sqlite>,
    options: &SqliteConnectOptions,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(options).await)
}

/// Deterministic: inside a default transaction another connection cannot take the write lock
/// (the transaction began IMMEDIATE); inside a deferred or read-only one it can.
#[test]
fn sqlite_writers_begin_immediate_deferred_and_read_only_do_not() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        assert!(lock_held_by_default(&mut conn, &options).await.unwrap());
        assert!(!lock_held_when_deferred(&mut conn, &options).await.unwrap());
        let ran = tx::run_async(&mut conn, &Options::new(), async |_| {
            Ok::<_, AppError>(!write_lock_is_free(&options).await)
        })
        .await;
        assert!(ran.unwrap(), "run_async's default is the same");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .unwrap();
        let mut pooled = pool.acquire().await.unwrap();
        assert!(
            pooled_lock_held_by_default(&mut pooled, &options)
                .await
                .unwrap()
        );
        assert!(
            !lock_held_when_read_only(&mut pooled, &options)
                .await
                .unwrap()
        );
    });
}

#[test]
fn sqlite_audit_events_and_trace_span() {
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = events.clone();
    keel::audit::add_hook(move |event| {
        let name = format!("{:?}", event.arg("name").unwrap_or(&""));
        if event.name().starts_with("tx.") && name == "\"async_audited\"" {
            seen.lock().unwrap().push(event.to_string());
        }
        Ok(())
    })
    .unwrap();
    #[keel::transaction(name = "async_audited")]
    async fn audited(conn: &mut SqliteConnection, fail: bool) -> Result<(), AppError> {
        sqlx::query("INSERT INTO t (x) VALUES (1)")
            .execute(&mut *conn)
            .await?;
        if fail {
            return Err(AppError::Rejected("no"));
        }
        Ok(())
    }
    keel::trace::enable();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ((), trace) = keel::trace::capture(|| {
        runtime.block_on(async {
            let (_dir, options) = sqlite_file().await;
            let mut conn = options.connect().await.unwrap();
            audited(&mut conn, false).await.unwrap();
            audited(&mut conn, true).await.unwrap_err();
        })
    });
    assert_eq!(
        *events.lock().unwrap(),
        [
            r#"tx.begin(name="async_audited", database="SQLite", depth=0)"#,
            r#"tx.commit(name="async_audited", database="SQLite", depth=0)"#,
            r#"tx.begin(name="async_audited", database="SQLite", depth=0)"#,
            r#"tx.rollback(name="async_audited", database="SQLite", depth=0)"#,
        ]
    );
    let mine: Vec<_> = trace
        .iter()
        .filter(|e| e.name() == "keel::tx::async_audited")
        .collect();
    assert_eq!(mine.len(), 4, "two entries, two exits: {trace:?}");
    assert_eq!(mine[0].field("database"), Some("\"SQLite\""));
    // The span's source is this file (the user's function), not keel's engine.
    assert_eq!(mine[0].call_site().file(), file!());
    assert_eq!(mine[1].outcome(), Some(&Outcome::Ok));
    assert_eq!(mine[1].field("return"), Some("committed"));
    assert_eq!(mine[3].outcome(), Some(&Outcome::Err("rolled back".into())));
}

#[test]
fn run_async_with_a_closure_and_send_futures() {
    rt().block_on(async {
        let (_dir, options) = sqlite_file().await;
        let mut conn = options.connect().await.unwrap();
        let n = tx::run_async(
            &mut conn,
            &Options::new().name("batch"),
            async |c| -> Result<u64, AppError> {
                let a = sqlx::query("INSERT INTO t (x) VALUES (1), (2)")
                    .execute(&mut *c)
                    .await?;
                Ok(a.rows_affected())
            },
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        let mut attempts = 0;
        tx::run_async_retrying(
            &mut conn,
            &Options::new(),
            2,
            async |c| -> Result<(), AppError> {
                attempts += 1;
                sqlx::query("INSERT INTO t (x) VALUES (3)")
                    .execute(&mut *c)
                    .await?;
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(attempts, 1);
        // The attribute's future and run_async's (with a body that borrows nothing from its
        // caller) can be spawned.
        let spawned = tokio::spawn(async move {
            assert_send(insert(&mut conn, 4, false)).await.unwrap();
            assert_send(tx::run_async(
                &mut conn,
                &Options::new(),
                async |c| -> Result<(), AppError> {
                    sqlx::query("INSERT INTO t (x) VALUES (5)")
                        .execute(&mut *c)
                        .await?;
                    Ok(())
                },
            ))
            .await
            .unwrap();
            sqlite_rows(&mut conn).await
        });
        assert_eq!(spawned.await.unwrap(), [1, 2, 3, 4, 5]);
    });
}

// ---------------------------------------------------------------- PostgreSQL

fn pg_url(test: &str) -> Option<String> {
    match std::env::var("KEEL_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!(
                "KEEL_PG_URL is not set: skipping PostgreSQL test `{test}` (.ci/run starts a server)"
            );
            None
        }
    }
}

async fn pg_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn sqlx_pg(url: &str) -> PgConnection {
    PgConnectOptions::from_str(&libpq_to_uri(url))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// `host=/tmp/dir port=5432 user=postgres dbname=postgres` → a `postgres://` URI sqlx reads.
fn libpq_to_uri(url: &str) -> String {
    let mut host = String::new();
    let (mut port, mut user, mut dbname) = ("5432", "postgres", "postgres");
    for pair in url.split_whitespace() {
        match pair.split_once('=') {
            Some(("host", v)) => host = v.to_owned(),
            Some(("port", v)) => port = v,
            Some(("user", v)) => user = v,
            Some(("dbname", v)) => dbname = v,
            _ => {}
        }
    }
    if host.starts_with('/') {
        format!("postgres://{user}@localhost:{port}/{dbname}?host={host}")
    } else {
        format!("postgres://{user}@{host}:{port}/{dbname}")
    }
}

async fn pg_table(client: &Client, table: &str) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x BIGINT)"
        ))
        .await
        .unwrap();
}

async fn pg_rows(client: &Client, table: &str) -> Vec<i64> {
    client
        .query(&format!("SELECT x FROM {table} ORDER BY x"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[keel::transaction]
async fn pg_insert(db: &mut Client, table: &str, x: i64) -> Result<(), AppError> {
    db.execute(&format!("INSERT INTO {table} VALUES ($1)"), &[&x])
        .await?;
    Ok(())
}

#[keel::transaction]
async fn pg_insert_then_hang(
    db: &mut Client,
    table: &str,
    ran: &AtomicBool,
) -> Result<(), AppError> {
    db.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
        .await?;
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[keel::transaction(name = "pg_outer")]
async fn pg_outer(db: &mut Client, table: &str) -> Result<(), AppError> {
    pg_insert(db, table, 1).await?;
    // An inner transaction dropped halfway: its savepoint is rolled back, the outer goes on.
    let ran = AtomicBool::new(false);
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        pg_insert_then_hang(db, table, &ran),
    )
    .await;
    assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
    pg_insert(db, table, 3).await?;
    Ok(())
}

#[test]
fn tokio_postgres_commit_rollback_nesting_and_cancellation() {
    let Some(url) = pg_url("tokio_postgres_commit_rollback_nesting_and_cancellation") else {
        return;
    };
    rt().block_on(async {
        let table = "keel_async_tp";
        let mut client = pg_client(&url).await;
        let observer = pg_client(&url).await;
        pg_table(&observer, table).await;

        let ran = AtomicBool::new(false);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            pg_insert_then_hang(&mut client, table, &ran),
        )
        .await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        // The next transaction on that client sees none of the dropped work and commits.
        pg_insert(&mut client, table, 2).await.unwrap();
        assert_eq!(pg_rows(&observer, table).await, [2]);

        pg_outer(&mut client, table).await.unwrap();
        assert_eq!(pg_rows(&observer, table).await, [1, 2, 3]);

        // read_only and isolation reach the server.
        let err = tx::run_async(
            &mut client,
            &Options::new().read_only(true),
            async |c| -> Result<(), AppError> {
                c.execute(&format!("INSERT INTO {table} VALUES (9)"), &[])
                    .await?;
                Ok(())
            },
        )
        .await
        .unwrap_err();
        let AppError::Pg(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(err.code().map(|c| c.code()), Some("25006"));
        let level: String = tx::run_async(
            &mut client,
            &Options::new().isolation(tx::Isolation::RepeatableRead),
            async |c| -> Result<String, AppError> {
                Ok(c.query_one("SHOW transaction_isolation", &[]).await?.get(0))
            },
        )
        .await
        .unwrap();
        assert_eq!(level, "repeatable read");
    });
}

#[keel::transaction]
async fn sqlx_pg_insert_then_hang(
    conn: &mut PgConnection,
    table: &str,
    ran: &AtomicBool,
) -> Result<(), AppError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES (1)"
    )))
    .execute(&mut *conn)
    .await?;
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[keel::transaction(isolation = "serializable", retry = 3)]
async fn sqlx_pg_insert(conn: &mut PgConnection, table: &str, x: i64) -> Result<(), AppError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES ($1)"
    )))
    .bind(x)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[keel::transaction]
async fn pooled_pg_insert_then_hang(
    conn: &mut PoolConnection<Postgres>,
    table: &str,
    ran: &AtomicBool,
) -> Result<(), AppError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES (1)"
    )))
    .execute(&mut **conn)
    .await?;
    ran.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
    Ok(())
}

#[keel::transaction]
async fn pooled_pg_insert(
    conn: &mut PoolConnection<Postgres>,
    table: &str,
    x: i64,
) -> Result<(), AppError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} VALUES ($1)"
    )))
    .bind(x)
    .execute(&mut **conn)
    .await?;
    Ok(())
}

#[test]
fn sqlx_postgres_cancellation_on_a_connection_and_a_pooled_one() {
    let Some(url) = pg_url("sqlx_postgres_cancellation_on_a_connection_and_a_pooled_one") else {
        return;
    };
    rt().block_on(async {
        let table = "keel_async_sqlx";
        let observer = pg_client(&url).await;
        pg_table(&observer, table).await;

        let mut conn = sqlx_pg(&url).await;
        let ran = AtomicBool::new(false);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            sqlx_pg_insert_then_hang(&mut conn, table, &ran),
        )
        .await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        sqlx_pg_insert(&mut conn, table, 2).await.unwrap();
        assert_eq!(pg_rows(&observer, table).await, [2]);

        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(PgConnectOptions::from_str(&libpq_to_uri(&url)).unwrap())
            .await
            .unwrap();
        let mut pooled = pool.acquire().await.unwrap();
        let ran = AtomicBool::new(false);
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            pooled_pg_insert_then_hang(&mut pooled, table, &ran),
        )
        .await;
        assert!(dropped.is_err() && ran.load(Ordering::SeqCst));
        drop(pooled); // back to the pool, its only connection
        let mut again = pool.acquire().await.unwrap();
        pooled_pg_insert(&mut again, table, 3).await.unwrap();
        drop(again);
        assert_eq!(pg_rows(&observer, table).await, [2, 3]);
    });
}

#[keel::transaction(name = "transfer", retry = 200, isolation = "serializable")]
async fn transfer(
    db: &mut Client,
    from: i64,
    to: i64,
    cents: i64,
    attempts: &AtomicU64,
) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::Relaxed);
    db.execute(
        "UPDATE keel_async_accounts SET cents = cents - $1 WHERE id = $2",
        &[&cents, &from],
    )
    .await?;
    db.execute(
        "UPDATE keel_async_accounts SET cents = cents + $1 WHERE id = $2",
        &[&cents, &to],
    )
    .await?;
    Ok(())
}

#[test]
fn contention_16_tasks_x_250_serializable_transfers_keep_the_total() {
    let Some(url) = pg_url("contention_16_tasks_x_250_serializable_transfers_keep_the_total")
    else {
        return;
    };
    const TASKS: u64 = 16;
    const TRANSFERS: u64 = 250;
    const ACCOUNTS: i64 = 8;
    rt().block_on(async {
        let setup = pg_client(&url).await;
        setup
            .batch_execute(
                "DROP TABLE IF EXISTS keel_async_accounts;
                 CREATE TABLE keel_async_accounts (id BIGINT PRIMARY KEY, cents BIGINT NOT NULL);
                 INSERT INTO keel_async_accounts SELECT g, 10000 FROM generate_series(1, 8) g;",
            )
            .await
            .unwrap();
        let attempts = Arc::new(AtomicU64::new(0));
        let committed = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (url, attempts, committed) = (url.clone(), attempts.clone(), committed.clone());
                tokio::spawn(async move {
                    let mut db = pg_client(&url).await;
                    let mut seed = task * 7919 + 17;
                    for _ in 0..TRANSFERS {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let from = (seed >> 33) as i64 % ACCOUNTS + 1;
                        let to = (from + (seed >> 50) as i64 % (ACCOUNTS - 1)) % ACCOUNTS + 1;
                        let cents = (seed >> 40) as i64 % 50 + 1;
                        transfer(&mut db, from, to, cents, &attempts).await.unwrap();
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let total: i64 = setup
            .query_one("SELECT sum(cents)::BIGINT FROM keel_async_accounts", &[])
            .await
            .unwrap()
            .get(0);
        let committed = committed.load(Ordering::Relaxed);
        let retries = attempts.load(Ordering::Relaxed) - committed;
        println!(
            "contention: {committed} transfers committed by {TASKS} tasks, {retries} retries (40001/40P01), total {total}"
        );
        assert_eq!(total, 10000 * ACCOUNTS);
        assert_eq!(committed, TASKS * TRANSFERS);
        assert!(retries > 0, "16 writers on 8 rows never conflicted: retry untested");
    });
}
