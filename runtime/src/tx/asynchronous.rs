//! [`run_async`] and [`run_async_retrying`]: the async runner. The engine (`engine.rs`) decides
//! every step, exactly as for the blocking [`run`](super::run); [`AsyncTransaction::next_body`]
//! is the one loop that performs them with awaited driver calls.
//!
//! **Cancellation.** A transaction future may be dropped at any `.await`: a timeout, a
//! `select!`, a client that went away. From the moment `BEGIN` (or `SAVEPOINT`) has succeeded
//! until its `COMMIT`/`ROLLBACK` completes, the future holds a guard; dropping the future drops
//! the guard, which calls [`AsyncTransactional::rollback_on_drop`] *synchronously*. Each driver
//! queues the rollback on the connection's own request queue, so it reaches the database before
//! anything the connection is asked next (and before a pool hands the connection to someone
//! else):
//!
//! * `tokio_postgres::Client`: the `ROLLBACK` (or `ROLLBACK TO SAVEPOINT`) is handed to the
//!   client's request channel in the drop itself, ahead of any later query on that client.
//! * sqlx (`PgConnection`, `SqliteConnection`, a `PoolConnection` of either): sqlx's own
//!   `TransactionManager::start_rollback`, the mechanism `sqlx::Transaction`'s drop uses; sqlx
//!   sends it before the connection's next statement, and a pool sends it (`ping`) when the
//!   connection comes back.
//!
//! A `BEGIN` interrupted before its reply is rolled back the same way (both drivers guard it). The
//! dropped work therefore never commits — with one exception no client can close: a future dropped
//! while its own `COMMIT` is in flight (already sent, reply not yet read) ends the way the server
//! decided, exactly as when a connection is lost during `COMMIT`.
//!
//! **Runtime.** The drivers need tokio; the retry backoff is `tokio::time::sleep` (never a blocking
//! sleep), so a retried transaction must run inside a tokio runtime with the time driver on
//! (`#[tokio::main]` and `#[tokio::test]` have it). Without `retry`, the engine itself uses no
//! runtime: a custom [`AsyncTransactional`] works on any executor.

use super::engine::{BodyResult, Engine, Pending, Retry, Step};
use super::frames::{SharedFrames, conn_key};
use super::{FromTxError, Options, Transient, TxError, sql};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An async connection that can begin, commit and roll back transactions and savepoints: the
/// async twin of [`Transactional`](super::Transactional), same shape, same provided methods.
///
/// Implemented for `tokio_postgres::Client` (feature `tokio-postgres`) and for sqlx's
/// `PgConnection`, `SqliteConnection` and `PoolConnection` of either (feature `sqlx`). To plug in
/// another driver, implement [`execute_sql`](Self::execute_sql) and
/// [`rollback_on_drop`](Self::rollback_on_drop) (the cancellation hook) and the two queries.
///
/// ```
/// use keel_runtime::tx::{self, AsyncTransactional, Ending, Options, TxError};
/// use std::future::Future;
///
/// /// A toy "database" that records the statements it was asked to run.
/// #[derive(Default)]
/// struct Log { sql: Vec<String>, open: bool }
///
/// impl AsyncTransactional for Log {
///     type Error = TxError;
///     fn database(&self) -> &'static str { "Log" }
///     fn in_transaction(&self) -> bool { self.open }
///     fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), TxError>> + Send {
///         self.open = match sql { "BEGIN" => true, "COMMIT" | "ROLLBACK" => false, _ => self.open };
///         self.sql.push(sql.into());
///         std::future::ready(Ok(()))
///     }
///     fn rollback_on_drop(&mut self, _: &Options, _: Option<&str>, ending: Ending) {
///         if ending == Ending::Open { self.sql.push("ROLLBACK (queued)".into()); self.open = false; }
///     }
/// }
///
/// let mut db = Log::default();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let out: Result<u32, TxError> = rt.block_on(
///     tx::run_async(&mut db, &Options::new(), async |db| {
///         db.execute_sql("INSERT ...").await?;
///         Ok(7)
///     }),
/// );
/// assert_eq!(out, Ok(7));
/// assert_eq!(db.sql, ["BEGIN", "INSERT ...", "COMMIT"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection keel can run async transactions on",
    label = "this parameter is used as the transaction's connection",
    note = "an `async fn` transaction takes `&mut tokio_postgres::Client` (feature `tokio-postgres`), or `&mut sqlx::PgConnection`, `&mut sqlx::SqliteConnection`, `&mut sqlx::pool::PoolConnection<_>` (feature `sqlx`); rusqlite and postgres connections are blocking: use a plain `fn` (in `tokio::task::spawn_blocking`)"
)]
pub trait AsyncTransactional: Send {
    /// The database's error type.
    type Error: Send;

    /// The database's name, for messages (`"SQLite"`, `"PostgreSQL"`).
    fn database(&self) -> &'static str;

    /// True when the connection is inside a transaction that keel did not begin. Return `false`
    /// when the driver cannot tell.
    fn in_transaction(&self) -> bool;

    /// Runs SQL that returns no rows: what the provided methods send.
    fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Called, synchronously, when a transaction future is dropped between a successful
    /// `BEGIN`/`SAVEPOINT` (`savepoint` is `Some(name)` for the latter) and the completion of its
    /// end. Must arrange that the transaction (or savepoint) is rolled back before the connection
    /// runs anything else, without blocking. `ending` says whether the end statement had already
    /// been issued.
    fn rollback_on_drop(&mut self, options: &Options, savepoint: Option<&str>, ending: Ending);

    /// Checks that the database supports `options` before anything is done; the default accepts
    /// only the defaults (no isolation level, read-write, a plain `BEGIN`).
    fn check(&self, options: &Options) -> Result<(), TxError> {
        sql::check_defaults(self.database(), options)
    }

    /// Begins a transaction with `options`. Default: `BEGIN`.
    fn begin(&mut self, options: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = options;
        self.execute_sql("BEGIN")
    }

    /// Commits. Default: `COMMIT`.
    fn commit(
        &mut self,
        _options: &Options,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.execute_sql("COMMIT")
    }

    /// Rolls back. Default: `ROLLBACK`.
    fn rollback(
        &mut self,
        _options: &Options,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.execute_sql("ROLLBACK")
    }

    /// `SAVEPOINT name`.
    fn savepoint(&mut self, name: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async move { self.execute_sql(&sql::savepoint(name)).await }
    }

    /// `RELEASE SAVEPOINT name`.
    fn release_savepoint(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async move { self.execute_sql(&sql::release_savepoint(name)).await }
    }

    /// `ROLLBACK TO SAVEPOINT name`, then releases it.
    fn rollback_to_savepoint(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async move { self.execute_sql(&sql::rollback_to_savepoint(name)).await }
    }
}

/// Where a dropped transaction future was, for [`AsyncTransactional::rollback_on_drop`].
///
/// ```
/// assert_ne!(keel_runtime::tx::Ending::Open, keel_runtime::tx::Ending::Issued);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The transaction was open and nothing had been sent to end it (the body was running).
    Open,
    /// Its `COMMIT`, `ROLLBACK`, `RELEASE` or `ROLLBACK TO` had been issued; the reply was
    /// awaited.
    Issued,
}

/// Runs `body` in a transaction on `conn`, asynchronously: [`run`](super::run)'s contract
/// (commit on `Ok`, rollback on `Err` or panic, nesting, audit events, trace span, the same
/// [`TxError`]s), plus cancellation safety: a future dropped before it completes never commits
/// and never leaves the connection inside a transaction (see the [module docs](super) and
/// [`AsyncTransactional::rollback_on_drop`]).
///
/// This is what `#[keel::transaction]` on an `async fn` (without `retry`) expands to. The body is
/// an async closure that gets the connection back; the returned future is `Send` whenever the
/// body's is, so it can be given to `tokio::spawn`.
///
/// ```no_run
/// # #[cfg(feature = "tokio-postgres")]
/// # async fn demo(client: &mut tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use keel_runtime::tx::{self, Options};
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// let n = tx::run_async(client, &Options::new().name("batch"), async |c| -> Result<u64, BoxError> {
///     let n = c.execute("INSERT INTO events (kind) VALUES ('a'), ('b')", &[]).await?;
///     Ok(n)
/// })
/// .await?;
/// assert_eq!(n, 2);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn run_async<C, T, E, F>(
    conn: &mut C,
    options: &Options,
    body: F,
) -> impl Future<Output = Result<T, E>>
where
    C: AsyncTransactional + ?Sized,
    E: From<C::Error> + FromTxError,
    F: AsyncFnOnce(&mut C) -> Result<T, E>,
{
    let mut tx = AsyncTransaction::new(options, conn);
    async move {
        let mut body = Some(body);
        while tx.next_body().await {
            let body = body.take().expect("run_async's body runs once (no retry)");
            let result = catch_unwind(body(tx.conn())).await;
            tx.returned(result);
        }
        tx.finish()
    }
}

/// Like [`run_async`], and when the transaction fails with a [`Transient`] error (PostgreSQL
/// SQLSTATE `40001`/`40P01`, SQLite `BUSY`/`LOCKED`/`BUSY_SNAPSHOT`), rolls it back and runs
/// `body` again, up to `retries` more times, after a jittered backoff (about 1–2 ms, doubling, at
/// most 64 ms) awaited with `tokio::time::sleep`, so no worker thread is blocked. Only an
/// outermost transaction retries. `body` is `AsyncFnMut`: it must not move out of its captures.
///
/// ```no_run
/// # #[cfg(feature = "sqlx")]
/// # async fn demo(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
/// use keel_runtime::tx::{self, Options, TxError};
/// #[derive(Debug)]
/// enum AppError { Db(sqlx::Error), Tx(TxError) }
/// impl From<sqlx::Error> for AppError { fn from(e: sqlx::Error) -> Self { Self::Db(e) } }
/// impl From<TxError> for AppError { fn from(e: TxError) -> Self { Self::Tx(e) } }
/// impl tx::Transient for AppError {
///     fn is_transient(&self) -> bool {
///         match self { Self::Db(e) => e.is_transient(), Self::Tx(e) => e.is_transient() }
///     }
/// }
///
/// let mut attempts = 0;
/// let done = tx::run_async_retrying(conn, &Options::new().name("bump"), 3, async |c| -> Result<u64, AppError> {
///     attempts += 1;
///     Ok(sqlx::query("UPDATE counters SET n = n + 1").execute(&mut *c).await?.rows_affected())
/// })
/// .await;
/// assert!(done.is_ok() && attempts >= 1);
/// # Ok(()) }
/// ```
#[track_caller]
pub fn run_async_retrying<C, T, E, F>(
    conn: &mut C,
    options: &Options,
    retries: u32,
    mut body: F,
) -> impl Future<Output = Result<T, E>>
where
    C: AsyncTransactional + ?Sized,
    E: From<C::Error> + FromTxError + Transient,
    F: AsyncFnMut(&mut C) -> Result<T, E>,
{
    let mut tx = AsyncTransaction::retrying(options, conn, retries);
    async move {
        while tx.next_body().await {
            let result = catch_unwind(body(tx.conn())).await;
            tx.returned(result);
        }
        tx.finish()
    }
}

/// The identity, with the bound `#[keel::transaction]` on an `async fn` needs its connection
/// parameter to meet (so a parameter that is not an async connection is reported there).
#[doc(hidden)]
#[inline(always)]
pub fn async_connection<C: AsyncTransactional + ?Sized>(conn: &mut C) -> &mut C {
    conn
}

/// One async transaction on its connection: what `run_async` and the expansion of
/// `#[keel::transaction]` on an `async fn` both drive, in one loop:
///
/// ```text
/// let mut tx = AsyncTransaction::new(&OPTIONS, conn);   // or ::retrying(&OPTIONS, conn, N)
/// while tx.next_body().await {
///     let result = catch_unwind(async { let conn = tx.conn(); <body> }).await;
///     tx.returned(result);
/// }
/// tx.finish()
/// ```
///
/// [`next_body`](Self::next_body) performs the engine's steps (begin, commit, rollback, the
/// retry backoff...) until the body is to run or the transaction is over. The attribute inlines
/// this loop rather than calling `run_async`, so the body is an `async` block of the user's
/// function, not a generic async closure: rustc then proves the function's future `Send` from
/// concrete types (a generic `AsyncFnOnce` body that borrows from its caller trips rustc's
/// "implementation of `Send` is not general enough"). Dropped while the transaction is open (the
/// future was cancelled), it makes the connection roll back before its next use: the
/// cancellation guard, [`AsyncTransactional::rollback_on_drop`].
///
/// Only [`next_body`](Self::next_body) needs `C` to be a connection and `E` to hold its errors,
/// so a wrong connection or error type is reported once, there.
#[doc(hidden)]
pub struct AsyncTransaction<'c, 'o, C: ?Sized, T, E> {
    conn: &'c mut C,
    options: &'o Options,
    /// Also keeps the body's result until the next [`next_body`](Self::next_body).
    engine: Engine<'o, T, E, SharedFrames>,
    /// `C::rollback_on_drop`, set with the engine (where `C: AsyncTransactional` is known).
    on_drop: Option<OnDrop<C>>,
}

impl<'c, 'o, C: ?Sized, T, E> AsyncTransaction<'c, 'o, C, T, E> {
    /// A transaction with `options` on `conn`, run once; the span reports the caller's location.
    #[inline]
    #[track_caller]
    pub fn new(options: &'o Options, conn: &'c mut C) -> Self {
        Self::with(options, conn, Retry::never())
    }

    /// Like [`new`](Self::new), retried up to `retries` more times on a [`Transient`] error.
    #[inline]
    #[track_caller]
    pub fn retrying(options: &'o Options, conn: &'c mut C, retries: u32) -> Self
    where
        E: Transient,
    {
        Self::with(options, conn, Retry::up_to(retries))
    }

    #[inline]
    #[track_caller]
    fn with(options: &'o Options, conn: &'c mut C, retry: Retry<E>) -> Self {
        let caller = std::panic::Location::caller();
        Self {
            engine: Engine::new(options, conn_key(conn), retry, caller),
            conn,
            options,
            on_drop: None,
        }
    }

    /// The connection, for the body.
    #[inline]
    pub fn conn(&mut self) -> &mut C {
        self.conn
    }

    /// What the body returned (or its panic), for the next [`next_body`](Self::next_body).
    #[inline]
    pub fn returned(&mut self, result: BodyResult<T, E>) {
        self.engine.keep_returned(result);
    }

    /// Reports the transaction and returns its result (resuming a panic), once
    /// [`next_body`](Self::next_body) said `false`.
    #[inline]
    pub fn finish(mut self) -> Result<T, E> {
        self.engine.finish()
    }

    /// The async runner: performs the engine's steps on the connection until the body is to
    /// run (`true`: run it on [`conn`](Self::conn), then [`returned`](Self::returned)) or the
    /// transaction is over (`false`: [`finish`](Self::finish)).
    pub async fn next_body(&mut self) -> bool
    where
        C: AsyncTransactional,
        E: From<C::Error> + FromTxError,
    {
        let options = self.options;
        let conn = &mut *self.conn;
        self.on_drop = Some(C::rollback_on_drop);
        let tx = &mut self.engine;
        let mut step = tx.returned_kept().unwrap_or(Step::Start);
        loop {
            step = match step {
                Step::Start => tx.start(conn.database(), conn.in_transaction(), || {
                    conn.check(options)
                }),
                Step::Begin => tx.after(conn.begin(options).await.map_err(E::from)),
                Step::Savepoint => {
                    let begun = conn.savepoint(tx.savepoint()).await;
                    tx.after(begun.map_err(E::from))
                }
                Step::Body => return true,
                Step::Commit => tx.after(conn.commit(options).await.map_err(E::from)),
                Step::Release => {
                    let released = conn.release_savepoint(tx.savepoint()).await;
                    tx.after(released.map_err(E::from))
                }
                Step::AskOpen => tx.still_open(conn.in_transaction()),
                Step::Rollback => tx.after(conn.rollback(options).await.map_err(E::from)),
                Step::RollbackTo => {
                    let rolled_back = conn.rollback_to_savepoint(tx.savepoint()).await;
                    tx.after(rolled_back.map_err(E::from))
                }
                Step::Backoff(wait) => {
                    // Boxed: tokio's `Sleep` is large, and inline it would grow every
                    // transaction's future for the sake of the rare retry.
                    Box::pin(tokio::time::sleep(wait)).await;
                    Step::Start
                }
                Step::Done => return false,
            };
        }
    }
}

/// [`AsyncTransactional::rollback_on_drop`] of the connection type.
type OnDrop<C> = fn(&mut C, &Options, Option<&str>, Ending);

impl<C: ?Sized, T, E> Drop for AsyncTransaction<'_, '_, C, T, E> {
    fn drop(&mut self) {
        let (tx, Some(on_drop)) = (&self.engine, self.on_drop) else {
            return;
        };
        let ending = match tx.pending() {
            Pending::Nothing => return,
            Pending::Open => Ending::Open,
            Pending::Issued => Ending::Issued,
        };
        on_drop(self.conn, self.options, tx.open_savepoint(), ending);
    }
}

/// Wraps the body's future so that a panic is caught: the transaction rolls back, then the
/// panic resumes. Pins the body's output type, so `?` inside an `async` block knows its error
/// type.
#[doc(hidden)]
#[inline]
pub fn catch_unwind<R, F: Future<Output = R>>(future: F) -> CatchUnwind<F> {
    CatchUnwind { future }
}

pin_project_lite::pin_project! {
    /// Polls a future, turning a panic into `Err(payload)` (the transaction rolls back, then the
    /// panic resumes).
    #[doc(hidden)]
    pub struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
