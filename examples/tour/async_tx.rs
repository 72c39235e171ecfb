//! `#[keel::transaction]` on an `async fn` (sqlx, a SQLite file): transfers retried when they
//! collide, measured against a hand-written sqlx transaction, and a cancelled transfer that
//! rolls back. (PostgreSQL, through tokio-postgres or sqlx, takes the same function shape; the
//! tour skips it: it needs a server.)

use crate::measure::{Table, dur, median};
use keel::tx::{Transient, TxError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
enum AppError {
    Db(sqlx::Error),
    Tx(TxError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Db(e) => write!(f, "{e}"),
            Self::Tx(e) => write!(f, "{e}"),
        }
    }
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

/// Which errors are worth running the transaction again for (SQLITE_BUSY is).
impl Transient for AppError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => e.is_transient(),
            Self::Tx(e) => e.is_transient(),
        }
    }
}

async fn move_cents(db: &mut SqliteConnection, from: i64, to: i64, cents: i64) -> sqlx::Result<()> {
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

// A deferred BEGIN (the default) never waits; the first UPDATE takes the write lock or fails
// with SQLITE_BUSY, and keel runs the whole body again: `attempts` counts every run.
#[keel::transaction(name = "transfer", retry = 50)]
async fn transfer(
    db: &mut SqliteConnection,
    from: i64,
    to: i64,
    attempts: &AtomicU64,
) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::Relaxed);
    Ok(move_cents(db, from, to, 7).await?)
}

/// The peer: sqlx's own transaction (`BEGIN` / `COMMIT`), no retry.
async fn by_hand(db: &mut SqliteConnection, from: i64, to: i64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    move_cents(&mut tx, from, to, 7).await?;
    tx.commit().await
}

/// A transfer that never finishes: its future is dropped by a timeout halfway.
#[keel::transaction(name = "slow_transfer")]
async fn slow_transfer(db: &mut SqliteConnection) -> Result<(), AppError> {
    sqlx::query("UPDATE accounts SET cents = 0 WHERE id = 1")
        .execute(&mut *db)
        .await?;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

async fn total(db: &mut SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT sum(cents) FROM accounts")
        .fetch_one(db)
        .await
        .expect("sum")
}

async fn cents(db: &mut SqliteConnection, id: i64) -> i64 {
    sqlx::query_scalar("SELECT cents FROM accounts WHERE id = ?1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("balance")
}

async fn tour() -> Result<(), AppError> {
    let dir = tempfile::tempdir().expect("temp dir");
    // No busy timeout: a collision comes back at once as SQLITE_BUSY and keel retries it after an
    // async backoff (SQLite's own 5 s default would wait inside the driver instead).
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("bank.sqlite"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::ZERO);
    let mut db = options.connect().await?;
    sqlx::raw_sql(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, cents INTEGER NOT NULL);
         INSERT INTO accounts VALUES (1, 10000), (2, 10000), (3, 10000), (4, 10000);",
    )
    .execute(&mut db)
    .await?;

    // Contention: 4 tasks, each on its own connection, 50 transfers each around the ring.
    let attempts = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..4i64)
        .map(|task| {
            let (options, attempts) = (options.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut db = options.connect().await?;
                for i in 0..50i64 {
                    let from = (task + i) % 4 + 1;
                    transfer(&mut db, from, from % 4 + 1, &attempts).await?;
                }
                Ok::<_, AppError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("transfer task")?;
    }
    let elapsed = start.elapsed();
    let attempts = attempts.load(Ordering::Relaxed);
    let sum = total(&mut db).await;
    println!("python: with managed_transaction(conn): ... (asyncio, aiosqlite), retried by hand");
    let mut table = Table::new(&[
        "4 tasks x 50 transfers, 4 connections",
        "transfers",
        "body runs",
        "retried (SQLITE_BUSY)",
        "wall time",
        "sum of balances",
    ]);
    table.row(&[
        &"#[keel::transaction(retry = 50)] async fn",
        &200,
        &attempts,
        &(attempts - 200),
        &dur(elapsed),
        &format!("{sum} (was 40000)"),
    ]);
    table.print();
    assert_eq!(sum, 40000);

    // One connection, no contention: what the macro adds to a transfer, rounds alternated.
    let unused = AtomicU64::new(0);
    let (mut hand, mut keel) = (Vec::new(), Vec::new());
    for i in 0..8 {
        // Round 0 warms both up (statement cache, pages) and is not kept.
        let keep = i > 0;
        let start = Instant::now();
        for i in 0..40 {
            by_hand(&mut db, i % 4 + 1, (i + 1) % 4 + 1).await?;
        }
        if keep {
            hand.push(start.elapsed() / 40);
        }
        let start = Instant::now();
        for i in 0..40 {
            transfer(&mut db, i % 4 + 1, (i + 1) % 4 + 1, &unused).await?;
        }
        if keep {
            keel.push(start.elapsed() / 40);
        }
    }
    let (hand, keel) = (median(&mut hand), median(&mut keel));
    let mut table = Table::new(&["one transfer, no contention (median of 7)", "time"]);
    table
        .row(&[&"sqlx db.begin() + tx.commit(), by hand", &dur(hand)])
        .row(&[
            &"#[keel::transaction] async fn",
            &format!(
                "{} ({:+.1}%)",
                dur(keel),
                (keel.as_secs_f64() / hand.as_secs_f64() - 1.0) * 100.0
            ),
        ]);
    table.print();

    // Cancellation: the future is dropped after its UPDATE ran; nothing commits, and the
    // connection is ready for the next transaction.
    let before = cents(&mut db, 1).await;
    let timed_out = tokio::time::timeout(Duration::from_millis(50), slow_transfer(&mut db))
        .await
        .is_err();
    let after = cents(&mut db, 1).await;
    transfer(&mut db, 2, 1, &unused).await?;
    let next = cents(&mut db, 1).await;
    println!(
        "slow_transfer (sets account 1 to 0, then sleeps) cancelled by a 50 ms timeout: {timed_out}; \
         account 1: {before} before, {after} after (rolled back); the next transfer on the same \
         connection commits: {next}"
    );
    assert_eq!(before, after);
    assert_eq!(next, after + 7);
    db.close().await?;
    Ok(())
}

pub fn run() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(tour()) {
        panic!("async transactions: {e}");
    }
}
