//! `@contextmanager managed_transaction` → `#[keel::transaction]`: commit on `Ok`, rollback on
//! `Err` or panic, on a SQLite file; measured against hand-written `BEGIN`/`COMMIT`.

use crate::measure::{Table, per_call};
use keel::tx::TxError;
use rusqlite::Connection;

#[derive(Debug)]
enum AppError {
    Db(rusqlite::Error),
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

fn statements(conn: &Connection, event: Option<&str>) -> rusqlite::Result<usize> {
    let n = conn
        .prepare_cached("UPDATE users SET tier = 'premium' WHERE spend > 10000")?
        .execute([])?;
    conn.prepare_cached("INSERT INTO audit_log (event) VALUES (?1)")?
        .execute([event])?;
    Ok(n)
}

#[keel::transaction(name = "user_migration")]
fn user_migration(conn: &mut Connection, event: Option<&str>) -> Result<usize, AppError> {
    Ok(statements(conn, event)?)
}

fn by_hand(conn: &mut Connection) -> rusqlite::Result<usize> {
    conn.execute_batch("BEGIN")?;
    match statements(conn, Some("tier_upgrade_batch")) {
        Ok(n) => conn.execute_batch("COMMIT").map(|()| n),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn premium(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM users WHERE tier = 'premium'",
        [],
        |r| r.get(0),
    )
    .expect("count")
}

fn open(dir: &tempfile::TempDir, file: &str) -> Connection {
    let conn = Connection::open(dir.path().join(file)).expect("open database file");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE users (name TEXT, tier TEXT NOT NULL, spend INTEGER NOT NULL);
         CREATE TABLE audit_log (event TEXT NOT NULL);
         INSERT INTO users VALUES ('ada', 'basic', 25000), ('bob', 'basic', 40);",
    )
    .expect("create tables");
    conn
}

pub fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = open(&dir, "tour.db");

    let failed = user_migration(&mut conn, None); // NULL event: NOT NULL constraint fails
    match failed {
        Ok(n) => println!("failing run committed {n} rows (unexpected)"),
        Err(e) => println!(
            "failing run -> rolled back ({e}); premium users after rollback: {}",
            premium(&conn)
        ),
    }
    let n = user_migration(&mut conn, Some("tier_upgrade_batch")).expect("commit");
    println!(
        "committed: {n} upgraded; premium users now: {}",
        premium(&conn)
    );

    // Alternating rounds on two database files, so machine load weighs on both alike.
    let mut hand_db = open(&dir, "hand.db");
    let (mut hand, mut keel) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        hand.push(per_call(150, || by_hand(&mut hand_db).expect("by hand")));
        keel.push(per_call(150, || {
            user_migration(&mut conn, Some("tier_upgrade_batch")).expect("macro")
        }));
    }
    hand.sort_by(|a, b| a.partial_cmp(b).expect("a time"));
    keel.sort_by(|a, b| a.partial_cmp(b).expect("a time"));
    let (hand, keel) = (hand[3], keel[3]);
    let mut table = Table::new(&[
        "SQLite file (WAL), UPDATE + INSERT (median of 7 rounds)",
        "per transaction",
    ]);
    table
        .row(&[
            &"hand-written BEGIN / COMMIT / ROLLBACK",
            &format!("{:.2} µs", hand.as_secs_f64() * 1e6),
        ])
        .row(&[
            &"#[keel::transaction] fn",
            &format!(
                "{:.2} µs ({:+.1}%)",
                keel.as_secs_f64() * 1e6,
                (keel.as_secs_f64() / hand.as_secs_f64() - 1.0) * 100.0
            ),
        ]);
    table.print();
}
