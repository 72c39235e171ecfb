//! The transaction engine both forms share: what to do when a transaction starts (begin, open a
//! savepoint, join, or refuse), what to do when its body ends (commit or roll back), the audit
//! events, the `keel::tx::<name>` trace span, the retry decision and its backoff, and the stack of
//! open keel transactions per connection. [`run`](super::run) drives it with blocking calls,
//! [`run_async`](super::run_async) with awaited ones; neither decides anything on its own.

use super::{Nested, Options, Transient, TxError};
use crate::audit;
#[cfg(feature = "trace")]
use crate::trace::{self, CallSite, Span};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::resume_unwind;
#[cfg(any(test, feature = "trace", feature = "tokio-postgres", feature = "sqlx"))]
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How a transaction ended (crate-private: the trace span's outcome carries it outside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    /// Committed (or, nested, its savepoint released / its joined work kept).
    Committed,
    /// Rolled back: the body failed or panicked, the commit failed or was denied, or a joined
    /// inner transaction marked it rollback-only.
    RolledBack,
    /// Never began: `tx.begin` denied, an unsupported option, `nested = "fail"`, or `BEGIN`
    /// itself failed.
    NotStarted,
}

/// What one call of `run` / `run_async` (retries included) did: what the trace span reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(test, feature = "trace")), allow(dead_code))] // read by the span and tests
pub(crate) struct Report {
    pub name: &'static str,
    pub depth: usize,
    pub outcome: Outcome,
    pub retries: u32,
    /// `retry` gave up: the last allowed attempt failed with a transient error.
    pub exhausted: bool,
}

#[cfg(test)]
thread_local! {
    /// Every report made on this thread (unit tests only).
    pub(crate) static REPORTS: RefCell<Vec<Report>> = const { RefCell::new(Vec::new()) };
}

/// The body's result, or the payload of its panic (resumed once the transaction is over).
pub(crate) type BodyResult<T, E> = Result<Result<T, E>, Box<dyn Any + Send>>;

/// One run of the body, with what is needed to report and maybe retry it.
pub(crate) struct Attempt<T, E> {
    pub result: BodyResult<T, E>,
    pub depth: usize,
    pub outcome: Outcome,
}

impl<T, E> Attempt<T, E> {
    pub fn not_started(depth: usize, error: E) -> Self {
        Self {
            result: Ok(Err(error)),
            depth,
            outcome: Outcome::NotStarted,
        }
    }

    pub fn rolled_back(depth: usize, result: BodyResult<T, E>) -> Self {
        Self {
            result,
            depth,
            outcome: Outcome::RolledBack,
        }
    }

    pub fn committed(depth: usize, value: T) -> Self {
        Self {
            result: Ok(Ok(value)),
            depth,
            outcome: Outcome::Committed,
        }
    }

    /// A joined body ran inside the outer transaction: its failure marks that one rollback-only.
    pub fn joined<S: FrameStore>(key: usize, depth: usize, result: BodyResult<T, E>) -> Self {
        let failed = !matches!(result, Ok(Ok(_)));
        if failed {
            mark_rollback_only::<S>(key);
        }
        Self {
            result,
            depth,
            outcome: if failed {
                Outcome::RolledBack
            } else {
                Outcome::Committed
            },
        }
    }

    /// True when this is the outermost transaction and the body's error is transient: worth
    /// another attempt, if any are left.
    fn retryable(&self) -> bool
    where
        E: Transient,
    {
        self.depth == 0 && matches!(&self.result, Ok(Err(e)) if e.is_transient())
    }

    /// Retry when retries are left, this is the outermost transaction and the body's error is
    /// transient.
    pub fn should_retry(&self, retried: u32, retries: u32) -> bool
    where
        E: Transient,
    {
        retried < retries && self.retryable()
    }
}

/// How a transaction starts on its connection.
pub(crate) enum Start {
    /// `BEGIN` with the transaction's options.
    Begin,
    /// `SAVEPOINT <name>` inside the open transaction.
    Savepoint(String),
    /// Run the body inside the open transaction, without a savepoint.
    Join,
    /// Do nothing; the error comes back as the body's.
    Refuse(TxError),
}

/// Decides how a transaction starts, checking options and raising `tx.begin` (a denial refuses).
/// `keel_depth` counts keel's transactions open on the connection; `in_transaction` is the
/// driver's view; `check` asks the driver whether it supports `options`.
pub(crate) fn start(
    options: &Options,
    database: &'static str,
    keel_depth: usize,
    in_transaction: bool,
    check: impl FnOnce() -> Result<(), TxError>,
) -> (usize, Start) {
    let inside = keel_depth > 0 || in_transaction;
    let depth = if inside { keel_depth.max(1) } else { 0 };
    let start = if inside {
        match options.nested {
            Nested::Savepoint => Start::Savepoint(format!("keel_sp_{depth}")),
            Nested::Join => return (depth, Start::Join),
            Nested::Fail => {
                let refused = TxError::AlreadyInTransaction { name: options.name };
                return (depth, Start::Refuse(refused));
            }
        }
    } else if let Err(unsupported) = check() {
        return (depth, Start::Refuse(unsupported));
    } else {
        Start::Begin
    };
    match emit("tx.begin", options, database, depth) {
        Ok(()) => (depth, start),
        Err(denied) => {
            let denied = TxError::Denied {
                name: options.name,
                denied,
            };
            (depth, Start::Refuse(denied))
        }
    }
}

/// What to do once the body returned (or panicked).
pub(crate) enum Settle<T, E> {
    /// Commit (or release the savepoint), then return the value.
    Commit(T),
    /// Roll back (to the savepoint), then return this.
    Rollback(BodyResult<T, E>),
}

/// Decides commit or rollback and raises `tx.commit` / `tx.rollback` before the database is
/// asked: a failing body, a panic, a rollback-only mark or a denied `tx.commit` roll back.
pub(crate) fn settle<T, E>(
    result: BodyResult<T, E>,
    rollback_only: bool,
    options: &Options,
    database: &'static str,
    depth: usize,
    tx_error: fn(TxError) -> E,
) -> Settle<T, E> {
    let rollback = |result| {
        emit_rollback(options, database, depth);
        Settle::Rollback(result)
    };
    match result {
        Ok(Ok(_)) if rollback_only => rollback(Ok(Err(tx_error(TxError::RollbackOnly {
            name: options.name,
        })))),
        Ok(Ok(value)) => match emit("tx.commit", options, database, depth) {
            Ok(()) => Settle::Commit(value),
            Err(denied) => rollback(Ok(Err(tx_error(TxError::Denied {
                name: options.name,
                denied,
            })))),
        },
        other => rollback(other),
    }
}

/// Raises `tx.rollback`. Informational: a rollback always happens, whatever a hook says
/// (leaving a failed transaction open would be worse).
pub(crate) fn emit_rollback(options: &Options, database: &'static str, depth: usize) {
    let _ = emit("tx.rollback", options, database, depth);
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

/// Where a transaction was called from: the user's function (`#[track_caller]` on the entry
/// points carries it in), reported as the span's file and line.
pub(crate) type Caller = &'static std::panic::Location<'static>;

/// The trace span and start time of one `run` (all its attempts).
pub(crate) struct Traced {
    #[cfg(feature = "trace")]
    span: Span,
}

impl Traced {
    /// Enters the `keel::tx::<name>` span: call site made on first use while tracing is on, with
    /// the database as an entry field. Inactive, and one atomic load, while tracing is off and no thread captures.
    #[inline]
    pub fn start(options: &Options, database: &'static str, caller: Caller) -> Self {
        #[cfg(feature = "trace")]
        let span = if trace::may_trace() {
            Span::enter_with(call_site(options.name, caller), &[("database", &database)])
        } else {
            Span::inactive()
        };
        #[cfg(not(feature = "trace"))]
        let _ = (options, database, caller);
        Self {
            #[cfg(feature = "trace")]
            span,
        }
    }

    /// Like [`finish`](Self::finish) for a retrying run that stopped after `retried` retries:
    /// when the attempt was worth another one, retries are exhausted, and the error goes
    /// through [`Transient::retries_exhausted`].
    #[inline]
    pub fn finish_retrying<T, E: Transient>(
        self,
        options: &Options,
        mut attempt: Attempt<T, E>,
        retried: u32,
    ) -> Result<T, E> {
        let exhausted = attempt.retryable();
        if exhausted && let Ok(Err(error)) = attempt.result {
            let exhausted = super::Exhausted {
                name: options.name,
                attempts: retried + 1,
            };
            attempt.result = Ok(Err(error.retries_exhausted(exhausted)));
        }
        self.report(options, attempt, retried, exhausted)
    }

    /// Reports the transaction and hands its result back (resuming a panic).
    #[inline]
    pub fn finish<T, E>(
        self,
        options: &Options,
        attempt: Attempt<T, E>,
        retries: u32,
    ) -> Result<T, E> {
        self.report(options, attempt, retries, false)
    }

    #[inline]
    fn report<T, E>(
        self,
        options: &Options,
        attempt: Attempt<T, E>,
        retries: u32,
        exhausted: bool,
    ) -> Result<T, E> {
        let report = Report {
            name: options.name,
            depth: attempt.depth,
            outcome: attempt.outcome,
            retries,
            exhausted,
        };
        #[cfg(test)]
        REPORTS.with_borrow_mut(|reports| reports.push(report));
        #[cfg(feature = "trace")]
        finish_span(self.span, &report);
        #[cfg(not(feature = "trace"))]
        let _ = report;
        match attempt.result {
            Ok(result) => result,
            Err(panic) => resume_unwind(panic),
        }
    }
}

/// Ends the transaction's `keel::trace` span with its outcome (`Ok` for a commit,
/// `Err("rolled back")`, `Err("retries exhausted")` or `Err("not started")` otherwise) and a
/// `"return"` field such as `committed after 2 retries` or
/// `rolled back after 3 retries (retries exhausted, 4 attempts)`.
#[cfg(feature = "trace")]
#[inline]
fn finish_span(span: Span, report: &Report) {
    if !span.is_active() {
        return;
    }
    let summary = summary(report);
    let outcome = match report.outcome {
        Outcome::Committed => trace::Outcome::Ok,
        Outcome::RolledBack if report.exhausted => trace::Outcome::Err("retries exhausted".into()),
        Outcome::RolledBack => trace::Outcome::Err("rolled back".into()),
        Outcome::NotStarted => trace::Outcome::Err("not started".into()),
    };
    span.finish_with_value(outcome, &format_args!("{summary}"));
}

/// The span's `"return"` field: `committed`, `rolled back after 1 retry`,
/// `rolled back after 3 retries (retries exhausted, 4 attempts)`.
#[cfg_attr(not(any(test, feature = "trace")), allow(dead_code))]
fn summary(report: &Report) -> String {
    let verb = match report.outcome {
        Outcome::Committed => "committed",
        Outcome::RolledBack => "rolled back",
        Outcome::NotStarted => "not started",
    };
    let mut summary = match report.retries {
        0 => verb.to_owned(),
        1 => format!("{verb} after 1 retry"),
        n => format!("{verb} after {n} retries"),
    };
    if report.exhausted {
        let attempts = report.retries + 1;
        let s = if attempts == 1 { "" } else { "s" };
        summary.push_str(&format!(" (retries exhausted, {attempts} attempt{s})"));
    }
    summary
}

/// The call site for transactions named `name` called from `caller`. Names and locations come
/// from the program's source, so the set is finite: each pair is created (and leaked) once.
#[cfg(feature = "trace")]
fn call_site(name: &'static str, caller: Caller) -> &'static CallSite {
    use std::collections::BTreeMap;
    type Key = (&'static str, &'static str, u32, u32);
    static SITES: Mutex<BTreeMap<Key, &'static CallSite>> = Mutex::new(BTreeMap::new());
    let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (name, caller.file(), caller.line(), caller.column());
    sites.entry(key).or_insert_with(|| {
        let qualified: &'static str = Box::leak(format!("keel::tx::{name}").into_boxed_str());
        Box::leak(Box::new(CallSite::new(
            qualified,
            "keel::tx",
            caller.file(),
            caller.line(),
        )))
    })
}

/// The wait before retry number `n` (1-based): 1–2 ms, doubling, capped at 64 ms, uniformly
/// jittered so two contending transactions do not retry in lockstep.
pub(crate) fn backoff(n: u32) -> Duration {
    let ceiling = Duration::from_millis(2u64 << n.saturating_sub(1).min(5));
    ceiling.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in `[0, 1)`, different on every call (std's per-instance random hasher keys).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// One keel transaction open on a connection (keyed by the connection's address, stable while
/// the transaction borrows it).
pub(crate) struct Frame {
    conn: usize,
    rollback_only: bool,
}

/// Where the open keel transactions are kept.
pub(crate) trait FrameStore {
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R;
}

/// Blocking transactions: the frames of this thread (a blocking body never leaves it).
pub(crate) struct ThreadFrames;

thread_local! {
    static THREAD_FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

impl FrameStore for ThreadFrames {
    #[inline]
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R {
        THREAD_FRAMES.with_borrow_mut(f)
    }
}

/// Async transactions: one process-wide list, since a task moves between worker threads at any
/// `.await`. Short critical sections (a push, a pop, a scan of the few open transactions).
#[cfg(any(feature = "tokio-postgres", feature = "sqlx", test))]
pub(crate) struct SharedFrames;

#[cfg(any(feature = "tokio-postgres", feature = "sqlx", test))]
impl FrameStore for SharedFrames {
    fn with<R>(f: impl FnOnce(&mut Vec<Frame>) -> R) -> R {
        static FRAMES: Mutex<Vec<Frame>> = Mutex::new(Vec::new());
        f(&mut FRAMES.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The connection's key in a [`FrameStore`].
pub(crate) fn conn_key<C: ?Sized>(conn: &C) -> usize {
    (conn as *const C).cast::<()>() as usize
}

/// How many keel transactions are open on `key`.
pub(crate) fn open_depth<S: FrameStore>(key: usize) -> usize {
    S::with(|frames| frames.iter().filter(|f| f.conn == key).count())
}

/// Marks the innermost keel transaction on `key` rollback-only (a joined body failed).
fn mark_rollback_only<S: FrameStore>(key: usize) {
    S::with(|frames| {
        if let Some(frame) = frames.iter_mut().rev().find(|f| f.conn == key) {
            frame.rollback_only = true;
        }
    });
}

/// The frame of one open transaction; removed on drop, so the stack stays right when a database
/// call panics or the transaction's future is dropped.
pub(crate) struct FrameGuard<S: FrameStore> {
    key: usize,
    store: PhantomData<fn() -> S>,
}

impl<S: FrameStore> FrameGuard<S> {
    pub fn push(key: usize) -> Self {
        S::with(|frames| {
            frames.push(Frame {
                conn: key,
                rollback_only: false,
            })
        });
        Self {
            key,
            store: PhantomData,
        }
    }

    /// Removes the frame; true when a joined inner transaction marked it rollback-only.
    pub fn pop(self) -> bool {
        let key = self.key;
        std::mem::forget(self);
        remove::<S>(key)
    }
}

impl<S: FrameStore> Drop for FrameGuard<S> {
    fn drop(&mut self) {
        remove::<S>(self.key);
    }
}

/// Removes the innermost frame on `key`.
fn remove<S: FrameStore>(key: usize) -> bool {
    S::with(|frames| match frames.iter().rposition(|f| f.conn == key) {
        Some(i) => frames.remove(i).rollback_only,
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn shared_frames_pop_their_own_connection() {
        let (a, b) = (0x1000, 0x2000);
        let fa = FrameGuard::<SharedFrames>::push(a);
        let fb = FrameGuard::<SharedFrames>::push(b);
        mark_rollback_only::<SharedFrames>(a);
        assert_eq!(open_depth::<SharedFrames>(a), 1);
        assert!(fa.pop(), "a's mark went to a");
        assert_eq!(open_depth::<SharedFrames>(b), 1);
        drop(fb);
        assert_eq!(open_depth::<SharedFrames>(b), 0);
    }
}
