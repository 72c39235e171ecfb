//! `#[keel::transaction]` on an `async fn`: money transfers between accounts, retried on lock
//! conflicts, run concurrently on tokio, then one transfer cancelled by a timeout. On a SQLite file
//! through sqlx (no server needed); the same function shape works for `&mut tokio_postgres::Client`
//! and `&mut sqlx::PgConnection`.
//!
//! Run: `cargo run --release --example async_transfer --features tokio-postgres,sqlx`

use keel::tx::{Transient, TxError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
enum AppError {
    Db(sqlx::Error),
    Tx(TxError),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl From<TxError> for AppError {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

/// What `retry` needs: which errors are worth running the transaction again for.
impl Transient for AppError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => e.is_transient(),
            Self::Tx(e) => e.is_transient(),
        }
    }
}

#[keel::transaction(name = "transfer", retry = 50, behavior = "immediate")]
async fn transfer(
    db: &mut SqliteConnection,
    from: i64,
    to: i64,
    cents: i64,
    attempts: &AtomicU64,
) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::Relaxed);
    sqlx::query("UPDATE accounts SET cents = cents - ?1 WHERE id = ?2")
        .bind(cents)
        .bind(from)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE accounts SET cents = cents + ?1 WHERE id = ?2")
        .bind(cents)
        .bind(to)
        .execute(&mut *db)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // No busy timeout: a conflict comes back at once as SQLITE_BUSY and keel retries it after an
    // async backoff (with the default 5 s timeout SQLite itself would wait first).
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("bank.sqlite"))
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO);
    let mut setup = options.connect().await?;
    sqlx::raw_sql(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, cents INTEGER NOT NULL);
         INSERT INTO accounts VALUES (1, 10000), (2, 10000), (3, 10000), (4, 10000);",
    )
    .execute(&mut setup)
    .await?;

    let attempts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..4i64)
        .map(|task| {
            let (options, attempts) = (options.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut db = options.connect().await.unwrap();
                for i in 0..100i64 {
                    let from = (task + i) % 4 + 1;
                    let to = (task + i + 1) % 4 + 1;
                    transfer(&mut db, from, to, 7, &attempts).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT sum(cents) FROM accounts")
        .fetch_one(&mut setup)
        .await?;
    let attempts = attempts.load(Ordering::Relaxed);
    println!(
        "400 transfers by 4 tasks in {:?}: total {total} (unchanged: {}), {} retries",
        start.elapsed(),
        total == 40000,
        attempts - 400
    );

    // A transfer whose future is dropped halfway (a timeout) never commits, and leaves the
    // connection ready for the next transaction.
    #[keel::transaction(name = "slow_transfer")]
    async fn slow_transfer(db: &mut SqliteConnection) -> Result<(), AppError> {
        sqlx::query("UPDATE accounts SET cents = 0 WHERE id = 1")
            .execute(&mut *db)
            .await?;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    let timed_out = tokio::time::timeout(Duration::from_millis(50), slow_transfer(&mut setup))
        .await
        .is_err();
    let first: i64 = sqlx::query_scalar("SELECT cents FROM accounts WHERE id = 1")
        .fetch_one(&mut setup)
        .await?;
    println!(
        "cancelled by timeout: {timed_out}; account 1 still holds {first} (the dropped UPDATE rolled back)"
    );
    setup.close().await?;
    Ok(())
}
