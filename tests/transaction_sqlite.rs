//! `#[keel::transaction]` and `keel::tx::run` on real SQLite database files in a temp dir.

#![deny(warnings, clippy::all)]

use keel::tx::{self, Options, Transient, TxError};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug)]
enum AppError {
    Db(rusqlite::Error),
    Tx(TxError),
    Rejected(&'static str),
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

impl Transient for AppError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Db(e) => e.is_transient(),
            Self::Tx(e) => e.is_transient(),
            Self::Rejected(_) => false,
        }
    }
}

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap(); // contention shows up as SQLITE_BUSY at once
    conn
}

/// A fresh database file with the Python original's tables.
fn database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("app.db"));
    conn.execute_batch(
        "CREATE TABLE users (name TEXT PRIMARY KEY, tier TEXT NOT NULL, spend INTEGER NOT NULL);
         CREATE TABLE audit_log (event TEXT NOT NULL);
         INSERT INTO users VALUES ('ada', 'basic', 20000), ('bob', 'basic', 50);",
    )
    .unwrap();
    (dir, conn)
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn tier(conn: &Connection, name: &str) -> String {
    conn.query_row("SELECT tier FROM users WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .unwrap()
}

#[keel::transaction]
fn upgrade_tiers(conn: &mut Connection, fail_after_update: bool) -> Result<usize, AppError> {
    let n = conn.execute("UPDATE users SET tier = 'premium' WHERE spend > 10000", [])?;
    if fail_after_update {
        return Err(AppError::Rejected("stopped after the update"));
    }
    conn.execute(
        "INSERT INTO audit_log (event) VALUES ('tier_upgrade_batch')",
        [],
    )?;
    Ok(n)
}

#[test]
fn ok_commits_and_is_visible_to_another_connection() {
    let (dir, mut conn) = database();
    assert_eq!(upgrade_tiers(&mut conn, false).unwrap(), 1);
    assert!(conn.is_autocommit());
    let other = open(&dir.path().join("app.db"));
    assert_eq!(tier(&other, "ada"), "premium");
    assert_eq!(count(&other, "audit_log"), 1);
}

#[test]
fn early_return_with_err_rolls_back_and_returns_that_error() {
    let (_dir, mut conn) = database();
    let err = upgrade_tiers(&mut conn, true).unwrap_err();
    assert!(matches!(
        err,
        AppError::Rejected("stopped after the update")
    ));
    assert_eq!(tier(&conn, "ada"), "basic");
    assert_eq!(count(&conn, "audit_log"), 0);
    assert!(conn.is_autocommit());
}

#[keel::transaction]
fn insert_then_fail_with_question_mark(conn: &mut Connection) -> Result<(), AppError> {
    conn.execute("INSERT INTO audit_log VALUES ('first')", [])?;
    conn.execute("INSERT INTO no_such_table VALUES ('second')", [])?;
    unreachable!("the statement above fails")
}

#[test]
fn question_mark_rolls_back_with_the_database_error() {
    let (_dir, mut conn) = database();
    let err = insert_then_fail_with_question_mark(&mut conn).unwrap_err();
    let AppError::Db(db) = err else {
        panic!("expected the database error, got {err:?}")
    };
    assert!(db.to_string().contains("no such table"), "{db}");
    assert_eq!(count(&conn, "audit_log"), 0);
}

#[keel::transaction]
fn insert_then_panic(conn: &mut Connection) -> Result<(), AppError> {
    conn.execute("INSERT INTO audit_log VALUES ('before panic')", [])?;
    panic!("boom in the body");
}

#[test]
fn panic_rolls_back_then_continues() {
    let (_dir, mut conn) = database();
    let panic = catch_unwind(AssertUnwindSafe(|| insert_then_panic(&mut conn))).unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom in the body"));
    assert!(conn.is_autocommit());
    assert_eq!(count(&conn, "audit_log"), 0);
    // The connection still works, with a new transaction.
    assert_eq!(upgrade_tiers(&mut conn, false).unwrap(), 1);
}

#[keel::transaction(name = "log_event")]
fn log_event(conn: &mut Connection, event: &str) -> Result<(), AppError> {
    conn.execute("INSERT INTO audit_log VALUES (?1)", [event])?;
    if event.starts_with("bad") {
        return Err(AppError::Rejected("bad event"));
    }
    Ok(())
}

#[keel::transaction(nested = "join")]
fn log_event_joined(conn: &mut Connection, event: &str) -> Result<(), AppError> {
    conn.execute("INSERT INTO audit_log VALUES (?1)", [event])?;
    if event.starts_with("bad") {
        return Err(AppError::Rejected("bad event"));
    }
    Ok(())
}

#[keel::transaction(nested = "fail")]
fn must_be_outermost(conn: &mut Connection, ran: &AtomicUsize) -> Result<(), AppError> {
    ran.fetch_add(1, Ordering::SeqCst);
    conn.execute("INSERT INTO audit_log VALUES ('outermost')", [])?;
    Ok(())
}

#[keel::transaction]
fn outer_keeps_going(conn: &mut Connection, joined: bool) -> Result<Vec<bool>, AppError> {
    conn.execute("UPDATE users SET tier = 'gold' WHERE name = 'bob'", [])?;
    let log = if joined { log_event_joined } else { log_event };
    // The outer body handles inner failures and carries on.
    let results = ["good 1", "bad 2", "good 3"]
        .into_iter()
        .map(|event| log(conn, event).is_ok())
        .collect();
    Ok(results)
}

#[test]
fn savepoint_failure_rolls_back_only_the_inner_work() {
    let (_dir, mut conn) = database();
    let results = outer_keeps_going(&mut conn, false).unwrap();
    assert_eq!(results, [true, false, true]);
    assert_eq!(tier(&conn, "bob"), "gold");
    let events: Vec<String> = conn
        .prepare("SELECT event FROM audit_log ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events, ["good 1", "good 3"]);
}

#[test]
fn join_failure_marks_the_outer_transaction_rollback_only() {
    let (_dir, mut conn) = database();
    let err = outer_keeps_going(&mut conn, true).unwrap_err();
    assert!(
        matches!(
            err,
            AppError::Tx(TxError::RollbackOnly {
                name: "outer_keeps_going"
            })
        ),
        "{err:?}"
    );
    assert_eq!(tier(&conn, "bob"), "basic");
    assert_eq!(count(&conn, "audit_log"), 0);
    assert!(conn.is_autocommit());
}

#[test]
fn joined_success_commits_with_the_outer_transaction() {
    let (_dir, mut conn) = database();
    tx::run(&mut conn, &Options::new(), |conn| -> Result<(), AppError> {
        log_event_joined(conn, "good")?;
        log_event_joined(conn, "also good")
    })
    .unwrap();
    assert_eq!(count(&conn, "audit_log"), 2);
}

#[test]
fn nested_fail_refuses_without_running_the_body() {
    let (_dir, mut conn) = database();
    let ran = AtomicUsize::new(0);
    let err = tx::run(&mut conn, &Options::new(), |conn| {
        must_be_outermost(conn, &ran)
    })
    .unwrap_err();
    assert!(matches!(
        err,
        AppError::Tx(TxError::AlreadyInTransaction {
            name: "must_be_outermost"
        })
    ));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    must_be_outermost(&mut conn, &ran).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(count(&conn, "audit_log"), 1);
}

#[test]
fn a_transaction_begun_by_hand_is_nested_into() {
    let (_dir, mut conn) = database();
    conn.execute_batch("BEGIN").unwrap();
    assert!(log_event(&mut conn, "bad inside manual").is_err());
    log_event(&mut conn, "good inside manual").unwrap();
    assert!(
        !conn.is_autocommit(),
        "keel must not end a transaction it did not begin"
    );
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&conn, "audit_log"), 1);
}

#[keel::transaction]
fn add_child(conn: &mut Connection, parent: i64) -> Result<(), AppError> {
    conn.execute("INSERT INTO child (parent) VALUES (?1)", [parent])?;
    Ok(())
}

#[test]
fn a_failing_commit_becomes_err_and_rolls_back() {
    let (_dir, mut conn) = database();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
    )
    .unwrap();
    // The deferred foreign key is only checked by COMMIT.
    let err = add_child(&mut conn, 7).unwrap_err();
    let AppError::Db(db) = err else {
        panic!("expected the COMMIT error, got {err:?}")
    };
    assert!(db.to_string().contains("FOREIGN KEY"), "{db}");
    assert!(conn.is_autocommit());
    assert_eq!(count(&conn, "child"), 0);
}

/// Deferred, so the conflict shows up inside the body (which counts attempts and signals the
/// first failure); a default (immediate) writer fails at `BEGIN`, before its body runs.
#[keel::transaction(retry = 20, behavior = "deferred")]
fn append_contended(
    conn: &mut Connection,
    attempts: &AtomicUsize,
    first_failed: &mpsc::Sender<()>,
) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    let written = conn.execute("INSERT INTO audit_log VALUES ('from A')", []);
    if written.is_err() {
        let _ = first_failed.send(());
    }
    written?;
    Ok(())
}

#[keel::transaction]
fn append_once(conn: &mut Connection) -> Result<(), AppError> {
    conn.execute("INSERT INTO audit_log VALUES ('from A')", [])?;
    Ok(())
}

/// Connection B holds the write lock until A has failed once with SQLITE_BUSY.
fn with_writer_holding_the_lock<R>(path: &Path, a: impl FnOnce(mpsc::Sender<()>) -> R) -> R {
    let b = open(path);
    b.execute_batch("BEGIN IMMEDIATE; INSERT INTO audit_log VALUES ('from B');")
        .unwrap();
    let (failed_tx, failed_rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _ = failed_rx.recv_timeout(Duration::from_secs(10));
            // B waits for its lock: A's next attempt may hold a shared lock for a moment.
            b.busy_timeout(Duration::from_secs(5)).unwrap();
            b.execute_batch("COMMIT").unwrap();
        });
        a(failed_tx)
    })
}

#[test]
fn retry_reruns_the_body_after_a_real_sqlite_busy() {
    let (dir, mut conn) = database();
    let attempts = AtomicUsize::new(0);
    with_writer_holding_the_lock(&dir.path().join("app.db"), |failed| {
        append_contended(&mut conn, &attempts, &failed).unwrap();
    });
    assert!(attempts.load(Ordering::SeqCst) >= 2, "no retry happened");
    assert_eq!(count(&conn, "audit_log"), 2);
}

#[test]
fn without_retry_sqlite_busy_is_returned_and_transient() {
    let (dir, mut conn) = database();
    let err = with_writer_holding_the_lock(&dir.path().join("app.db"), |failed| {
        let result = append_once(&mut conn);
        let _ = failed.send(());
        result.unwrap_err()
    });
    assert!(err.is_transient(), "{err:?}");
    assert!(
        matches!(&err, AppError::Db(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
    );
    assert!(conn.is_autocommit());
    assert_eq!(count(&conn, "audit_log"), 1); // only B's row
}

#[keel::transaction(retry = 5)]
fn never_transient(conn: &mut Connection, attempts: &AtomicUsize) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    conn.execute("INSERT INTO audit_log VALUES ('x')", [])?;
    Err(AppError::Rejected("not worth retrying"))
}

#[test]
fn non_transient_errors_are_not_retried() {
    let (_dir, mut conn) = database();
    let attempts = AtomicUsize::new(0);
    assert!(never_transient(&mut conn, &attempts).is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(count(&conn, "audit_log"), 0);
}

#[keel::transaction(behavior = "immediate", retry = 20)]
fn immediate_writer(conn: &mut Connection, attempts: &AtomicUsize) -> Result<(), AppError> {
    attempts.fetch_add(1, Ordering::SeqCst);
    conn.execute("INSERT INTO audit_log VALUES ('immediate')", [])?;
    Ok(())
}

#[test]
fn immediate_behavior_takes_the_write_lock_at_begin() {
    let (dir, mut conn) = database();
    let path = dir.path().join("app.db");
    let b = open(&path);
    b.execute_batch("BEGIN IMMEDIATE").unwrap();
    // BEGIN IMMEDIATE fails with SQLITE_BUSY before the body runs.
    let attempts = AtomicUsize::new(0);
    let err = tx::run(
        &mut conn,
        &Options::new().behavior(keel::tx::Behavior::Immediate),
        |_| -> Result<(), AppError> {
            attempts.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
    )
    .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(attempts.load(Ordering::SeqCst), 0);
    b.execute_batch("COMMIT").unwrap();
    immediate_writer(&mut conn, &attempts).unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

#[keel::transaction(read_only)]
fn read_only_write(conn: &mut Connection) -> Result<(), AppError> {
    conn.execute("DELETE FROM users", [])?;
    Ok(())
}

#[keel::transaction(isolation = "read_committed")]
fn read_committed(conn: &mut Connection) -> Result<(), AppError> {
    conn.execute("DELETE FROM users", [])?;
    Ok(())
}

#[test]
fn read_only_and_unsupported_isolation() {
    let (_dir, mut conn) = database();
    assert!(matches!(read_only_write(&mut conn), Err(AppError::Db(_))));
    assert_eq!(count(&conn, "users"), 2);
    let err = read_committed(&mut conn).unwrap_err();
    let AppError::Tx(tx) = err else {
        panic!("expected TxError::Unsupported, got {err:?}")
    };
    assert_eq!(
        tx.to_string(),
        "transaction `read_committed`: SQLite does not support isolation = \"read_committed\" (SQLite transactions are always serializable)"
    );
    assert_eq!(count(&conn, "users"), 2);
}

#[keel::transaction(name = "audited_insert")]
fn audited_insert(conn: &mut Connection, ran: &AtomicUsize) -> Result<(), AppError> {
    ran.fetch_add(1, Ordering::SeqCst);
    conn.execute("INSERT INTO audit_log VALUES ('audited')", [])?;
    Ok(())
}

#[test]
fn audit_hooks_see_begin_commit_rollback_and_can_deny() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static DENY: Mutex<Option<&'static str>> = Mutex::new(None);
    keel::audit::add_hook(|event| {
        let name = format!("{:?}", event.arg("name").unwrap_or(&""));
        if event.name().starts_with("tx.") && name == "\"audited_insert\"" {
            SEEN.lock().unwrap().push(event.to_string());
            if *DENY.lock().unwrap() == Some(event.name()) {
                return Err(keel::audit::Denied::new("test denies it"));
            }
        }
        Ok(())
    })
    .unwrap();

    let (_dir, mut conn) = database();
    let ran = AtomicUsize::new(0);
    audited_insert(&mut conn, &ran).unwrap();
    assert_eq!(
        *SEEN.lock().unwrap(),
        [
            r#"tx.begin(name="audited_insert", database="SQLite", depth=0)"#,
            r#"tx.commit(name="audited_insert", database="SQLite", depth=0)"#,
        ]
    );

    // A denied begin: the body never runs, nothing is written.
    SEEN.lock().unwrap().clear();
    *DENY.lock().unwrap() = Some("tx.begin");
    let err = audited_insert(&mut conn, &ran).unwrap_err();
    let AppError::Tx(TxError::Denied { name, denied }) = &err else {
        panic!("expected TxError::Denied, got {err:?}")
    };
    assert_eq!((*name, denied.event()), ("audited_insert", "tx.begin"));
    assert_eq!(
        AppError::Tx(TxError::Denied {
            name,
            denied: denied.clone()
        })
        .to_string_for_test(),
        "transaction `audited_insert`: audit hook denied `tx.begin`: test denies it"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(conn.is_autocommit());

    // A denied commit: rolled back, with the rollback audited too.
    SEEN.lock().unwrap().clear();
    *DENY.lock().unwrap() = Some("tx.commit");
    let err = audited_insert(&mut conn, &ran).unwrap_err();
    assert!(matches!(err, AppError::Tx(TxError::Denied { .. })));
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(
        SEEN.lock()
            .unwrap()
            .iter()
            .map(|e| e.split('(').next().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["tx.begin", "tx.commit", "tx.rollback"]
    );
    *DENY.lock().unwrap() = None;
    assert_eq!(count(&conn, "audit_log"), 1);
}

impl AppError {
    fn to_string_for_test(&self) -> String {
        match self {
            Self::Tx(e) => e.to_string(),
            other => format!("{other:?}"),
        }
    }
}

#[keel::transaction(conn = conn)]
fn owned_connection(conn: Connection) -> Result<i64, AppError> {
    conn.execute("INSERT INTO audit_log VALUES ('owned')", [])?;
    Ok(conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?)
}

#[test]
fn a_connection_taken_by_value_is_released_at_the_end() {
    let (dir, conn) = database();
    assert_eq!(owned_connection(conn).unwrap(), 1);
    let other = open(&dir.path().join("app.db"));
    assert_eq!(count(&other, "audit_log"), 1);
}

struct Repo {
    table: &'static str,
}

impl Repo {
    #[keel::transaction(conn = db, name = "repo_add")]
    fn add<S: AsRef<str>>(&self, db: &mut Connection, items: &[S]) -> Result<usize, AppError> {
        let mut n = 0;
        for item in items {
            n += db.execute(
                &format!("INSERT INTO {} VALUES (?1)", self.table),
                [item.as_ref()],
            )?;
        }
        Ok(n)
    }
}

mod renamed {
    use keel as my_keel;

    #[my_keel::transaction(crate = my_keel)]
    pub fn insert(conn: &mut rusqlite::Connection) -> Result<(), Wrapped> {
        conn.execute("INSERT INTO audit_log VALUES ('renamed')", [])?;
        Ok(())
    }

    impl From<rusqlite::Error> for Wrapped {
        fn from(e: rusqlite::Error) -> Self {
            Self(e.to_string())
        }
    }

    impl From<keel::tx::TxError> for Wrapped {
        fn from(e: keel::tx::TxError) -> Self {
            Self(e.to_string())
        }
    }

    #[derive(Debug)]
    pub struct Wrapped(pub String);
}

#[test]
fn methods_generics_and_named_connection_parameter() {
    let (_dir, mut conn) = database();
    let repo = Repo { table: "audit_log" };
    assert_eq!(repo.add(&mut conn, &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(count(&conn, "audit_log"), 3);
    renamed::insert(&mut conn).unwrap();
    let err = renamed::insert(&mut conn);
    assert!(err.is_ok(), "{}", err.unwrap_err().0);
    assert_eq!(count(&conn, "audit_log"), 5);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Generic over the database: any `Transactional` connection.
#[keel::transaction(name = "which_database")]
fn which_database<C>(conn: &mut C) -> Result<&'static str, BoxError>
where
    C: keel::tx::Transactional,
    C::Error: std::error::Error + Send + Sync + 'static,
{
    Ok(keel::tx::Transactional::database(conn))
}

#[test]
fn a_function_generic_over_the_connection_type() {
    let (_dir, mut conn) = database();
    assert_eq!(which_database(&mut conn).unwrap(), "SQLite");
    assert!(conn.is_autocommit());
}

#[test]
fn each_transaction_reports_through_keel_trace() {
    use keel::trace::{self, Outcome};
    trace::enable();
    let (_dir, mut conn) = database();
    let (result, events) = trace::capture(|| upgrade_tiers(&mut conn, false));
    assert_eq!(result.unwrap(), 1);
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.name().starts_with("keel::tx::"))
        .collect();
    assert_eq!(mine.len(), 2, "one entry and one exit: {events:?}");
    assert_eq!(mine[0].name(), "keel::tx::upgrade_tiers");
    assert_eq!(mine[0].field("database"), Some("\"SQLite\""));
    assert_eq!(mine[1].outcome(), Some(&Outcome::Ok));
    assert_eq!(mine[1].field("return"), Some("committed"));

    let (result, events) = trace::capture(|| upgrade_tiers(&mut conn, true));
    assert!(result.is_err());
    let exit = events
        .iter()
        .find(|e| e.name() == "keel::tx::upgrade_tiers" && e.is_exit())
        .expect("the rolled-back transaction is reported");
    assert_eq!(exit.outcome(), Some(&Outcome::Err("rolled back".into())));
    assert_eq!(exit.field("return"), Some("rolled back"));
}

// ------------------------------------------------- SQLite writers begin IMMEDIATE by default

/// Two accounts in a WAL file (sqlx's default journal mode, and the common one for services);
/// the writers keep rusqlite's default 5 s busy timeout (they wait at `BEGIN IMMEDIATE`).
fn bank(path: &Path) {
    Connection::open(path)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             DELETE FROM accounts;
             INSERT INTO accounts VALUES (1, 1000), (2, 1000);",
        )
        .unwrap();
}

/// Reads a balance, then writes both rows: a deferred writer would take a read lock first and
/// lose the upgrade to a concurrent writer.
#[keel::transaction(retry = 3)]
fn transfer(conn: &mut Connection, from: i64, to: i64, amount: i64) -> Result<(), AppError> {
    let balance: i64 =
        conn.query_row("SELECT balance FROM accounts WHERE id = ?1", [from], |r| {
            r.get(0)
        })?;
    if balance < amount {
        return Err(AppError::Rejected("insufficient funds"));
    }
    conn.execute(
        "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
        [from, amount],
    )?;
    conn.execute(
        "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
        [to, amount],
    )?;
    Ok(())
}

/// The issue's report, blocking form: eight threads, one file, `retry = 3`, the default
/// behavior: every transfer commits, in each of 20 rounds.
#[test]
fn eight_concurrent_writers_on_one_file_all_commit_20_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    for round in 0..20 {
        bank(&path);
        let results: Vec<Result<(), AppError>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || {
                        let mut conn = Connection::open(path).unwrap();
                        let (from, to) = if i % 2 == 0 { (1, 2) } else { (2, 1) };
                        transfer(&mut conn, from, to, 10 + i)
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
        assert!(failed.is_empty(), "round {round}: {failed:?}");
        let conn = Connection::open(&path).unwrap();
        let balances: Vec<i64> = conn
            .prepare("SELECT balance FROM accounts ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // Evens move 10+12+14+16 = 52 from 1 to 2, odds 11+13+15+17 = 56 from 2 to 1.
        assert_eq!(balances, [1004, 996], "round {round}");
    }
}

/// True when another connection can take the write lock right now (no busy wait).
fn write_lock_is_free(path: &Path) -> bool {
    let other = open(path);
    match other.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
        Ok(()) => true,
        Err(e) if e.is_transient() => false,
        Err(e) => panic!("{e}"),
    }
}

#[keel::transaction]
fn holds_write_lock_from_begin(_conn: &mut Connection, path: &Path) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(path))
}

#[keel::transaction(behavior = "deferred")]
fn deferred_holds_write_lock_from_begin(
    _conn: &mut Connection,
    path: &Path,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(path))
}

#[keel::transaction(read_only)]
fn read_only_holds_write_lock_from_begin(
    _conn: &mut Connection,
    path: &Path,
) -> Result<bool, AppError> {
    Ok(!write_lock_is_free(path))
}

#[test]
fn writers_begin_immediate_deferred_and_read_only_do_not() {
    let (dir, mut conn) = database();
    let path = dir.path().join("app.db");
    assert!(holds_write_lock_from_begin(&mut conn, &path).unwrap());
    assert!(!deferred_holds_write_lock_from_begin(&mut conn, &path).unwrap());
    assert!(!read_only_holds_write_lock_from_begin(&mut conn, &path).unwrap());
    // tx::run with Options::new() is the same default.
    let held = tx::run(&mut conn, &Options::new(), |_| -> Result<bool, AppError> {
        Ok(!write_lock_is_free(&path))
    });
    assert!(held.unwrap());
}

/// The old failure mode, step by step in WAL mode (no timing involved): a deferred writer reads,
/// another connection commits a write, and the deferred writer's first write then fails with
/// `SQLITE_BUSY_SNAPSHOT` at once — waiting cannot save it. The default (immediate) writer holds
/// the write lock from `BEGIN`: the other connection is the one told to wait, and the
/// transaction commits.
#[test]
fn a_deferred_writer_loses_its_upgrade_an_immediate_one_does_not() {
    let (dir, mut conn) = database();
    let path = dir.path().join("app.db");
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let read_then_write = |conn: &mut Connection| -> Result<bool, AppError> {
        let _: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?;
        let other_wrote = open(&path)
            .execute("INSERT INTO audit_log VALUES ('other')", [])
            .is_ok();
        conn.execute("INSERT INTO audit_log VALUES ('mine')", [])?;
        Ok(other_wrote)
    };
    let deferred = Options::new().behavior(keel::tx::Behavior::Deferred);
    let err = tx::run(&mut conn, &deferred, read_then_write).unwrap_err();
    assert!(
        matches!(&err, AppError::Db(e) if e.is_transient()),
        "{err:?}"
    );
    assert_eq!(count(&conn, "audit_log"), 1); // the other connection's row only
    let other_wrote = tx::run(&mut conn, &Options::new(), read_then_write).unwrap();
    assert!(!other_wrote, "the immediate writer held the lock");
    assert_eq!(count(&conn, "audit_log"), 2);
}

// ------------------------------------------------------------- retries exhausted

#[test]
fn exhausted_retries_are_reported_with_the_driver_error_and_attempt_count() {
    let (dir, mut conn) = database();
    let holder = open(&dir.path().join("app.db"));
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut runs = 0;
    let ((), events) = keel::trace::capture(|| {
        let err = tx::run_retrying(
            &mut conn,
            &Options::new()
                .name("gives_up")
                .behavior(keel::tx::Behavior::Deferred),
            2,
            |conn| -> Result<(), BoxError> {
                runs += 1;
                conn.execute("INSERT INTO audit_log VALUES ('x')", [])?;
                Ok(())
            },
        )
        .unwrap_err();
        let gave_up = err.downcast_ref::<tx::RetriesExhausted>().expect("wrapped");
        assert_eq!(
            gave_up.exhausted(),
            tx::Exhausted {
                name: "gives_up",
                attempts: 3
            }
        );
        let source = std::error::Error::source(gave_up).unwrap();
        let driver = source.downcast_ref::<rusqlite::Error>().unwrap();
        assert_eq!(
            driver.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        assert!(err.is_transient(), "still transient through its source");
    });
    assert_eq!(runs, 3);
    let exit = events
        .iter()
        .find(|e| e.name() == "keel::tx::gives_up" && e.is_exit())
        .unwrap();
    assert_eq!(
        exit.outcome(),
        Some(&keel::trace::Outcome::Err("retries exhausted".into()))
    );
    assert_eq!(
        exit.field("return"),
        Some("rolled back after 2 retries (retries exhausted, 3 attempts)")
    );
    holder.execute_batch("ROLLBACK").unwrap();
}

/// An application error that keeps the fact next to the driver's error.
#[derive(Debug)]
enum GiveUpError {
    Db(rusqlite::Error),
    #[allow(dead_code)] // held for the caller; this test never sees one
    Tx(TxError),
    GaveUp {
        exhausted: tx::Exhausted,
        last: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for GiveUpError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e)
    }
}

impl From<TxError> for GiveUpError {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

impl Transient for GiveUpError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Db(e) if e.is_transient())
    }

    fn retries_exhausted(self, exhausted: tx::Exhausted) -> Self {
        match self {
            Self::Db(last) => Self::GaveUp { exhausted, last },
            other => other,
        }
    }
}

#[keel::transaction(retry = 1)]
fn busy_writer(conn: &mut Connection) -> Result<(), GiveUpError> {
    conn.execute("INSERT INTO audit_log VALUES ('x')", [])?;
    Ok(())
}

#[test]
fn an_application_error_learns_that_retries_ran_out() {
    let (dir, mut conn) = database();
    let holder = open(&dir.path().join("app.db"));
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = busy_writer(&mut conn).unwrap_err();
    let GiveUpError::GaveUp { exhausted, last } = err else {
        panic!("expected GaveUp, got {err:?}")
    };
    assert_eq!((exhausted.name, exhausted.attempts), ("busy_writer", 2));
    assert_eq!(
        last.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    holder.execute_batch("ROLLBACK").unwrap();
    // A permanent error is not "exhausted": it comes back as it was.
    conn.execute_batch("DROP TABLE audit_log").unwrap();
    assert!(matches!(busy_writer(&mut conn), Err(GiveUpError::Db(_))));
}
