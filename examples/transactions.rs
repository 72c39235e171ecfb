//! Python's `managed_transaction` context manager, as `#[keel::transaction]`: the users /
//! audit_log migration on a SQLite database file, committed once, then a failing run that is
//! rolled back, each timed; then `ExitStack` closing a batch of files.
//!
//! ```text
//! cargo run --release --example transactions
//! ```

#![deny(warnings, clippy::all)]

use keel::tx::{ExitStack, TxError};
use rusqlite::Connection;
use std::io::Write;
use std::time::Instant;

#[derive(Debug)]
enum AppError {
    Db(rusqlite::Error),
    Tx(TxError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Db(e) => write!(f, "database: {e}"),
            Self::Tx(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<TxError> for AppError {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

/// The migration of the Python original: both statements commit together or not at all.
#[keel::transaction(name = "user_migration")]
fn user_migration(conn: &mut Connection, event: Option<&str>) -> Result<usize, AppError> {
    let upgraded = conn.execute("UPDATE users SET tier = 'premium' WHERE spend > 10000", [])?;
    // `event` NULL violates audit_log's NOT NULL: the failing run, after the UPDATE went through.
    conn.execute("INSERT INTO audit_log (event) VALUES (?1)", [event])?;
    Ok(upgraded)
}

fn premium_users(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM users WHERE tier = 'premium'",
        [],
        |r| r.get(0),
    )
    .expect("count premium users")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Python logs "Transaction started / Committed / Rolled back"; keel raises audit events that
    // a hook can log (or veto).
    keel::audit::add_hook(|event| {
        if event.name().starts_with("tx.") {
            println!("  audit: {event}");
        }
        Ok(())
    })?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.db");
    let mut conn = Connection::open(&path)?;
    conn.execute_batch(
        "CREATE TABLE users (name TEXT PRIMARY KEY, tier TEXT NOT NULL, spend INTEGER NOT NULL);
         CREATE TABLE audit_log (id INTEGER PRIMARY KEY, event TEXT NOT NULL);
         INSERT INTO users VALUES ('ada', 'basic', 25000), ('bob', 'basic', 40), ('cy', 'basic', 12000);",
    )?;
    println!("database: {}", path.display());

    println!("\n1. a failing run (audit_log.event is NULL): everything rolls back");
    let start = Instant::now();
    let failed = user_migration(&mut conn, None);
    let elapsed = start.elapsed();
    match &failed {
        Ok(n) => println!("  unexpected commit of {n} rows"),
        Err(e) => println!("  [user_migration] rolled back after {elapsed:.1?} due to: {e}"),
    }
    assert!(failed.is_err());
    println!(
        "  premium users now: {} (the UPDATE was undone)",
        premium_users(&conn)
    );
    assert_eq!(premium_users(&conn), 0);

    println!("\n2. the same migration, succeeding: committed");
    let start = Instant::now();
    let upgraded = user_migration(&mut conn, Some("tier_upgrade_batch"))?;
    println!(
        "  [user_migration] committed in {:.1?}: {upgraded} users upgraded",
        start.elapsed()
    );
    let other = Connection::open(&path)?; // a second connection sees the committed state
    println!(
        "  premium users seen from another connection: {}",
        premium_users(&other)
    );
    assert_eq!(premium_users(&other), 2);

    println!("\n3. ExitStack: open a batch of files, all closed (flushed) in reverse order");
    let mut stack = ExitStack::<std::io::Error>::new();
    let mut files = Vec::new();
    for name in ["a.log", "b.log", "c.log"] {
        let file = std::fs::File::create(dir.path().join(name))?;
        let handle = file.try_clone()?;
        stack.callback(move || {
            println!("  closing {name}");
            handle.sync_all()
        });
        files.push(file);
    }
    for (file, line) in files.iter_mut().zip(["one", "two", "three"]) {
        writeln!(file, "{line}")?;
    }
    stack
        .close()
        .map_err(|errors| format!("{} files failed to close", errors.len()))?;
    Ok(())
}
