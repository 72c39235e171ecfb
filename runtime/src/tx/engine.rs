//! The transaction engine: a state machine that decides, in order, every step a transaction takes
//! on its connection, and performs none of them. It never touches the database: the blocking
//! runner ([`run`](super::run)) and the async one ([`run_async`](super::run_async)) are each one
//! short loop that asks [`Engine`] for the next [`Step`], performs it on the connection (blocking
//! or awaited) and hands the result back. The order of steps is written once, here:
//!
//! ```text
//! Start ─┬─ outermost ──── Begin ──────┐                 ┌─ Ok ─── Commit / Release ─┬─ Ok ──────────────── Done
//!        ├─ nested ─────── Savepoint ──┼─ Ok ── Body ────┤                           └─ Err ─ (AskOpen) ─ Rollback(To) ─ Done
//!        ├─ joined ────────────────────│──────── Body ───┼─ Err / panic / rollback-only / commit denied ── Rollback(To) ── Done
//!        └─ refused (nested = "fail",  └─ Err ─ Done     └─ (joined: its failure marks the outer transaction rollback-only) ─ Done
//!           unsupported, tx.begin denied) ── Done
//! ```
//!
//! and an attempt that ends with a transient error, at the outermost level, with retries left,
//! yields `Backoff` and starts again. The engine also raises the audit events (`tx.begin`,
//! `tx.commit`, `tx.rollback`), keeps the frame of open keel transactions per connection
//! ([`frames`](super::frames)) and reports the trace span ([`report`](super::report)).

use super::frames::{self, FrameGuard, FrameStore};
use super::report::{Caller, Report, Settled, Traced};
use super::{Exhausted, Nested, Options, Transient, TxError};
use crate::audit;
use std::any::Any;
use std::panic::resume_unwind;
use std::time::{Duration, Instant};

/// The body's result, or the payload of its panic (resumed once the transaction is over).
pub(crate) type BodyResult<T, E> = Result<Result<T, E>, Box<dyn Any + Send>>;

/// What the runner does next on the connection, then reports back to the [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Look at the connection: [`Engine::start`] with `in_transaction()` and `check(options)`.
    Start,
    /// `BEGIN` with the options ([`Engine::after`]).
    Begin,
    /// `SAVEPOINT` [`Engine::savepoint`] ([`Engine::after`]).
    Savepoint,
    /// Run the body on the connection ([`Engine::returned`]).
    Body,
    /// `COMMIT` ([`Engine::after`]).
    Commit,
    /// `RELEASE SAVEPOINT` ([`Engine::after`]).
    Release,
    /// A failed `COMMIT` may have left the transaction open: [`Engine::still_open`] with
    /// `in_transaction()`.
    AskOpen,
    /// `ROLLBACK` ([`Engine::after`]; its error is dropped: the body's error wins).
    Rollback,
    /// `ROLLBACK TO SAVEPOINT` [`Engine::savepoint`] ([`Engine::after`], error dropped).
    RollbackTo,
    /// Wait this long (the retry backoff), then [`Step::Start`] again.
    Backoff(Duration),
    /// The transaction is over: [`Engine::finish`].
    Done,
}

/// What a dropped transaction leaves on its connection (what the async runner's cancellation
/// guard must undo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// Nothing: not begun, joined, or over.
    Nothing,
    /// Open, nothing sent to end it (the body is running).
    Open,
    /// Its `COMMIT`/`ROLLBACK`/`RELEASE`/`ROLLBACK TO` was issued, the reply not yet read.
    Issued,
}

/// Whether, and how often, an attempt that failed with a transient error runs again. Built
/// where `E: Transient` is known ([`Retry::up_to`]), so the engine itself needs no such bound.
pub(crate) struct Retry<E> {
    retries: u32,
    /// `None`: never retry, never "exhausted" (plain `run`).
    transient: Option<fn(&E) -> bool>,
    exhausted: fn(E, Exhausted) -> E,
}

impl<E> Retry<E> {
    /// One attempt, as `run` and `run_async` make.
    #[inline]
    pub fn never() -> Self {
        Self {
            retries: 0,
            transient: None,
            exhausted: |error, _| error,
        }
    }
}

impl<E: Transient> Retry<E> {
    /// Up to `retries` more attempts on a [`Transient`] error; when they run out, the error goes
    /// through [`Transient::retries_exhausted`].
    #[inline]
    pub fn up_to(retries: u32) -> Self {
        Self {
            retries,
            transient: Some(E::is_transient),
            exhausted: E::retries_exhausted,
        }
    }
}

/// Where the engine is between two steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before [`Engine::start`] (first attempt, or after a backoff).
    Idle,
    /// `BEGIN` or `SAVEPOINT` issued.
    Beginning,
    /// The body runs inside the transaction this engine began (its frame is pushed).
    InBody,
    /// The body runs inside the outer transaction (`nested = "join"`).
    Joined,
    /// `COMMIT` or `RELEASE` issued; the value waits in `result`.
    Committing,
    /// The commit failed; is the transaction still open?
    AskingOpen,
    /// `ROLLBACK` or `ROLLBACK TO` issued; what to return waits in `result`.
    RollingBack,
    /// Over: `result` and `settled` are final.
    Over,
}

/// One transaction (all its attempts) on one connection: decides every step, performs none.
/// `S` is where open transactions are kept (per thread for blocking runs, shared for async).
pub(crate) struct Engine<'o, T, E, S: FrameStore> {
    options: &'o Options,
    /// Known from the first [`Engine::start`].
    database: &'static str,
    key: usize,
    caller: Caller,
    retry: Retry<E>,
    retried: u32,
    exhausted: bool,
    /// Entered at the first [`Engine::start`].
    traced: Traced,
    depth: usize,
    savepoint: Option<String>,
    state: State,
    frame: Option<FrameGuard<S>>,
    result: Option<BodyResult<T, E>>,
    settled: Settled,
}

impl<'o, T, E, S: FrameStore> Engine<'o, T, E, S> {
    /// A transaction with `options` on the connection `key` (see [`frames::conn_key`]), called
    /// from `caller`. The first step is [`Step::Start`].
    #[inline(always)]
    pub fn new(options: &'o Options, key: usize, retry: Retry<E>, caller: Caller) -> Self {
        Self {
            options,
            database: "",
            key,
            caller,
            retry,
            retried: 0,
            exhausted: false,
            traced: Traced::not_started(),
            depth: 0,
            savepoint: None,
            state: State::Idle,
            frame: None,
            result: None,
            settled: Settled::NotStarted,
        }
    }

    /// The savepoint's name, for [`Step::Savepoint`], [`Step::Release`], [`Step::RollbackTo`].
    #[inline]
    pub fn savepoint(&self) -> &str {
        self.savepoint.as_deref().unwrap_or_default()
    }

    /// The savepoint this transaction runs under, if it is nested that way.
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx")),
        allow(dead_code)
    )]
    #[inline]
    pub fn open_savepoint(&self) -> Option<&str> {
        self.savepoint.as_deref()
    }

    /// What dropping the transaction now would leave on the connection.
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx")),
        allow(dead_code)
    )]
    #[inline]
    pub fn pending(&self) -> Pending {
        match self.state {
            State::InBody => Pending::Open,
            State::Committing | State::AskingOpen | State::RollingBack => Pending::Issued,
            State::Idle | State::Beginning | State::Joined | State::Over => Pending::Nothing,
        }
    }

    /// [`Step::Start`]: decides how the attempt starts from where the connection of `database`
    /// is (`in_transaction`: the driver's view; keel's own open transactions are in `S`) and
    /// raises `tx.begin` (a denial refuses). `check` asks the driver whether it supports the
    /// options (asked only for an outermost transaction). The first start enters the
    /// transaction's trace span.
    #[inline(always)]
    pub fn start(
        &mut self,
        database: &'static str,
        in_transaction: bool,
        check: impl FnOnce() -> Result<(), TxError>,
    ) -> Step
    where
        E: From<TxError>,
    {
        debug_assert_eq!(self.state, State::Idle);
        let options = self.options;
        if self.retried == 0 {
            self.database = database;
            self.traced = Traced::start(options, database, self.caller);
        }
        let keel_depth = frames::open_depth::<S>(self.key);
        let inside = keel_depth > 0 || in_transaction;
        self.depth = if inside { keel_depth.max(1) } else { 0 };
        let step = if inside {
            match options.nested {
                Nested::Savepoint => {
                    self.savepoint = Some(format!("keel_sp_{}", self.depth));
                    Step::Savepoint
                }
                Nested::Join => {
                    self.state = State::Joined;
                    return Step::Body;
                }
                Nested::Fail => {
                    let refused = TxError::AlreadyInTransaction { name: options.name };
                    return self.over(Settled::NotStarted, Ok(Err(refused.into())));
                }
            }
        } else if let Err(unsupported) = check() {
            return self.over(Settled::NotStarted, Ok(Err(unsupported.into())));
        } else {
            Step::Begin
        };
        if let Err(denied) = self.emit("tx.begin") {
            let denied = TxError::Denied {
                name: options.name,
                denied,
            };
            return self.over(Settled::NotStarted, Ok(Err(denied.into())));
        }
        self.state = State::Beginning;
        step
    }

    /// Keeps what the body returned until [`returned_kept`](Self::returned_kept) (for a runner
    /// that cannot convert errors where the body ends).
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx")),
        allow(dead_code)
    )]
    #[inline(always)]
    pub fn keep_returned(&mut self, result: BodyResult<T, E>) {
        debug_assert!(matches!(self.state, State::InBody | State::Joined));
        self.result = Some(result);
    }

    /// [`returned`](Self::returned) with what [`keep_returned`](Self::keep_returned) kept, if
    /// anything was kept.
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx")),
        allow(dead_code)
    )]
    #[inline(always)]
    pub fn returned_kept(&mut self) -> Option<Step>
    where
        E: From<TxError>,
    {
        if !matches!(self.state, State::InBody | State::Joined) {
            return None;
        }
        let result = self.result.take()?;
        Some(self.returned(result))
    }

    /// The body returned (or panicked), [`Step::Body`]: commit unless it failed, a joined inner
    /// transaction marked this one rollback-only, or a hook denies `tx.commit`.
    #[inline(always)]
    pub fn returned(&mut self, result: BodyResult<T, E>) -> Step
    where
        E: From<TxError>,
    {
        let failed = !matches!(result, Ok(Ok(_)));
        if self.state == State::Joined {
            if failed {
                frames::mark_rollback_only::<S>(self.key);
                return self.over(Settled::RolledBack, result);
            }
            return self.over(Settled::Committed, result);
        }
        debug_assert_eq!(self.state, State::InBody);
        let rollback_only = self.frame.take().is_some_and(FrameGuard::pop);
        let name = self.options.name;
        if failed {
            return self.roll_back(result);
        }
        if rollback_only {
            return self.roll_back(Ok(Err(TxError::RollbackOnly { name }.into())));
        }
        if let Err(denied) = self.emit("tx.commit") {
            return self.roll_back(Ok(Err(TxError::Denied { name, denied }.into())));
        }
        self.result = Some(result);
        self.state = State::Committing;
        self.nested_or(Step::Release, Step::Commit)
    }

    /// The result of [`Step::Begin`], [`Step::Savepoint`], [`Step::Commit`], [`Step::Release`],
    /// [`Step::Rollback`] or [`Step::RollbackTo`].
    #[inline(always)]
    pub fn after(&mut self, result: Result<(), E>) -> Step {
        match (self.state, result) {
            (State::Beginning, Ok(())) => {
                self.frame = Some(FrameGuard::push(self.key));
                self.state = State::InBody;
                Step::Body
            }
            (State::Beginning, Err(error)) => self.over(Settled::NotStarted, Ok(Err(error))),
            (State::Committing, Ok(())) => self.settled_with(Settled::Committed),
            (State::Committing, Err(error)) => {
                self.result = Some(Ok(Err(error)));
                if self.savepoint.is_some() {
                    self.emit_rollback();
                    self.state = State::RollingBack;
                    Step::RollbackTo
                } else {
                    self.state = State::AskingOpen;
                    Step::AskOpen
                }
            }
            // The body's error (or the failed commit's) wins over a failing rollback.
            (State::RollingBack, _) => {
                let result = self
                    .result
                    .take()
                    .expect("the result waits for the rollback");
                self.over(Settled::RolledBack, result)
            }
            (state, _) => unreachable!("no step is pending in state {state:?}"),
        }
    }

    /// [`Step::AskOpen`]: a failed `COMMIT` that left the transaction open (SQLite: `BUSY`) is
    /// rolled back.
    #[inline(always)]
    pub fn still_open(&mut self, open: bool) -> Step {
        debug_assert_eq!(self.state, State::AskingOpen);
        if open {
            self.emit_rollback();
            self.state = State::RollingBack;
            Step::Rollback
        } else {
            self.settled_with(Settled::RolledBack)
        }
    }

    /// Reports the transaction and returns its result (resuming a panic), after [`Step::Done`].
    #[inline(always)]
    pub fn finish(&mut self) -> Result<T, E> {
        debug_assert_eq!(self.state, State::Over);
        let report = Report {
            name: self.options.name,
            depth: self.depth,
            settled: self.settled,
            retries: self.retried,
            exhausted: self.exhausted,
        };
        self.traced.finish(report);
        match self.result.take().expect("the transaction is over") {
            Ok(result) => result,
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Raises `tx.rollback`, then rolls back with `result` to return.
    #[inline(always)]
    fn roll_back(&mut self, result: BodyResult<T, E>) -> Step {
        self.emit_rollback();
        self.result = Some(result);
        self.state = State::RollingBack;
        self.nested_or(Step::RollbackTo, Step::Rollback)
    }

    #[inline]
    fn nested_or(&self, savepoint: Step, top: Step) -> Step {
        if self.savepoint.is_some() {
            savepoint
        } else {
            top
        }
    }

    /// The attempt is over with `result`: retry it (backoff, then start again), or end the
    /// transaction.
    #[inline(always)]
    fn over(&mut self, settled: Settled, result: BodyResult<T, E>) -> Step {
        self.result = Some(result);
        self.settled_with(settled)
    }

    /// The attempt is over with what `self.result` holds (not moved on the way).
    #[inline(always)]
    fn settled_with(&mut self, settled: Settled) -> Step {
        let transient = match (&self.result, self.retry.transient) {
            (Some(Ok(Err(error))), Some(is_transient)) => self.depth == 0 && is_transient(error),
            _ => false,
        };
        if transient {
            if self.retried < self.retry.retries {
                self.retried += 1;
                self.result = None;
                self.state = State::Idle;
                self.savepoint = None;
                return Step::Backoff(backoff(self.retried));
            }
            self.exhausted = true;
            let exhausted = Exhausted {
                name: self.options.name,
                attempts: self.retried + 1,
            };
            if let Some(Ok(Err(error))) = self.result.take() {
                self.result = Some(Ok(Err((self.retry.exhausted)(error, exhausted))));
            }
        }
        self.settled = settled;
        self.state = State::Over;
        Step::Done
    }

    /// Raises `tx.rollback`. Informational: a rollback always happens, whatever a hook says
    /// (leaving a failed transaction open would be worse).
    fn emit_rollback(&self) {
        let _ = self.emit("tx.rollback");
    }

    /// Emits an audit event for this transaction.
    fn emit(&self, event: &str) -> Result<(), audit::Denied> {
        audit::emit(
            event,
            &[
                ("name", &self.options.name),
                ("database", &self.database),
                ("depth", &self.depth),
            ],
        )
    }
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

#[cfg(test)]
mod tests {
    //! The step sequence of every start × outcome × nesting case, with no database: a scripted
    //! connection answers each step, and the test reads the steps the engine asked for.

    use super::*;
    use crate::tx::frames::ThreadFrames;
    use crate::tx::report::REPORTS;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    #[derive(Debug, PartialEq)]
    enum Error {
        Busy,
        Bad,
        CommitFailed,
        GaveUp(Exhausted),
        Tx(TxError),
    }

    impl From<TxError> for Error {
        fn from(e: TxError) -> Self {
            Self::Tx(e)
        }
    }

    impl Transient for Error {
        fn is_transient(&self) -> bool {
            matches!(self, Self::Busy)
        }
        fn retries_exhausted(self, exhausted: Exhausted) -> Self {
            Self::GaveUp(exhausted)
        }
    }

    /// Where the transaction starts.
    #[derive(Clone, Copy, Debug)]
    enum Start {
        /// Outermost.
        Top,
        /// Inside a keel transaction on the same connection, `nested = "savepoint"`.
        Savepoint,
        /// Inside a keel transaction, `nested = "join"`.
        Join,
        /// Inside a transaction begun by hand (`in_transaction`), `nested = "join"`.
        JoinByHand,
        /// Inside a keel transaction, `nested = "fail"`.
        Fail,
        /// Outermost, with an option the database refuses.
        Unsupported,
    }

    /// How each step goes: the body's results in order (one per attempt; the last repeats),
    /// whether begin/commit/rollback fail, whether a failed commit leaves the transaction open.
    #[derive(Clone, Copy, Debug)]
    struct Script {
        body: &'static [Body],
        begin_fails: bool,
        commit_fails: bool,
        left_open: bool,
        rollback_fails: bool,
    }

    #[derive(Clone, Copy, Debug)]
    enum Body {
        Ok,
        Transient,
        Permanent,
        Panic,
    }

    const OK: Script = Script {
        body: &[Body::Ok],
        begin_fails: false,
        commit_fails: false,
        left_open: true,
        rollback_fails: false,
    };

    /// Which step of a script fails.
    #[derive(Clone, Copy, Debug)]
    enum Fail {
        Begin,
        Commit,
        /// The commit fails and leaves no transaction open.
        CommitClosed,
        Rollback,
    }

    impl Script {
        fn failing(mut self, at: Fail) -> Self {
            match at {
                Fail::Begin => self.begin_fails = true,
                Fail::Commit => self.commit_fails = true,
                Fail::CommitClosed => (self.commit_fails, self.left_open) = (true, false),
                Fail::Rollback => self.rollback_fails = true,
            }
            self
        }
    }

    const KEY: usize = 0x5eed;

    /// Runs the engine against the script the way both runners do, returning the steps asked
    /// for, the result (a panic as `Err("panic")`), and, when nested, whether the outer frame was
    /// marked rollback-only.
    fn drive(
        start: Start,
        retries: Option<u32>,
        script: Script,
    ) -> (Vec<Step>, Result<Result<u32, Error>, &'static str>, bool) {
        let options = match start {
            Start::Join | Start::JoinByHand => Options::new().nested(Nested::Join),
            Start::Fail => Options::new().nested(Nested::Fail),
            _ => Options::new(),
        };
        let options = &*Box::leak(Box::new(options.name("t")));
        let outer = matches!(start, Start::Savepoint | Start::Join | Start::Fail)
            .then(|| FrameGuard::<ThreadFrames>::push(KEY));
        let retry = retries.map_or_else(Retry::never, Retry::up_to);
        let caller = std::panic::Location::caller();
        let mut engine = Engine::<u32, Error, ThreadFrames>::new(options, KEY, retry, caller);
        let mut steps = Vec::new();
        let mut attempt = 0;
        let mut step = Step::Start;
        loop {
            steps.push(step);
            step = match step {
                Step::Start => {
                    engine.start("Fake", matches!(start, Start::JoinByHand), || match start {
                        Start::Unsupported => Err(TxError::Unsupported {
                            name: "t",
                            database: "Fake",
                            option: "read_only".into(),
                            hint: "",
                        }),
                        _ => Ok(()),
                    })
                }
                Step::Begin | Step::Savepoint if script.begin_fails => {
                    engine.after(Err(Error::Busy))
                }
                Step::Begin | Step::Savepoint => engine.after(Ok(())),
                Step::Body => {
                    let body = script.body[attempt.min(script.body.len() - 1)];
                    attempt += 1;
                    let result = catch_unwind(AssertUnwindSafe(|| match body {
                        Body::Ok => Ok(7),
                        Body::Transient => Err(Error::Busy),
                        Body::Permanent => Err(Error::Bad),
                        Body::Panic => std::panic::panic_any("boom"),
                    }));
                    engine.returned(result)
                }
                Step::Commit | Step::Release if script.commit_fails => {
                    engine.after(Err(Error::CommitFailed))
                }
                Step::Commit | Step::Release => engine.after(Ok(())),
                Step::AskOpen => engine.still_open(script.left_open),
                Step::Rollback | Step::RollbackTo if script.rollback_fails => {
                    engine.after(Err(Error::Bad))
                }
                Step::Rollback | Step::RollbackTo => engine.after(Ok(())),
                Step::Backoff(wait) => {
                    assert!(wait <= Duration::from_millis(64));
                    Step::Start
                }
                Step::Done => break,
            };
        }
        let result = catch_unwind(AssertUnwindSafe(|| engine.finish()))
            .map_err(|panic| *panic.downcast::<&'static str>().unwrap());
        let marked = outer.is_some_and(FrameGuard::pop);
        assert_eq!(
            frames::open_depth::<ThreadFrames>(KEY),
            0,
            "frames left behind"
        );
        (steps, result, marked)
    }

    fn last_report() -> Report {
        REPORTS.with_borrow(|r| *r.last().unwrap())
    }

    use Step::*;
    const BACKOFF: Step = Step::Backoff(Duration::ZERO);

    /// Backoff durations are jittered: compare them by kind.
    fn kinds(steps: &[Step]) -> Vec<Step> {
        steps
            .iter()
            .map(|s| match s {
                Step::Backoff(_) => BACKOFF,
                other => *other,
            })
            .collect()
    }

    fn script(body: &'static [Body]) -> Script {
        Script { body, ..OK }
    }

    #[test]
    fn top_level_body_ok_commits() {
        let (steps, result, _) = drive(Start::Top, None, OK);
        assert_eq!(steps, [Start, Begin, Body, Commit, Done]);
        assert_eq!(result, Ok(Ok(7)));
        assert_eq!(last_report().settled, Settled::Committed);
    }

    #[test]
    fn top_level_body_err_rolls_back_with_the_body_error() {
        for body in [&[Body::Transient][..], &[Body::Permanent]] {
            let (steps, result, _) = drive(Start::Top, None, script(body));
            assert_eq!(steps, [Start, Begin, Body, Rollback, Done]);
            let expected = if matches!(body[0], Body::Transient) {
                Error::Busy
            } else {
                Error::Bad
            };
            assert_eq!(result, Ok(Err(expected)));
            let report = last_report();
            assert_eq!(
                (report.settled, report.exhausted),
                (Settled::RolledBack, false)
            );
        }
    }

    #[test]
    fn top_level_panic_rolls_back_then_resumes() {
        let (steps, result, _) = drive(Start::Top, None, script(&[Body::Panic]));
        assert_eq!(steps, [Start, Begin, Body, Rollback, Done]);
        assert_eq!(result, Err("boom"));
        assert_eq!(last_report().settled, Settled::RolledBack);
    }

    #[test]
    fn a_failed_begin_is_not_started() {
        let failing = OK.failing(Fail::Begin);
        let (steps, result, _) = drive(Start::Top, None, failing);
        assert_eq!(steps, [Start, Begin, Done]);
        assert_eq!(result, Ok(Err(Error::Busy)));
        assert_eq!(last_report().settled, Settled::NotStarted);
        let (steps, _, marked) = drive(Start::Savepoint, None, failing);
        assert_eq!(steps, [Start, Savepoint, Done]);
        assert!(!marked);
    }

    #[test]
    fn a_failed_commit_rolls_back_when_the_transaction_is_still_open() {
        let open = OK.failing(Fail::Commit);
        let (steps, result, _) = drive(Start::Top, None, open);
        assert_eq!(steps, [Start, Begin, Body, Commit, AskOpen, Rollback, Done]);
        assert_eq!(result, Ok(Err(Error::CommitFailed)));
        let closed = open.failing(Fail::CommitClosed);
        let (steps, result, _) = drive(Start::Top, None, closed);
        assert_eq!(steps, [Start, Begin, Body, Commit, AskOpen, Done]);
        assert_eq!(result, Ok(Err(Error::CommitFailed)));
        assert_eq!(last_report().settled, Settled::RolledBack);
        // A failed RELEASE always rolls back to the savepoint.
        let (steps, result, marked) = drive(Start::Savepoint, None, open);
        assert_eq!(steps, [Start, Savepoint, Body, Release, RollbackTo, Done]);
        assert_eq!(result, Ok(Err(Error::CommitFailed)));
        assert!(!marked);
    }

    #[test]
    fn a_failed_rollback_never_hides_the_body_error() {
        let failing = script(&[Body::Permanent]).failing(Fail::Rollback);
        let (steps, result, _) = drive(Start::Top, None, failing);
        assert_eq!(steps, [Start, Begin, Body, Rollback, Done]);
        assert_eq!(result, Ok(Err(Error::Bad)));
        let (steps, result, _) = drive(Start::Savepoint, None, failing);
        assert_eq!(steps, [Start, Savepoint, Body, RollbackTo, Done]);
        assert_eq!(result, Ok(Err(Error::Bad)));
        let panicking = script(&[Body::Panic]).failing(Fail::Rollback);
        let (_, result, _) = drive(Start::Top, None, panicking);
        assert_eq!(result, Err("boom"));
    }

    #[test]
    fn nested_savepoint_releases_or_rolls_back_to_it_without_touching_the_outer() {
        for (body, expected, last) in [
            (Body::Ok, Ok(Ok(7)), Release),
            (Body::Permanent, Ok(Err(Error::Bad)), RollbackTo),
            (Body::Panic, Err("boom"), RollbackTo),
        ] {
            let body: &'static [Body] = Box::leak(Box::new([body]));
            let (steps, result, marked) = drive(Start::Savepoint, None, script(body));
            assert_eq!(steps, [Start, Savepoint, Body, last, Done]);
            assert_eq!(result, expected);
            assert!(!marked, "a savepoint never marks the outer transaction");
            assert_eq!(last_report().depth, 1);
        }
    }

    #[test]
    fn a_nested_transient_error_is_not_retried_there() {
        let (steps, result, _) = drive(Start::Savepoint, Some(3), script(&[Body::Transient]));
        assert_eq!(steps, [Start, Savepoint, Body, RollbackTo, Done]);
        assert_eq!(result, Ok(Err(Error::Busy)), "not exhausted either");
        assert!(!last_report().exhausted);
    }

    #[test]
    fn joined_bodies_run_without_statements_and_a_failure_marks_the_outer() {
        let (steps, result, marked) = drive(Start::Join, None, OK);
        assert_eq!(steps, [Start, Body, Done]);
        assert_eq!(result, Ok(Ok(7)));
        assert!(!marked);
        assert_eq!(last_report().settled, Settled::Committed);
        for body in [Body::Permanent, Body::Transient, Body::Panic] {
            let body: &'static [Body] = Box::leak(Box::new([body]));
            let (steps, _, marked) = drive(Start::Join, Some(3), script(body));
            assert_eq!(steps, [Start, Body, Done], "{body:?}");
            assert!(marked, "{body:?}");
            assert_eq!(last_report().settled, Settled::RolledBack);
        }
        // Inside a transaction begun by hand there is no keel frame to mark.
        let (steps, result, _) = drive(Start::JoinByHand, None, script(&[Body::Permanent]));
        assert_eq!(steps, [Start, Body, Done]);
        assert_eq!(result, Ok(Err(Error::Bad)));
    }

    #[test]
    fn refusals_do_nothing_and_are_not_started() {
        let (steps, result, _) = drive(Start::Fail, Some(3), OK);
        assert_eq!(steps, [Start, Done]);
        assert_eq!(
            result,
            Ok(Err(Error::Tx(TxError::AlreadyInTransaction { name: "t" })))
        );
        assert_eq!(last_report().settled, Settled::NotStarted);
        let (steps, result, _) = drive(Start::Unsupported, None, OK);
        assert_eq!(steps, [Start, Done]);
        assert!(matches!(
            result,
            Ok(Err(Error::Tx(TxError::Unsupported { .. })))
        ));
    }

    #[test]
    fn an_outer_body_ok_after_a_joined_failure_rolls_back_rollback_only() {
        let options = Options::new().name("outer");
        let caller = std::panic::Location::caller();
        let mut outer =
            Engine::<u32, Error, ThreadFrames>::new(&options, KEY, Retry::never(), caller);
        assert_eq!(outer.start("Fake", false, || Ok(())), Begin);
        assert_eq!(outer.after(Ok(())), Body);
        // A joined inner transaction fails inside the outer body...
        let options = Options::new().name("inner").nested(Nested::Join);
        let mut inner =
            Engine::<u32, Error, ThreadFrames>::new(&options, KEY, Retry::never(), caller);
        assert_eq!(inner.start("Fake", true, || Ok(())), Body);
        assert_eq!(inner.returned(Ok(Err(Error::Bad))), Done);
        assert_eq!(inner.finish(), Err(Error::Bad));
        // ...and the outer body, catching it, returns Ok.
        assert_eq!(outer.returned(Ok(Ok(1))), Rollback);
        assert_eq!(outer.pending(), Pending::Issued);
        assert_eq!(outer.after(Ok(())), Done);
        assert_eq!(
            outer.finish(),
            Err(Error::Tx(TxError::RollbackOnly { name: "outer" }))
        );
    }

    #[test]
    fn transient_errors_retry_the_outermost_transaction_then_give_up() {
        let (steps, result, _) = drive(Start::Top, Some(3), script(&[Body::Transient, Body::Ok]));
        assert_eq!(
            kinds(&steps),
            [
                Start, Begin, Body, Rollback, BACKOFF, Start, Begin, Body, Commit, Done
            ]
        );
        assert_eq!(result, Ok(Ok(7)));
        let report = last_report();
        assert_eq!((report.retries, report.exhausted), (1, false));

        let (steps, result, _) = drive(Start::Top, Some(2), script(&[Body::Transient]));
        assert_eq!(steps.iter().filter(|s| **s == Body).count(), 3);
        assert_eq!(
            result,
            Ok(Err(Error::GaveUp(Exhausted {
                name: "t",
                attempts: 3
            })))
        );
        let report = last_report();
        assert_eq!((report.retries, report.exhausted), (2, true));

        // A failed BEGIN (SQLite BEGIN IMMEDIATE: BUSY) and a failed COMMIT retry too.
        let begin = OK.failing(Fail::Begin);
        let (steps, _, _) = drive(Start::Top, Some(1), begin);
        assert_eq!(kinds(&steps), [Start, Begin, BACKOFF, Start, Begin, Done]);
        assert!(last_report().exhausted);
        assert_eq!(last_report().settled, Settled::NotStarted);
    }

    #[test]
    fn permanent_errors_and_panics_are_never_retried() {
        for body in [Body::Permanent, Body::Panic] {
            let body: &'static [Body] = Box::leak(Box::new([body]));
            let (steps, _, _) = drive(Start::Top, Some(5), script(body));
            assert_eq!(steps, [Start, Begin, Body, Rollback, Done]);
            assert_eq!((last_report().retries, last_report().exhausted), (0, false));
        }
    }

    #[test]
    fn without_retry_a_transient_error_is_returned_as_it_is() {
        let (_, result, _) = drive(Start::Top, None, script(&[Body::Transient]));
        assert_eq!(result, Ok(Err(Error::Busy)));
        let (_, result, _) = drive(Start::Top, Some(0), script(&[Body::Transient]));
        assert_eq!(
            result,
            Ok(Err(Error::GaveUp(Exhausted {
                name: "t",
                attempts: 1
            }))),
            "retry = 0 gives up after its one attempt"
        );
    }

    #[test]
    fn pending_says_what_a_drop_would_leave() {
        let options = Options::new();
        let caller = std::panic::Location::caller();
        let mut tx = Engine::<u32, Error, ThreadFrames>::new(&options, KEY, Retry::never(), caller);
        assert_eq!(tx.pending(), Pending::Nothing);
        assert_eq!(tx.start("Fake", false, || Ok(())), Begin);
        assert_eq!(tx.pending(), Pending::Nothing, "the driver guards BEGIN");
        assert_eq!(tx.after(Ok(())), Body);
        assert_eq!(tx.pending(), Pending::Open);
        assert_eq!(tx.returned(Ok(Ok(1))), Commit);
        assert_eq!(tx.pending(), Pending::Issued);
        assert_eq!(tx.after(Ok(())), Done);
        assert_eq!(tx.pending(), Pending::Nothing);
        assert_eq!(tx.finish(), Ok(1));
        // Dropped while the body runs: its frame goes with it.
        let mut dropped =
            Engine::<u32, Error, ThreadFrames>::new(&options, KEY, Retry::never(), caller);
        dropped.start("Fake", false, || Ok(()));
        dropped.after(Ok(()));
        assert_eq!(frames::open_depth::<ThreadFrames>(KEY), 1);
        drop(dropped);
        assert_eq!(frames::open_depth::<ThreadFrames>(KEY), 0);
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
