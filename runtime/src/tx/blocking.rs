//! [`run`] and [`run_retrying`]: the blocking runner. [`Engine`] decides every step; [`perform`]
//! is the one loop that performs them with blocking driver calls.

use super::engine::{BodyResult, Engine, Retry, Step};
use super::frames::{ThreadFrames, conn_key};
use super::{FromTxError, Options, Transactional, Transient};
use std::panic::{AssertUnwindSafe, Location, catch_unwind};

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
#[track_caller]
pub fn run<C, T, E, F>(conn: &mut C, options: &Options, body: F) -> Result<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + FromTxError,
    F: FnOnce(&mut C) -> Result<T, E>,
{
    let mut body = Some(body);
    perform(conn, options, Retry::never(), Location::caller(), |conn| {
        let body = body.take().expect("run's body runs once (no retry)");
        catch_unwind(AssertUnwindSafe(|| body(conn)))
    })
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
#[track_caller]
pub fn run_retrying<C, T, E, F>(
    conn: &mut C,
    options: &Options,
    retries: u32,
    mut body: F,
) -> Result<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + FromTxError + Transient,
    F: FnMut(&mut C) -> Result<T, E>,
{
    perform(
        conn,
        options,
        Retry::up_to(retries),
        Location::caller(),
        |conn| catch_unwind(AssertUnwindSafe(|| body(conn))),
    )
}

/// The blocking runner: performs the engine's steps on `conn` until it is done.
#[inline]
fn perform<C, T, E>(
    conn: &mut C,
    options: &Options,
    retry: Retry<E>,
    caller: super::report::Caller,
    mut body: impl FnMut(&mut C) -> BodyResult<T, E>,
) -> Result<T, E>
where
    C: Transactional + ?Sized,
    E: From<C::Error> + FromTxError,
{
    let key = conn_key(conn);
    let mut tx = Engine::<T, E, ThreadFrames>::new(options, key, retry, caller);
    let mut step = Step::Start;
    loop {
        step = match step {
            Step::Start => tx.start(conn.database(), conn.in_transaction(), || {
                conn.check(options)
            }),
            Step::Begin => tx.after(conn.begin(options).map_err(E::from)),
            Step::Savepoint => tx.after(conn.savepoint(tx.savepoint()).map_err(E::from)),
            Step::Body => tx.returned(body(conn)),
            Step::Commit => tx.after(conn.commit(options).map_err(E::from)),
            Step::Release => tx.after(conn.release_savepoint(tx.savepoint()).map_err(E::from)),
            Step::AskOpen => tx.still_open(conn.in_transaction()),
            Step::Rollback => tx.after(conn.rollback(options).map_err(E::from)),
            Step::RollbackTo => {
                tx.after(conn.rollback_to_savepoint(tx.savepoint()).map_err(E::from))
            }
            Step::Backoff(wait) => {
                std::thread::sleep(wait);
                Step::Start
            }
            Step::Done => return tx.finish(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::report::{REPORTS, Settled as Outcome};
    use crate::tx::{Nested, Transient, TxError};

    fn take_reports() -> Vec<(&'static str, usize, Outcome, u32)> {
        REPORTS
            .with_borrow_mut(std::mem::take)
            .into_iter()
            .map(|r| (r.name, r.depth, r.settled, r.retries))
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

    impl Fake {
        fn busy(busy_commits: u32) -> Self {
            Self {
                busy_commits,
                ..Self::default()
            }
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
        fn execute_sql(&mut self, sql: &str) -> Result<(), FakeError> {
            match sql {
                "BEGIN" => self.open = true,
                "ROLLBACK" => self.open = false,
                "COMMIT" if self.busy_commits > 0 => {
                    self.busy_commits -= 1;
                    self.sql.push("COMMIT (busy)".into());
                    return Err(FakeError::Busy);
                }
                "COMMIT" => self.open = false,
                _ => {}
            }
            self.sql.push(sql.into());
            Ok(())
        }
    }

    #[test]
    fn reports_name_depth_outcome_and_retries() {
        take_reports();
        let mut db = Fake::busy(2);
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
                "ROLLBACK TO SAVEPOINT keel_sp_1; RELEASE SAVEPOINT keel_sp_1",
                "COMMIT (busy)",
                "ROLLBACK",
                "BEGIN",
                "SAVEPOINT keel_sp_1",
                "ROLLBACK TO SAVEPOINT keel_sp_1; RELEASE SAVEPOINT keel_sp_1",
                "COMMIT (busy)",
                "ROLLBACK",
                "BEGIN",
                "SAVEPOINT keel_sp_1",
                "ROLLBACK TO SAVEPOINT keel_sp_1; RELEASE SAVEPOINT keel_sp_1",
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
        let mut db = Fake::busy(10);
        let result = run_retrying(&mut db, &Options::new().name("t"), 2, |_| {
            Ok::<_, FakeError>(())
        });
        assert_eq!(result, Err(FakeError::Busy));
        assert_eq!(db.busy_commits, 7);
        assert!(!db.open);
        let exhausted = REPORTS.with_borrow(|r| r.iter().map(|r| r.exhausted).collect::<Vec<_>>());
        assert_eq!(exhausted, [true]);
        assert_eq!(take_reports(), [("t", 0, Outcome::RolledBack, 2)]);
    }

    #[test]
    fn a_permanent_error_or_a_success_is_not_exhausted() {
        take_reports();
        let mut db = Fake::busy(1);
        run_retrying(&mut db, &Options::new().name("ok"), 2, |_| {
            Ok::<_, FakeError>(())
        })
        .unwrap();
        let failed = run_retrying(&mut db, &Options::new().name("bad"), 2, |_| {
            Err::<(), _>(FakeError::Body)
        });
        assert_eq!(failed, Err(FakeError::Body));
        let exhausted = REPORTS.with_borrow(|r| r.iter().map(|r| r.exhausted).collect::<Vec<_>>());
        assert_eq!(exhausted, [false, false]);
        assert_eq!(
            take_reports(),
            [
                ("ok", 0, Outcome::Committed, 1),
                ("bad", 0, Outcome::RolledBack, 0)
            ]
        );
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
}
