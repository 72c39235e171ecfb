//! `#[keel::instrument]` and `#[keel::transaction]` on one function: whatever the order of the
//! attributes, and inside an instrumented module or impl block, the function's span is the
//! outermost wrapper (one call counted per call, however many attempts) and the transaction's
//! span runs inside it.

#![deny(warnings, clippy::all)]

use keel::trace::{self, Event, Outcome, Stats};
use keel::tx::{Transient, TxError};
use rusqlite::Connection;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The `Stats` test switches tracing on, so that every thread's calls reach its sink: the tests
/// run one at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
pub enum AppError {
    Db(rusqlite::Error),
    Tx(TxError),
    Busy,
    Rejected,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Db(e) => write!(f, "database: {e}"),
            Self::Tx(e) => write!(f, "transaction: {e}"),
            Self::Busy => f.write_str("busy"),
            Self::Rejected => f.write_str("rejected"),
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

impl Transient for AppError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Busy) || matches!(self, Self::Tx(e) if e.is_transient())
    }
}

/// One attempt: fails with a transient error while `busy` counts down, then answers (or
/// rejects, a permanent error).
fn attempt(conn: &Connection, busy: &AtomicU32, reject: bool) -> Result<i64, AppError> {
    let answer: i64 = conn.query_row("SELECT 42", [], |row| row.get(0))?;
    if busy.load(Ordering::Relaxed) > 0 {
        busy.fetch_sub(1, Ordering::Relaxed);
        return Err(AppError::Busy);
    }
    if reject {
        return Err(AppError::Rejected);
    }
    Ok(answer)
}

#[keel::instrument]
#[keel::transaction(name = "above", retry = 3)]
fn instrument_above(
    conn: &mut Connection,
    busy: &AtomicU32,
    reject: bool,
) -> Result<i64, AppError> {
    attempt(conn, busy, reject)
}

#[keel::transaction(name = "below", retry = 3)]
#[keel::instrument]
fn instrument_below(
    conn: &mut Connection,
    busy: &AtomicU32,
    reject: bool,
) -> Result<i64, AppError> {
    attempt(conn, busy, reject)
}

#[keel::instrument]
mod svc {
    use super::{AppError, attempt};
    use rusqlite::Connection;
    use std::sync::atomic::AtomicU32;

    #[keel::transaction(name = "in_mod", retry = 3)]
    pub fn in_module(
        conn: &mut Connection,
        busy: &AtomicU32,
        reject: bool,
    ) -> Result<i64, AppError> {
        attempt(conn, busy, reject)
    }

    pub struct Repo;

    impl Repo {
        #[keel::transaction(name = "in_impl", retry = 3)]
        pub fn save(
            &self,
            conn: &mut Connection,
            busy: &AtomicU32,
            reject: bool,
        ) -> Result<i64, AppError> {
            attempt(conn, busy, reject)
        }
    }

    /// Imported under its own name, inside the module: still recognised, and the import is used.
    pub mod imported {
        use super::{AppError, attempt};
        use keel::transaction;
        use rusqlite::Connection;
        use std::sync::atomic::AtomicU32;

        #[transaction(name = "imported", retry = 3)]
        pub fn bare(
            conn: &mut Connection,
            busy: &AtomicU32,
            reject: bool,
        ) -> Result<i64, AppError> {
            attempt(conn, busy, reject)
        }
    }
}

/// Four calls: one transient failure then success; success; a permanent error; two transient
/// failures then success. Seven attempts in all.
const CALLS: [(u32, bool); 4] = [(1, false), (0, false), (0, true), (2, false)];

fn four_calls(call: impl Fn(&mut Connection, &AtomicU32, bool) -> Result<i64, AppError>) {
    let mut conn = Connection::open_in_memory().unwrap();
    for (busy, reject) in CALLS {
        let result = call(&mut conn, &AtomicU32::new(busy), reject);
        match result {
            Ok(answer) => assert!(!reject && answer == 42),
            Err(error) => assert!(reject && matches!(error, AppError::Rejected), "{error}"),
        }
    }
}

/// Each call is `enter function, enter transaction, exit transaction, exit function`: one span
/// of the function per call, the transaction's inside it (its child), retries inside that.
fn assert_nested(events: &[Event], function: &str, transaction: &str) {
    let shape: Vec<(&str, bool)> = events.iter().map(|e| (e.name(), e.is_enter())).collect();
    let one_call = [
        (function, true),
        (transaction, true),
        (transaction, false),
        (function, false),
    ];
    assert_eq!(shape, one_call.repeat(CALLS.len()), "{function}");
    for call in events.chunks(4) {
        assert_eq!(call[0].call_id(), call[3].call_id());
        assert_eq!(call[1].call_id(), call[2].call_id());
        assert_ne!(call[0].call_id(), call[1].call_id());
    }
    let function_outcomes: Vec<Outcome> = events
        .iter()
        .filter(|e| e.name() == function)
        .filter_map(|e| e.outcome().cloned())
        .collect();
    assert_eq!(
        function_outcomes,
        [
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Err("rejected".into()),
            Outcome::Ok
        ]
    );
    let summaries: Vec<&str> = events
        .iter()
        .filter(|e| e.name() == transaction && e.is_exit())
        .filter_map(|e| e.field("return"))
        .collect();
    assert_eq!(
        summaries,
        [
            "committed after 1 retry",
            "committed",
            "rolled back",
            "committed after 2 retries"
        ]
    );
}

#[test]
fn instrument_written_above_the_transaction_wraps_it() {
    let _one_at_a_time = exclusive();
    let ((), events) = trace::capture(|| four_calls(instrument_above));
    assert_nested(
        &events,
        "instrument_transaction::instrument_above",
        "keel::tx::above",
    );
}

#[test]
fn instrument_written_below_the_transaction_wraps_it() {
    let _one_at_a_time = exclusive();
    let ((), events) = trace::capture(|| four_calls(instrument_below));
    assert_nested(
        &events,
        "instrument_transaction::instrument_below",
        "keel::tx::below",
    );
}

#[test]
fn a_transaction_in_an_instrumented_module_is_wrapped() {
    let _one_at_a_time = exclusive();
    let ((), events) = trace::capture(|| four_calls(svc::in_module));
    assert_nested(
        &events,
        "instrument_transaction::svc::in_module",
        "keel::tx::in_mod",
    );
    let ((), events) = trace::capture(|| four_calls(svc::imported::bare));
    assert_nested(
        &events,
        "instrument_transaction::svc::imported::bare",
        "keel::tx::imported",
    );
}

#[test]
fn a_transaction_method_in_an_instrumented_module_is_wrapped() {
    let _one_at_a_time = exclusive();
    let repo = svc::Repo;
    let ((), events) = trace::capture(|| {
        four_calls(|conn, busy, reject| repo.save(conn, busy, reject));
    });
    assert_nested(
        &events,
        "instrument_transaction::svc::Repo::save",
        "keel::tx::in_impl",
    );
}

/// The report: `Stats` counted attempts (7 calls, 4 errors here) instead of calls.
#[test]
fn stats_count_one_call_per_call_in_every_placement() {
    let _one_at_a_time = exclusive();
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    trace::enable();
    four_calls(instrument_above);
    four_calls(instrument_below);
    four_calls(svc::in_module);
    four_calls(svc::imported::bare);
    for name in [
        "instrument_above",
        "instrument_below",
        "svc::in_module",
        "svc::imported::bare",
    ] {
        let name = format!("instrument_transaction::{name}");
        let function = stats.function(&name).unwrap();
        assert_eq!((function.calls(), function.errors()), (4, 1), "{name}");
    }
    for name in ["above", "below", "in_mod", "imported"] {
        let transaction = stats.function(&format!("keel::tx::{name}")).unwrap();
        assert_eq!(
            (transaction.calls(), transaction.errors()),
            (4, 1),
            "{name}"
        );
    }
    trace::disable();
}

const LOCATED_LINE: u32 = line!();
#[keel::transaction(name = "located")]
fn located(conn: &mut Connection) -> Result<i64, AppError> {
    Ok(conn.query_row("SELECT 1", [], |row| row.get(0))?)
}

/// The transaction's span names the user's source, not keel's: the function under
/// `#[keel::transaction]`, or the line that calls `keel::tx::run`.
#[test]
fn transaction_spans_report_the_callers_file_and_line() {
    let _one_at_a_time = exclusive();
    let mut conn = Connection::open_in_memory().unwrap();
    let run_line = line!() + 2;
    let ((), events) = trace::capture(|| {
        let by_hand = keel::tx::run(&mut conn, &keel::tx::Options::new().name("by_hand"), |c| {
            Ok::<i64, AppError>(c.query_row("SELECT 1", [], |row| row.get(0))?)
        });
        assert_eq!(by_hand.unwrap(), 1);
        assert_eq!(located(&mut conn).unwrap(), 1);
    });
    let site = |name: &str| {
        events
            .iter()
            .find(|e| e.name() == name)
            .unwrap_or_else(|| panic!("no {name} in {events:?}"))
            .call_site()
    };
    let by_hand = site("keel::tx::by_hand");
    assert_eq!((by_hand.file(), by_hand.line()), (file!(), run_line));
    let located = site("keel::tx::located");
    assert_eq!(located.file(), file!());
    assert!(
        (LOCATED_LINE + 1..=LOCATED_LINE + 3).contains(&located.line()),
        "line {} is not the function's",
        located.line()
    );
}
