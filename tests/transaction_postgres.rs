//! `#[keel::transaction]` on a real PostgreSQL server, reached through `KEEL_PG_URL`
//! (`.ci/run` starts a throwaway one and sets it). Without it every test prints a notice and
//! passes without checking anything.

#![deny(warnings, clippy::all)]

use keel::tx::{self, Isolation, Options, Transient, TxError};
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
enum AppError {
    Db(postgres::Error),
    Tx(TxError),
    Rejected(&'static str),
}

impl From<postgres::Error> for AppError {
    fn from(e: postgres::Error) -> Self {
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

impl AppError {
    fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            Self::Db(e) => e.code(),
            _ => None,
        }
    }
}

/// A client, or `None` (with a notice) when no server is configured.
fn connect(test: &str) -> Option<Client> {
    match std::env::var("KEEL_PG_URL") {
        Ok(url) => Some(Client::connect(&url, NoTls).expect("KEEL_PG_URL is set but unreachable")),
        Err(_) => {
            eprintln!(
                "KEEL_PG_URL is not set: skipping PostgreSQL test `{test}` (.ci/run starts a server)"
            );
            None
        }
    }
}

/// A fresh table named after the test (tests run in parallel on one database).
fn table(client: &mut Client, name: &str, rows: &[(i32, i64)]) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id INT PRIMARY KEY, v BIGINT NOT NULL);"
        ))
        .unwrap();
    for (id, v) in rows {
        client
            .execute(&format!("INSERT INTO {name} VALUES ($1, $2)"), &[id, v])
            .unwrap();
    }
}

fn values(client: &mut Client, name: &str) -> Vec<(i32, i64)> {
    client
        .query(&format!("SELECT id, v FROM {name} ORDER BY id"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[keel::transaction(conn = db, name = "transfer")]
fn transfer(db: &mut Client, table: &str, from: i32, to: i32, cents: i64) -> Result<(), AppError> {
    db.execute(
        &format!("UPDATE {table} SET v = v - $1 WHERE id = $2"),
        &[&cents, &from],
    )?;
    db.execute(
        &format!("UPDATE {table} SET v = v + $1 WHERE id = $2"),
        &[&cents, &to],
    )?;
    let balance: i64 = db
        .query_one(&format!("SELECT v FROM {table} WHERE id = $1"), &[&from])?
        .get(0);
    if balance < 0 {
        return Err(AppError::Rejected("insufficient funds"));
    }
    Ok(())
}

#[test]
fn commit_is_visible_and_rollback_leaves_nothing() {
    let Some(mut db) = connect("commit_is_visible_and_rollback_leaves_nothing") else {
        return;
    };
    table(&mut db, "keel_tx_transfer", &[(1, 100), (2, 0)]);
    transfer(&mut db, "keel_tx_transfer", 1, 2, 60).unwrap();
    let mut other = connect("other").unwrap();
    assert_eq!(values(&mut other, "keel_tx_transfer"), [(1, 40), (2, 60)]);

    let err = transfer(&mut db, "keel_tx_transfer", 1, 2, 60).unwrap_err();
    assert!(matches!(err, AppError::Rejected("insufficient funds")));
    assert_eq!(values(&mut other, "keel_tx_transfer"), [(1, 40), (2, 60)]);
}

#[keel::transaction]
fn insert_or_fail(db: &mut Client, id: i32) -> Result<(), AppError> {
    db.execute("INSERT INTO keel_tx_savepoint VALUES ($1, 0)", &[&id])?;
    Ok(())
}

#[keel::transaction]
fn insert_many(db: &mut Client, ids: &[i32]) -> Result<Vec<bool>, AppError> {
    db.execute("INSERT INTO keel_tx_savepoint VALUES (100, 0)", &[])?;
    Ok(ids
        .iter()
        .map(|&id| insert_or_fail(db, id).is_ok())
        .collect())
}

#[test]
fn savepoints_recover_from_a_failed_statement() {
    let Some(mut db) = connect("savepoints_recover_from_a_failed_statement") else {
        return;
    };
    table(&mut db, "keel_tx_savepoint", &[(1, 0)]);
    // id 1 exists: that INSERT fails, which aborts the whole transaction in PostgreSQL unless
    // it ran under a savepoint.
    let ok = insert_many(&mut db, &[2, 1, 3]).unwrap();
    assert_eq!(ok, [true, false, true]);
    let ids: Vec<i32> = values(&mut db, "keel_tx_savepoint")
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, [1, 2, 3, 100]);
}

#[keel::transaction(nested = "join")]
fn insert_joined(db: &mut Client, id: i32) -> Result<(), AppError> {
    db.execute("INSERT INTO keel_tx_join VALUES ($1, 0)", &[&id])?;
    Ok(())
}

#[test]
fn a_failed_join_makes_the_outer_transaction_roll_back() {
    let Some(mut db) = connect("a_failed_join_makes_the_outer_transaction_roll_back") else {
        return;
    };
    table(&mut db, "keel_tx_join", &[(1, 0)]);
    let outer = Options::new().name("outer");
    let err = tx::run(&mut db, &outer, |db| -> Result<(), AppError> {
        insert_joined(db, 2)?;
        assert!(insert_joined(db, 1).is_err()); // duplicate key; handled...
        Ok(())
    })
    .unwrap_err();
    // ...but the outer transaction is rollback-only.
    assert!(matches!(
        err,
        AppError::Tx(TxError::RollbackOnly { name: "outer" })
    ));
    assert_eq!(values(&mut db, "keel_tx_join"), [(1, 0)]);
}

#[keel::transaction]
fn insert_then_panic(db: &mut Client) -> Result<(), AppError> {
    db.execute("INSERT INTO keel_tx_panic VALUES (2, 0)", &[])?;
    panic!("boom");
}

#[test]
fn panic_rolls_back_and_the_client_stays_usable() {
    let Some(mut db) = connect("panic_rolls_back_and_the_client_stays_usable") else {
        return;
    };
    table(&mut db, "keel_tx_panic", &[(1, 0)]);
    assert!(catch_unwind(AssertUnwindSafe(|| insert_then_panic(&mut db))).is_err());
    assert_eq!(values(&mut db, "keel_tx_panic"), [(1, 0)]);
}

/// Reads the total, waits (first attempt only) until the other transaction has read it too,
/// then adds it to its own row: two of these in parallel are a write skew that only
/// SERIALIZABLE catches.
#[keel::transaction(conn = db, isolation = "serializable", retry = 5)]
fn add_total_retrying(
    db: &mut Client,
    me: i32,
    both_read: &Barrier,
    attempts: &AtomicUsize,
) -> Result<i64, AppError> {
    add_total_body(db, me, both_read, attempts)
}

#[keel::transaction(conn = db, isolation = "serializable")]
fn add_total_once(
    db: &mut Client,
    me: i32,
    both_read: &Barrier,
    attempts: &AtomicUsize,
) -> Result<i64, AppError> {
    add_total_body(db, me, both_read, attempts)
}

fn add_total_body(
    db: &mut Client,
    me: i32,
    both_read: &Barrier,
    attempts: &AtomicUsize,
) -> Result<i64, AppError> {
    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
    let total: i64 = db
        .query_one("SELECT sum(v)::BIGINT FROM keel_tx_skew", &[])?
        .get(0);
    if attempt == 0 {
        both_read.wait();
    }
    db.execute(
        "UPDATE keel_tx_skew SET v = v + $1 WHERE id = $2",
        &[&total, &me],
    )?;
    Ok(total)
}

type AddTotal = fn(&mut Client, i32, &Barrier, &AtomicUsize) -> Result<i64, AppError>;

/// Runs `f` for rows 1 and 2 at the same time; returns each result and attempt count.
fn contend(f: AddTotal) -> Vec<(Result<i64, AppError>, usize)> {
    let both_read = Barrier::new(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = [1, 2]
            .map(|me| {
                let both_read = &both_read;
                s.spawn(move || {
                    let mut db = connect("contend").unwrap();
                    let attempts = AtomicUsize::new(0);
                    let result = f(&mut db, me, both_read, &attempts);
                    (result, attempts.load(Ordering::SeqCst))
                })
            })
            .into();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn serialization_failures_are_retried_until_the_result_is_serial() {
    let Some(mut db) = connect("serialization_failures_are_retried_until_the_result_is_serial")
    else {
        return;
    };

    // Without retry: one of the two fails with SQLSTATE 40001, and that error is transient.
    table(&mut db, "keel_tx_skew", &[(1, 1), (2, 1)]);
    let once = contend(add_total_once);
    let failures: Vec<&AppError> = once.iter().filter_map(|(r, _)| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 1, "{once:?}");
    assert_eq!(
        failures[0].sqlstate(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    );
    assert!(failures[0].is_transient());
    assert_eq!(
        values(&mut db, "keel_tx_skew")
            .iter()
            .map(|r| r.1)
            .sum::<i64>(),
        4,
        "only the successful transaction's update is there"
    );

    // With retry = 5: the loser re-runs, sees the winner's commit, and the outcome is the serial
    // one (1 + 2 = 3 on one row, then 3 + 1 + ... = sum 8), never the write skew (3 and 3).
    table(&mut db, "keel_tx_skew", &[(1, 1), (2, 1)]);
    let retried = contend(add_total_retrying);
    let attempts: usize = retried.iter().map(|(_, n)| n).sum();
    let mut totals: Vec<i64> = retried.into_iter().map(|(r, _)| r.unwrap()).collect();
    totals.sort();
    assert_eq!(
        totals,
        [2, 4],
        "the retried transaction saw the committed one"
    );
    assert_eq!(attempts, 3, "exactly one retry");
    assert_eq!(
        values(&mut db, "keel_tx_skew")
            .iter()
            .map(|r| r.1)
            .sum::<i64>(),
        8
    );
}

#[test]
fn isolation_read_only_and_unsupported_behavior() {
    let Some(mut db) = connect("isolation_read_only_and_unsupported_behavior") else {
        return;
    };
    table(&mut db, "keel_tx_options", &[(1, 0)]);
    let level = tx::run(
        &mut db,
        &Options::new().isolation(Isolation::RepeatableRead),
        |db| -> Result<String, AppError> {
            Ok(db.query_one("SHOW transaction_isolation", &[])?.get(0))
        },
    )
    .unwrap();
    assert_eq!(level, "repeatable read");

    let err = tx::run(
        &mut db,
        &Options::new().read_only(true),
        |db| -> Result<u64, AppError> { Ok(db.execute("UPDATE keel_tx_options SET v = 1", &[])?) },
    )
    .unwrap_err();
    assert_eq!(err.sqlstate(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));

    let err = tx::run(
        &mut db,
        &Options::new()
            .name("sqlite_only")
            .behavior(keel::tx::Behavior::Immediate),
        |_| -> Result<(), AppError> { unreachable!("never begins") },
    )
    .unwrap_err();
    let AppError::Tx(e) = err else {
        panic!("expected TxError::Unsupported, got {err:?}")
    };
    assert!(e.to_string().starts_with(
        "transaction `sqlite_only`: PostgreSQL does not support behavior = \"immediate\""
    ));
    assert_eq!(values(&mut db, "keel_tx_options"), [(1, 0)]);
}
