//! `#[keel::transaction]` against hand-written `BEGIN`/`COMMIT` around the same two statements
//! (the Python original's users/audit_log migration), on a file-backed SQLite database in WAL
//! mode, each on its own fresh database file. Target: the macro adds at most 2%.

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::Connection;
use std::hint::black_box;

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
         PRAGMA synchronous = NORMAL;
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

fn transaction(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("transaction_sqlite_file");
    let mut conn = database(&dir, "by_hand.db");
    group.bench_function("hand_written_begin_commit", |b| {
        b.iter(|| by_hand(&mut conn, black_box(42)).unwrap())
    });
    let mut conn = database(&dir, "macro.db");
    group.bench_function("keel_transaction_macro", |b| {
        b.iter(|| with_macro(&mut conn, black_box(42)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, transaction);
criterion_main!(benches);
