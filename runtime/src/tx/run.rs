//! [`run`] and [`run_retrying`]: begin, run the body, commit or roll back; nesting, retry, audit
//! events and the per-transaction [`Report`].

use super::{Nested, Options, Transactional, Transient, TxError};
use crate::audit;
use crate::trace::{self, CallSite, Span};
use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How a transaction ended.
///
/// ```
/// assert_ne!(keel_runtime::tx::Outcome::Committed, keel_runtime::tx::Outcome::RolledBack);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Committed (or, nested, its savepoint released / its joined work kept).
    Committed,
    /// Rolled back: the body failed or panicked, the commit failed or was denied, or a joined
    /// inner transaction marked it rollback-only.
    RolledBack,
    /// Never began: `tx.begin` denied, an unsupported option, `nested = "fail"`, or `BEGIN`
    /// itself failed.
    NotStarted,
}

/// What one call of [`run`] / [`run_retrying`] did: the data a tracer records.
///
/// ```
/// use keel_runtime::tx::{Outcome, Report};
/// let r = Report { name: "t", database: "SQLite", depth: 0, duration: Default::default(), outcome: Outcome::Committed, retries: 0 };
/// assert_eq!(r.outcome, Outcome::Committed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// [`Options::name`].
    pub name: &'static str,
    /// [`Transactional::database`].
    pub database: &'static str,
    /// 0 for an outermost transaction, n for the n-th nested savepoint or join.
    pub depth: usize,
    /// From the first `BEGIN` to the final commit or rollback, retries and backoff included.
    pub duration: Duration,
    /// How the last attempt ended.
    pub outcome: Outcome,
    /// How many times the body was re-run after a transient error.
    pub retries: u32,
}

/// The single place every transaction's outcome passes through: it ends the transaction's
/// `keel::trace` span with its outcome (`Ok` for a commit, `Err("rolled back")` or
/// `Err("not started")` otherwise) and a `"return"` field such as `committed after 2 retries`.
#[inline]
fn report(span: Span, report: &Report) {
    #[cfg(test)]
    tests::REPORTS.with_borrow_mut(|reports| reports.push(*report));
    if !span.is_active() {
        return;
    }
    let (outcome, verb) = match report.outcome {
        Outcome::Committed => (trace::Outcome::Ok, "committed"),
        Outcome::RolledBack => (trace::Outcome::Err("rolled back".into()), "rolled back"),
        Outcome::NotStarted => (trace::Outcome::Err("not started".into()), "not started"),
    };
    let summary = match report.retries {
        0 => verb.to_owned(),
        1 => format!("{verb} after 1 retry"),
        n => format!("{verb} after {n} retries"),
    };
    span.finish_with_value(outcome, &format_args!("{summary}"));
}

/// The `keel::trace` span of one transaction, entered at its start: call site
/// `keel::tx::<name>` (one per distinct [`Options::name`], made on first use while tracing is
/// on), with the database as an entry field. Inactive, and free, while tracing is off.
fn trace_span(options: &Options, database: &'static str) -> Span {
    if !trace::may_trace() {
        return Span::inactive();
    }
    Span::enter_with(call_site(options.name), &[("database", &database)])
}

/// The call site for transactions named `name`. Names are `&'static str` from the program's
/// source, so the set is finite: each one is created (and leaked) once.
fn call_site(name: &'static str) -> &'static CallSite {
    static SITES: Mutex<BTreeMap<&'static str, &'static CallSite>> = Mutex::new(BTreeMap::new());
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    sites.entry(name).or_insert_with(|| {
        let qualified: &'static str = Box::leak(format!("keel::tx::{name}").into_boxed_str());
        Box::leak(Box::new(CallSite::new(
            qualified,
            "keel::tx",
            file!(),
            line!(),
        )))
    })
}

/// Runs `body` in a transaction on `conn`: commit on `Ok`, rollback on `Err` or panic.
///
/// This is what `#[keel::transaction]` (without `retry`) expands to. The body gets the connection
/// back; inside it, another `run` on the same connection nests according to
/// [`Options::nested`]. See the [module documentation](super) for the full contract.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use keel_runtime::tx::{self, Options, TxError};
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// let mut conn = rusqlite::Connection::open_in_memory().unwrap();
/// conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
/// let inserted = tx::run(&mut conn, &Options::new().name("fill"), |conn| -> Result<usize, BoxError> {
///     let mut n = 0;
///     for x in 0..3 {
///         n += conn.execute("INSERT INTO t VALUES (?1)", [x])?;
///     }
///     Ok(n)
/// })
/// .unwrap();
/// assert_eq!(inserted, 3);
/// # }
/// ```
pub fn run<C, T, E, F>(conn: &mut C, options: &Options, body: F) -> Result<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + From<TxError>,
    F: FnOnce(&mut C) -> Result<T, E>,
{
    let span = trace_span(options, conn.database());
    let start = Instant::now();
    let attempt = attempt(conn, options, body);
    finish(conn, options, span, start, attempt, 0)
}

/// The identity, with the bound `#[keel::transaction]` needs its connection parameter to meet
/// (so a parameter that is not a connection is reported at the parameter).
#[doc(hidden)]
#[inline(always)]
pub fn connection<C: Transactional + ?Sized>(conn: &mut C) -> &mut C {
    conn
}

/// Like [`run`], and when the transaction fails with a [`Transient`] error (a lock conflict, a
/// serialization failure), rolls it back and runs `body` again, up to `retries` more times, after
/// a short jittered backoff. Non-transient errors and panics are never retried. Only an
/// outermost transaction retries; a nested one returns the error to its outer transaction.
///
/// `body` is `FnMut` because it may run several times: it must not move out of what it captures.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use keel_runtime::tx::{self, Options};
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// let mut conn = rusqlite::Connection::open_in_memory().unwrap();
/// let mut attempts = 0;
/// let answer = tx::run_retrying(&mut conn, &Options::new(), 3, |conn| -> Result<i64, BoxError> {
///     attempts += 1;
///     Ok(conn.query_row("SELECT 6 * 7", [], |r| r.get(0))?)
/// })
/// .unwrap();
/// assert_eq!((answer, attempts), (42, 1));
/// # }
/// ```
pub fn run_retrying<C, T, E, F>(
    conn: &mut C,
    options: &Options,
    retries: u32,
    mut body: F,
) -> Result<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + From<TxError> + Transient,
    F: FnMut(&mut C) -> Result<T, E>,
{
    let span = trace_span(options, conn.database());
    let start = Instant::now();
    let mut retried = 0;
    loop {
        let attempt = attempt(conn, options, &mut body);
        let retry = retried < retries
            && attempt.depth == 0
            && matches!(&attempt.result, Ok(Err(e)) if e.is_transient());
        if !retry {
            return finish(conn, options, span, start, attempt, retried);
        }
        retried += 1;
        std::thread::sleep(backoff(retried));
    }
}

/// One run of the body, with what is needed to report and maybe retry it.
struct Attempt<T, E> {
    /// `Err` holds a panic payload, to resume after reporting.
    result: Result<Result<T, E>, Box<dyn Any + Send>>,
    depth: usize,
    outcome: Outcome,
}

/// Reports the transaction and hands its result back (resuming a panic).
fn finish<C, T, E>(
    conn: &C,
    options: &Options,
    span: Span,
    start: Instant,
    attempt: Attempt<T, E>,
    retries: u32,
) -> Result<T, E>
where
    C: Transactional + ?Sized,
{
    report(
        span,
        &Report {
            name: options.name,
            database: conn.database(),
            depth: attempt.depth,
            duration: start.elapsed(),
            outcome: attempt.outcome,
            retries,
        },
    );
    match attempt.result {
        Ok(result) => result,
        Err(panic) => resume_unwind(panic),
    }
}

/// Sleep before retry number `n` (1-based): 1–2 ms, doubling, capped at 64 ms, uniformly
/// jittered so two contending transactions do not retry in lockstep.
fn backoff(n: u32) -> Duration {
    let ceiling = Duration::from_millis(2u64 << n.saturating_sub(1).min(5));
    ceiling.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in `[0, 1)`, different on every call (std's per-instance random hasher keys).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The transactions keel has open on this thread, innermost last, each keyed by its
/// connection's address. Nested calls find their depth here, and `Join` marks the enclosing
/// frame rollback-only.
struct Frame {
    conn: usize,
    rollback_only: bool,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

fn conn_key<C: ?Sized>(conn: &C) -> usize {
    (conn as *const C).cast::<()>() as usize
}

/// How many keel transactions are open on `key` in this thread.
fn open_depth(key: usize) -> usize {
    FRAMES.with_borrow(|frames| frames.iter().filter(|f| f.conn == key).count())
}

/// Marks the innermost keel transaction on `key` rollback-only (a joined body failed).
fn mark_rollback_only(key: usize) {
    FRAMES.with_borrow_mut(|frames| {
        if let Some(frame) = frames.iter_mut().rev().find(|f| f.conn == key) {
            frame.rollback_only = true;
        }
    });
}

/// Pops its frame on drop, so the stack stays right even if a database call panics.
struct FrameGuard;

impl FrameGuard {
    fn push(conn: usize) -> Self {
        FRAMES.with_borrow_mut(|frames| {
            frames.push(Frame {
                conn,
                rollback_only: false,
            })
        });
        FrameGuard
    }

    /// Pops the frame; true when a joined inner transaction marked it rollback-only.
    fn pop(self) -> bool {
        std::mem::forget(self);
        FRAMES
            .with_borrow_mut(|frames| frames.pop())
            .is_some_and(|f| f.rollback_only)
    }
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        FRAMES.with_borrow_mut(|frames| frames.pop());
    }
}

/// Emits an audit event for this transaction.
fn emit(event: &str, options: &Options, database: &str, depth: usize) -> Result<(), audit::Denied> {
    audit::emit(
        event,
        &[
            ("name", &options.name),
            ("database", &database),
            ("depth", &depth),
        ],
    )
}

/// The savepoint name at `depth` (1 for the first nested level).
fn savepoint_name(depth: usize) -> String {
    format!("keel_sp_{depth}")
}

fn attempt<C, T, E, F>(conn: &mut C, options: &Options, body: F) -> Attempt<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + From<TxError>,
    F: FnOnce(&mut C) -> Result<T, E>,
{
    let key = conn_key(conn);
    let keel_depth = open_depth(key);
    let inside = keel_depth > 0 || conn.in_transaction();
    let depth = if inside { keel_depth.max(1) } else { 0 };
    let not_started = |error: E| Attempt {
        result: Ok(Err(error)),
        depth,
        outcome: Outcome::NotStarted,
    };

    if inside {
        match options.nested {
            Nested::Savepoint => {}
            Nested::Join => return join(key, depth, conn, body),
            Nested::Fail => {
                return not_started(TxError::AlreadyInTransaction { name: options.name }.into());
            }
        }
    } else if let Err(unsupported) = conn.check(options) {
        return not_started(unsupported.into());
    }

    let database = conn.database();
    if let Err(denied) = emit("tx.begin", options, database, depth) {
        return not_started(
            TxError::Denied {
                name: options.name,
                denied,
            }
            .into(),
        );
    }
    let savepoint = inside.then(|| savepoint_name(depth));
    let begun = match &savepoint {
        Some(sp) => conn.savepoint(sp),
        None => conn.begin(options),
    };
    if let Err(error) = begun {
        return not_started(error.into());
    }

    let frame = FrameGuard::push(key);
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut *conn)));
    let rollback_only = frame.pop();

    let rollback = |conn: &mut C| {
        // Informational: a rollback always happens, whatever a hook says.
        let _ = emit("tx.rollback", options, database, depth);
        match &savepoint {
            Some(sp) => conn.rollback_to_savepoint(sp),
            None => conn.rollback(options),
        }
    };
    let rolled_back = |result| Attempt {
        result,
        depth,
        outcome: Outcome::RolledBack,
    };

    match result {
        Err(panic) => {
            let _ = rollback(conn);
            rolled_back(Err(panic))
        }
        Ok(Err(error)) => {
            // The body's error wins over a failing rollback.
            let _ = rollback(conn);
            rolled_back(Ok(Err(error)))
        }
        Ok(Ok(_)) if rollback_only => {
            let _ = rollback(conn);
            rolled_back(Ok(Err(TxError::RollbackOnly { name: options.name }.into())))
        }
        Ok(Ok(value)) => {
            if let Err(denied) = emit("tx.commit", options, database, depth) {
                let _ = rollback(conn);
                let error = TxError::Denied {
                    name: options.name,
                    denied,
                };
                return rolled_back(Ok(Err(error.into())));
            }
            let committed = match &savepoint {
                Some(sp) => conn.release_savepoint(sp),
                None => conn.commit(options),
            };
            match committed {
                Ok(()) => Attempt {
                    result: Ok(Ok(value)),
                    depth,
                    outcome: Outcome::Committed,
                },
                Err(error) => {
                    // A failed COMMIT may leave the transaction open (SQLite: SQLITE_BUSY).
                    if savepoint.is_some() || conn.in_transaction() {
                        let _ = rollback(conn);
                    }
                    rolled_back(Ok(Err(error.into())))
                }
            }
        }
    }
}

/// `Nested::Join`: the body runs inside the outer transaction; its failure marks the outer one
/// rollback-only.
fn join<C, T, E, F>(key: usize, depth: usize, conn: &mut C, body: F) -> Attempt<T, E>
where
    C: Transactional + ?Sized,
    F: FnOnce(&mut C) -> Result<T, E>,
{
    let result = catch_unwind(AssertUnwindSafe(|| body(conn)));
    let failed = !matches!(result, Ok(Ok(_)));
    if failed {
        mark_rollback_only(key);
    }
    Attempt {
        result,
        depth,
        outcome: if failed {
            Outcome::RolledBack
        } else {
            Outcome::Committed
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Transient;

    thread_local! {
        /// Every report made on this thread (tests only).
        pub(super) static REPORTS: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
    }

    fn take_reports() -> Vec<(&'static str, usize, Outcome, u32)> {
        REPORTS
            .with_borrow_mut(std::mem::take)
            .into_iter()
            .map(|r| (r.name, r.depth, r.outcome, r.retries))
            .collect()
    }

    /// A fake database whose COMMIT fails with a transient error while `busy_commits > 0`.
    #[derive(Default)]
    struct Fake {
        open: bool,
        busy_commits: u32,
        sql: Vec<String>,
    }

    #[derive(Debug, PartialEq)]
    enum FakeError {
        Busy,
        Tx(TxError),
        Body,
    }

    impl From<TxError> for FakeError {
        fn from(e: TxError) -> Self {
            Self::Tx(e)
        }
    }

    impl Transient for FakeError {
        fn is_transient(&self) -> bool {
            *self == Self::Busy
        }
    }

    impl Transactional for Fake {
        type Error = FakeError;
        fn database(&self) -> &'static str {
            "Fake"
        }
        fn in_transaction(&self) -> bool {
            self.open
        }
        fn begin(&mut self, _: &Options) -> Result<(), FakeError> {
            self.open = true;
            self.sql.push("BEGIN".into());
            Ok(())
        }
        fn commit(&mut self, _: &Options) -> Result<(), FakeError> {
            if self.busy_commits > 0 {
                self.busy_commits -= 1;
                self.sql.push("COMMIT (busy)".into());
                return Err(FakeError::Busy);
            }
            self.open = false;
            self.sql.push("COMMIT".into());
            Ok(())
        }
        fn rollback(&mut self, _: &Options) -> Result<(), FakeError> {
            self.open = false;
            self.sql.push("ROLLBACK".into());
            Ok(())
        }
        fn savepoint(&mut self, name: &str) -> Result<(), FakeError> {
            self.sql.push(format!("SAVEPOINT {name}"));
            Ok(())
        }
        fn release_savepoint(&mut self, name: &str) -> Result<(), FakeError> {
            self.sql.push(format!("RELEASE {name}"));
            Ok(())
        }
        fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), FakeError> {
            self.sql.push(format!("ROLLBACK TO {name}"));
            Ok(())
        }
    }

    #[test]
    fn reports_name_depth_outcome_and_retries() {
        take_reports();
        let mut db = Fake {
            busy_commits: 2,
            ..Fake::default()
        };
        let opts = Options::new().name("outer");
        let mut runs = 0;
        run_retrying(&mut db, &opts, 5, |db| {
            runs += 1;
            let inner = Options::new().name("inner");
            let failed: Result<(), FakeError> = run(db, &inner, |_| Err(FakeError::Body));
            assert_eq!(failed, Err(FakeError::Body));
            Ok::<_, FakeError>(())
        })
        .unwrap();
        assert_eq!(runs, 3);
        assert_eq!(
            db.sql,
            [
                "BEGIN",
                "SAVEPOINT keel_sp_1",
                "ROLLBACK TO keel_sp_1",
                "COMMIT (busy)",
                "ROLLBACK",
                "BEGIN",
                "SAVEPOINT keel_sp_1",
                "ROLLBACK TO keel_sp_1",
                "COMMIT (busy)",
                "ROLLBACK",
                "BEGIN",
                "SAVEPOINT keel_sp_1",
                "ROLLBACK TO keel_sp_1",
                "COMMIT",
            ]
        );
        let inner = ("inner", 1, Outcome::RolledBack, 0);
        assert_eq!(
            take_reports(),
            [inner, inner, inner, ("outer", 0, Outcome::Committed, 2)]
        );
    }

    #[test]
    fn retries_stop_at_the_limit_with_the_last_error() {
        take_reports();
        let mut db = Fake {
            busy_commits: 10,
            ..Fake::default()
        };
        let result = run_retrying(&mut db, &Options::new().name("t"), 2, |_| {
            Ok::<_, FakeError>(())
        });
        assert_eq!(result, Err(FakeError::Busy));
        assert_eq!(db.busy_commits, 7);
        assert!(!db.open);
        assert_eq!(take_reports(), [("t", 0, Outcome::RolledBack, 2)]);
    }

    #[test]
    fn nested_fail_is_reported_as_not_started() {
        take_reports();
        let mut db = Fake::default();
        let result = run(&mut db, &Options::new().name("outer"), |db| {
            run(
                db,
                &Options::new().name("inner").nested(Nested::Fail),
                |_| Ok::<_, FakeError>(()),
            )
        });
        assert_eq!(
            result,
            Err(FakeError::Tx(TxError::AlreadyInTransaction {
                name: "inner"
            }))
        );
        assert_eq!(
            take_reports(),
            [
                ("inner", 1, Outcome::NotStarted, 0),
                ("outer", 0, Outcome::RolledBack, 0)
            ]
        );
    }

    #[test]
    fn backoff_is_short_jittered_and_capped() {
        for n in 1..20 {
            let ceiling = Duration::from_millis(2u64 << (n - 1).min(5));
            let d = backoff(n);
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {n}: {d:?}");
        }
        assert!(backoff(30) <= Duration::from_millis(64));
        let samples: Vec<_> = (0..8).map(|_| backoff(3)).collect();
        assert!(
            samples.iter().any(|d| *d != samples[0]),
            "no jitter: {samples:?}"
        );
    }
}
