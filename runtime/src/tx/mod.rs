//! Scoped transactions on real databases: Python's `@contextmanager` `managed_transaction`, as a
//! function ([`run`]) and an attribute (`#[keel::transaction]`, which expands to [`run`]).
//!
//! A transaction begins, runs a body that returns `Result<T, E>`, and then:
//!
//! * `Ok` → **commit**; a failing commit becomes `Err` (and the transaction is rolled back);
//! * `Err` → **rollback**, and the body's own error is returned (a failing rollback never hides
//!   it);
//! * panic → **rollback**, then the panic continues.
//!
//! The body's error type `E` must convert from the connection's error (`E: From<C::Error>`) and
//! from keel's own [`TxError`] (`E: From<TxError>`): an audit hook that denies `tx.begin`, an
//! option the database does not support, `nested = "fail"` inside a transaction, or a
//! rollback-only outer transaction all come back as a [`TxError`] inside your `E`. With
//! `thiserror` that is one variant: `#[error(transparent)] Tx(#[from] keel::tx::TxError)`.
//!
//! **Nesting** ([`Nested`]): inside an open transaction a body runs under a `SAVEPOINT` (default),
//! joins the outer transaction, or fails. With `Join`, an inner failure marks the outer
//! transaction *rollback-only*: the outer body may catch the error and return `Ok`, but the outer
//! transaction then rolls back and returns [`TxError::RollbackOnly`] instead of committing.
//!
//! **Retry** ([`run_retrying`], `retry = N`): when the error is [`Transient`] (SQLite
//! `SQLITE_BUSY`/`SQLITE_LOCKED`, PostgreSQL SQLSTATE `40001`/`40P01`), the whole transaction is
//! rolled back and the body runs again, up to N more times, after a short jittered backoff
//! (about 1–2 ms, doubling per retry, at most 64 ms). Only the outermost transaction retries: an
//! inner one returns the error so the whole unit of work is re-run. When the last allowed
//! attempt fails too, the error goes through [`Transient::retries_exhausted`] (by default it is
//! returned unchanged; a `Box<dyn Error>` becomes a [`RetriesExhausted`] around it) and the span
//! says `retries exhausted` with the number of attempts. SQLite connections (rusqlite, and
//! sqlx's) wait up to their busy timeout, 5 s by default, before a lock conflict becomes
//! `SQLITE_BUSY`; only then does `retry` roll back and back off.
//!
//! **SQLite writers begin `IMMEDIATE`** ([`Behavior::Auto`], the default): a transaction that is
//! not `read_only` takes the write lock at `BEGIN` and waits there (busy timeout) before any work
//! is done. A `DEFERRED` writer would take a read lock and fail with `SQLITE_BUSY` when it
//! upgrades after another writer committed — a failure no waiting can save. Write
//! `behavior = "deferred"` for SQLite's own default. PostgreSQL is unaffected.
//!
//! **Async** (`run_async`, `#[keel::transaction]` on an `async fn`; features `tokio-postgres`
//! and `sqlx`): the same engine, with awaited driver calls, a `tokio::time::sleep` backoff and
//! cancellation safety (see `AsyncTransactional::rollback_on_drop`).
//!
//! **Audit**: `tx.begin`, `tx.commit` and `tx.rollback` are raised through [`crate::audit::emit`]
//! before the database is asked, with the transaction's `name`, `database` and nesting `depth`
//! (0 for the outermost). A hook that denies `tx.begin` stops the transaction before the body
//! runs; one that denies `tx.commit` makes it roll back instead. `tx.rollback` cannot be denied
//! (leaving a failed transaction open would be worse); hooks still see it.
//!
//! **Trace**: while [`keel::trace`](crate::trace) is enabled, every transaction is a span named
//! `keel::tx::<name>` (entry field `database`): its exit carries the duration, outcome `Ok` for
//! a commit or `Err("rolled back")` / `Err("not started")`, and a `"return"` field such as
//! `committed after 2 retries`, so the `Stats` sink tabulates transactions next to instrumented
//! functions; when retries ran out the outcome is `Err("retries exhausted")` and the field says
//! how many attempts ran. The span's call site is the caller's file and line (the function under
//! `#[keel::transaction]`, or the line calling [`run`]). While tracing is off this costs one
//! atomic load.
//!
//! Databases: SQLite through `rusqlite` (feature `sqlite`), PostgreSQL through `postgres`
//! (feature `postgres`); async: `tokio-postgres` (feature `tokio-postgres`) and sqlx's PostgreSQL
//! and SQLite (feature `sqlx`; sqlx 0.9 and rusqlite 0.40 link the same `libsqlite3-sys`, so both
//! SQLite drivers share one build); any other by implementing [`Transactional`] or
//! `AsyncTransactional`.
//!
//! **How it is built** (for whoever changes it): `engine.rs` is a state machine that decides
//! every step of a transaction (start, begin or savepoint, body, commit or release, rollback,
//! retry backoff) and performs none; `blocking.rs` ([`run`]) and `asynchronous.rs`
//! (`run_async`, and what `#[keel::transaction]` on an `async fn` inlines) are each one loop that
//! performs those steps on the connection. `frames.rs` keeps the open transactions per
//! connection, `report.rs` the trace span, `sql.rs` the SQL dialects; the driver files only
//! implement the connection traits.
//!
//! [`ExitStack`] is the dynamic companion: any number of guards and cleanup callbacks, undone in
//! reverse order.
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use keel_runtime::tx::{self, Options, TxError};
//!
//! #[derive(Debug)]
//! enum AppError { Db(rusqlite::Error), Tx(TxError) }
//! impl From<rusqlite::Error> for AppError { fn from(e: rusqlite::Error) -> Self { Self::Db(e) } }
//! impl From<TxError> for AppError { fn from(e: TxError) -> Self { Self::Tx(e) } }
//!
//! let mut conn = rusqlite::Connection::open_in_memory().unwrap();
//! conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
//!
//! const INSERT: Options = Options::new().name("insert");
//! let n = tx::run(&mut conn, &INSERT, |conn| -> Result<usize, AppError> {
//!     Ok(conn.execute("INSERT INTO t VALUES (1)", [])?)
//! })
//! .unwrap();
//! assert_eq!(n, 1);
//!
//! let failed = tx::run(&mut conn, &INSERT, |conn| -> Result<(), AppError> {
//!     conn.execute("INSERT INTO t VALUES (2)", [])?;
//!     conn.execute("INSERT INTO no_such_table VALUES (3)", [])?; // fails: everything rolls back
//!     Ok(())
//! });
//! assert!(matches!(failed, Err(AppError::Db(_))));
//! let count: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
//! assert_eq!(count, 1);
//! # }
//! ```

#[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
pub(crate) mod asynchronous;
pub(crate) mod blocking;
mod engine;
mod exit_stack;
mod frames;
mod options;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
mod postgres_error;
mod report;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlx")]
mod sqlx;
#[cfg(feature = "tokio-postgres")]
mod tokio_postgres;

#[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
pub use asynchronous::{AsyncTransactional, Ending, run_async, run_async_retrying};
pub use blocking::{run, run_retrying};
pub use exit_stack::{CallbackResult, ExitStack};
pub use options::{Behavior, Isolation, Nested, Options};

use crate::audit::Denied;

/// A connection that can begin, commit and roll back transactions and savepoints.
///
/// Implemented for `rusqlite::Connection` and `rusqlite::Transaction` (feature `sqlite`) and for
/// `postgres::Client` and `postgres::Transaction` (feature `postgres`). Implement it to plug in
/// another database; [`run`] does the rest (nesting, retry, audit, panic safety). Only
/// [`execute_sql`](Self::execute_sql) and the two queries are required: `BEGIN`, `COMMIT`, `ROLLBACK` and
/// the savepoint statements are provided on top of it, and a database overrides those it spells
/// differently. (The async drivers have [`AsyncTransactional`](crate::tx) with the same shape.)
///
/// ```
/// use keel_runtime::tx::{self, Options, Transactional, TxError};
///
/// /// A toy "database" that records the statements it was asked to run.
/// #[derive(Default)]
/// struct Log { sql: Vec<String>, open: bool }
///
/// impl Transactional for Log {
///     type Error = TxError;
///     fn database(&self) -> &'static str { "Log" }
///     fn in_transaction(&self) -> bool { self.open }
///     fn execute_sql(&mut self, sql: &str) -> Result<(), TxError> {
///         self.open = match sql { "BEGIN" => true, "COMMIT" | "ROLLBACK" => false, _ => self.open };
///         self.sql.push(sql.into());
///         Ok(())
///     }
/// }
///
/// let mut db = Log::default();
/// let out: Result<(), TxError> = tx::run(&mut db, &Options::new(), |db| {
///     tx::run(db, &Options::new(), |_| Ok::<_, TxError>(()))
/// });
/// out.unwrap();
/// assert_eq!(db.sql, ["BEGIN", "SAVEPOINT keel_sp_1", "RELEASE SAVEPOINT keel_sp_1", "COMMIT"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection keel can run transactions on",
    label = "this parameter is used as the transaction's connection",
    note = "keel::tx::Transactional is implemented for rusqlite::Connection (feature `sqlite`) and postgres::Client (feature `postgres`); an `async fn` takes tokio_postgres::Client (feature `tokio-postgres`) or sqlx's PgConnection / SqliteConnection (feature `sqlx`); implement it for other databases"
)]
pub trait Transactional {
    /// The database's error type.
    type Error;

    /// The database's name, for messages (`"SQLite"`, `"PostgreSQL"`).
    fn database(&self) -> &'static str;

    /// True when the connection is inside a transaction that keel did not begin (keel tracks its
    /// own transactions itself). Return `false` when the database cannot tell.
    fn in_transaction(&self) -> bool;

    /// Runs SQL that returns no rows (one statement or several separated by `;`): what the
    /// provided methods send.
    fn execute_sql(&mut self, sql: &str) -> Result<(), Self::Error>;

    /// Checks that the database supports `options` before anything is done; the default accepts
    /// only the defaults (no isolation level, read-write, a plain `BEGIN`).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use keel_runtime::tx::{Isolation, Options, Transactional};
    /// let conn = rusqlite::Connection::open_in_memory().unwrap();
    /// let err = conn.check(&Options::new().name("report").isolation(Isolation::ReadCommitted)).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "transaction `report`: SQLite does not support isolation = \"read_committed\" (SQLite transactions are always serializable)"
    /// );
    /// # }
    /// ```
    fn check(&self, options: &Options) -> Result<(), TxError> {
        sql::check_defaults(self.database(), options)
    }

    /// Begins a transaction with `options` (already accepted by [`check`](Self::check)).
    /// Default: `BEGIN`.
    fn begin(&mut self, options: &Options) -> Result<(), Self::Error> {
        let _ = options;
        self.execute_sql("BEGIN")
    }

    /// Commits the transaction begun with `options`. Default: `COMMIT`.
    fn commit(&mut self, options: &Options) -> Result<(), Self::Error> {
        let _ = options;
        self.execute_sql("COMMIT")
    }

    /// Rolls back the transaction begun with `options`. Default: `ROLLBACK`.
    fn rollback(&mut self, options: &Options) -> Result<(), Self::Error> {
        let _ = options;
        self.execute_sql("ROLLBACK")
    }

    /// `SAVEPOINT name`.
    fn savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.execute_sql(&sql::savepoint(name))
    }

    /// `RELEASE SAVEPOINT name` (keeps the inner work in the outer transaction).
    fn release_savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.execute_sql(&sql::release_savepoint(name))
    }

    /// `ROLLBACK TO SAVEPOINT name`, then releases it.
    fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.execute_sql(&sql::rollback_to_savepoint(name))
    }
}

/// The bound keel puts on a transaction's error type `E`: it must hold keel's own [`TxError`]
/// (`E: From<TxError>`). Implemented for every such type; its only purpose is to say so in
/// keel's words when `From<TxError>` is missing.
///
/// ```
/// use keel_runtime::tx::{FromTxError, TxError};
/// #[derive(Debug)]
/// enum AppError { Tx(TxError) }
/// impl From<TxError> for AppError { fn from(e: TxError) -> Self { Self::Tx(e) } }
/// fn holds<E: FromTxError>() {}
/// holds::<AppError>();
/// ```
#[diagnostic::on_unimplemented(
    message = "the transaction's error type `{Self}` cannot hold a `keel::tx::TxError`",
    label = "`{Self}` needs `impl From<keel::tx::TxError> for {Self}`",
    note = "keel returns its own errors (a denied audit event, an unsupported option, nested = \"fail\", rollback-only) inside the body's error type",
    note = "add a variant: `Tx(keel::tx::TxError)` with `impl From<keel::tx::TxError>`, or with thiserror `#[error(transparent)] Tx(#[from] keel::tx::TxError)`; `Box<dyn Error + Send + Sync>` also works"
)]
pub trait FromTxError: From<TxError> {}

impl<E: From<TxError>> FromTxError for E {}

/// Whether an error is worth retrying the whole transaction for (a lock conflict, a serialization
/// failure, a deadlock), as opposed to a bug or bad data.
///
/// Implemented for `rusqlite::Error` (`SQLITE_BUSY`, `SQLITE_LOCKED`, and their extended codes
/// such as `SQLITE_BUSY_SNAPSHOT`), `postgres::Error` / `tokio_postgres::Error` (SQLSTATE `40001`
/// serialization_failure, `40P01` deadlock_detected), `sqlx::Error` (both), [`TxError`] (never)
/// and `Box<dyn Error + Send + Sync>` (looks through the source chain for those). `retry = N`
/// needs it on the function's error type: implement it for your error type by forwarding:
///
/// ```
/// use keel_runtime::tx::{Transient, TxError};
/// enum AppError { Tx(TxError), NotFound }
/// impl Transient for AppError {
///     fn is_transient(&self) -> bool {
///         match self {
///             AppError::Tx(e) => e.is_transient(),
///             AppError::NotFound => false,
///         }
///     }
/// }
/// assert!(!AppError::NotFound.is_transient());
/// ```
#[diagnostic::on_unimplemented(
    message = "`retry` needs to know which errors of `{Self}` are worth retrying: `{Self}` does not implement `keel::tx::Transient`",
    label = "`{Self}` must implement `keel::tx::Transient`",
    note = "forward to the database error it wraps: `impl keel::tx::Transient for {Self} {{ fn is_transient(&self) -> bool {{ match self {{ Self::Db(e) => e.is_transient(), Self::Tx(e) => e.is_transient(), _ => false }} }} }}`",
    note = "rusqlite::Error, postgres::Error, tokio_postgres::Error, sqlx::Error, keel::tx::TxError and Box<dyn Error + Send + Sync> implement it"
)]
pub trait Transient {
    /// True when re-running the transaction may succeed.
    fn is_transient(&self) -> bool;

    /// Called once when `retry = N` gives up: the last allowed attempt failed with this
    /// transient error. `exhausted` says which transaction and how many attempts ran. The
    /// default returns the error unchanged (the driver's error, as without `retry`); override it
    /// to keep that fact in your error, next to the driver's error:
    ///
    /// ```
    /// use keel_runtime::tx::{Exhausted, Transient, TxError};
    /// #[derive(Debug)]
    /// enum AppError { Busy, Tx(TxError), GaveUp { exhausted: Exhausted, last: Box<AppError> } }
    /// impl Transient for AppError {
    ///     fn is_transient(&self) -> bool { matches!(self, Self::Busy) }
    ///     fn retries_exhausted(self, exhausted: Exhausted) -> Self {
    ///         Self::GaveUp { exhausted, last: Box::new(self) }
    ///     }
    /// }
    /// let e = AppError::Busy.retries_exhausted(Exhausted { name: "transfer", attempts: 4 });
    /// assert!(matches!(e, AppError::GaveUp { exhausted: Exhausted { attempts: 4, .. }, .. }));
    /// ```
    ///
    /// `Box<dyn Error + Send + Sync>` overrides it: the box then holds a [`RetriesExhausted`]
    /// whose source is the driver's error.
    fn retries_exhausted(self, exhausted: Exhausted) -> Self
    where
        Self: Sized,
    {
        let _ = exhausted;
        self
    }
}

/// What `retry = N` (or [`run_retrying`]) knows when it gives up: every allowed attempt failed
/// with a [`Transient`] error. Handed to [`Transient::retries_exhausted`]; the transaction's
/// trace span says the same (outcome `Err("retries exhausted")`).
///
/// ```
/// let e = keel_runtime::tx::Exhausted { name: "transfer", attempts: 4 };
/// assert_eq!(e.to_string(), "transaction `transfer` gave up after 4 attempts, each failed with a transient error");
/// assert_eq!(e.retries(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exhausted {
    /// The transaction's name.
    pub name: &'static str,
    /// How many times the body ran (the first attempt plus the retries).
    pub attempts: u32,
}

impl Exhausted {
    /// How many retries ran (`attempts - 1`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Exhausted { name: "t", attempts: 1 }.retries(), 0);
    /// ```
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "transaction `{}` gave up after {} attempt{}, each failed with a transient error",
            self.name,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" }
        )
    }
}

/// A boxed error that retries ran out on: what `Box<dyn Error + Send + Sync>`'s
/// [`Transient::retries_exhausted`] wraps the driver's error in. Its
/// [`source`](std::error::Error::source) is the driver's error, so
/// [`is_transient`](Transient::is_transient) still sees it.
///
/// ```
/// use keel_runtime::tx::{Exhausted, RetriesExhausted, Transient};
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// let last: BoxError = "database is locked".into();
/// let e = last.retries_exhausted(Exhausted { name: "t", attempts: 4 });
/// let gave_up = e.downcast_ref::<RetriesExhausted>().unwrap();
/// assert_eq!(gave_up.exhausted().attempts, 4);
/// assert_eq!(e.to_string(), "transaction `t` gave up after 4 attempts, each failed with a transient error: database is locked");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{exhausted}: {source}")]
pub struct RetriesExhausted {
    exhausted: Exhausted,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl RetriesExhausted {
    /// Which transaction, and how many attempts ran.
    pub fn exhausted(&self) -> Exhausted {
        self.exhausted
    }

    /// The last attempt's error (the driver's).
    pub fn into_source(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.source
    }
}

/// keel's own reasons a transaction did not happen or did not commit.
///
/// ```
/// let e = keel_runtime::tx::TxError::RollbackOnly { name: "transfer" };
/// assert_eq!(
///     e.to_string(),
///     "transaction `transfer` rolled back instead of committing: a joined inner transaction failed and marked it rollback-only"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// An audit hook denied `tx.begin` (nothing was done) or `tx.commit` (rolled back).
    #[error("transaction `{name}`: {denied}")]
    Denied {
        /// The transaction's name.
        name: &'static str,
        /// The hook's veto.
        #[source]
        denied: Denied,
    },
    /// The database does not support an option (checked before anything is done).
    #[error("transaction `{name}`: {database} does not support {option}{hint}")]
    Unsupported {
        /// The transaction's name.
        name: &'static str,
        /// The database (`"SQLite"`).
        database: &'static str,
        /// The option as written (`isolation = "read_committed"`).
        option: String,
        /// Extra explanation, starting with a space, or empty.
        hint: &'static str,
    },
    /// `nested = "fail"` and the connection was already inside a transaction.
    #[error(
        "transaction `{name}` has nested = \"fail\" but its connection is already inside a transaction"
    )]
    AlreadyInTransaction {
        /// The transaction's name.
        name: &'static str,
    },
    /// A joined inner transaction failed, so this one rolled back although its body returned `Ok`.
    #[error(
        "transaction `{name}` rolled back instead of committing: a joined inner transaction failed and marked it rollback-only"
    )]
    RollbackOnly {
        /// The transaction's name.
        name: &'static str,
    },
}

impl Transient for TxError {
    /// Never: keel's own errors do not go away by retrying.
    fn is_transient(&self) -> bool {
        false
    }
}

impl Transient for Box<dyn std::error::Error + Send + Sync> {
    /// Looks at the error and its sources for a transient database error.
    fn is_transient(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self.as_ref());
        while let Some(error) = next {
            #[cfg(feature = "sqlite")]
            if let Some(e) = error.downcast_ref::<::rusqlite::Error>() {
                return e.is_transient();
            }
            #[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
            if let Some(e) = error.downcast_ref::<postgres_error::PgError>() {
                return e.is_transient();
            }
            #[cfg(feature = "sqlx")]
            if let Some(e) = error.downcast_ref::<::sqlx::Error>() {
                return e.is_transient();
            }
            next = error.source();
        }
        false
    }

    /// Wraps the driver's error in a [`RetriesExhausted`] (its source).
    fn retries_exhausted(self, exhausted: Exhausted) -> Self {
        Box::new(RetriesExhausted {
            exhausted,
            source: self,
        })
    }
}
