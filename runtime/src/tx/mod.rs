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
//! inner one returns the error so the whole unit of work is re-run.
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
//! functions. While tracing is off this costs one atomic load.
//!
//! Databases: SQLite through `rusqlite` (feature `sqlite`), PostgreSQL through `postgres`
//! (feature `postgres`); any other by implementing [`Transactional`].
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

mod exit_stack;
mod options;
#[cfg(feature = "postgres")]
mod postgres;
pub(crate) mod run;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use exit_stack::{CallbackResult, ExitStack};
pub use options::{Behavior, Isolation, Nested, Options};
pub use run::{Outcome, Report, run, run_retrying};

use crate::audit::Denied;

/// A connection that can begin, commit and roll back transactions and savepoints.
///
/// Implemented for `rusqlite::Connection` and `rusqlite::Transaction` (feature `sqlite`) and for
/// `postgres::Client` and `postgres::Transaction` (feature `postgres`). Implement it to plug in
/// another database; [`run`] does the rest (nesting, retry, audit, panic safety).
///
/// ```
/// use keel_runtime::tx::{self, Options, Transactional, TxError};
///
/// /// A toy "database" that records the statements it was asked to run.
/// #[derive(Default)]
/// struct Log { sql: Vec<String>, depth: usize }
///
/// impl Transactional for Log {
///     type Error = TxError;
///     fn database(&self) -> &'static str { "Log" }
///     fn in_transaction(&self) -> bool { self.depth > 0 }
///     fn begin(&mut self, _: &Options) -> Result<(), TxError> { self.depth += 1; self.sql.push("BEGIN".into()); Ok(()) }
///     fn commit(&mut self, _: &Options) -> Result<(), TxError> { self.depth -= 1; self.sql.push("COMMIT".into()); Ok(()) }
///     fn rollback(&mut self, _: &Options) -> Result<(), TxError> { self.depth -= 1; self.sql.push("ROLLBACK".into()); Ok(()) }
///     fn savepoint(&mut self, n: &str) -> Result<(), TxError> { self.sql.push(format!("SAVEPOINT {n}")); Ok(()) }
///     fn release_savepoint(&mut self, n: &str) -> Result<(), TxError> { self.sql.push(format!("RELEASE {n}")); Ok(()) }
///     fn rollback_to_savepoint(&mut self, n: &str) -> Result<(), TxError> { self.sql.push(format!("ROLLBACK TO {n}")); Ok(()) }
/// }
///
/// let mut db = Log::default();
/// let out: Result<(), TxError> = tx::run(&mut db, &Options::new(), |db| {
///     tx::run(db, &Options::new(), |_| Ok::<_, TxError>(()))
/// });
/// out.unwrap();
/// assert_eq!(db.sql, ["BEGIN", "SAVEPOINT keel_sp_1", "RELEASE keel_sp_1", "COMMIT"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection keel can run transactions on",
    label = "this parameter is used as the transaction's connection",
    note = "keel::tx::Transactional is implemented for rusqlite::Connection (feature `sqlite`) and postgres::Client (feature `postgres`); implement it for other databases"
)]
pub trait Transactional {
    /// The database's error type.
    type Error;

    /// The database's name, for messages (`"SQLite"`, `"PostgreSQL"`).
    fn database(&self) -> &'static str;

    /// True when the connection is inside a transaction that keel did not begin (keel tracks its
    /// own transactions itself). Return `false` when the database cannot tell.
    fn in_transaction(&self) -> bool;

    /// Checks that the database supports `options` before anything is done; the default accepts
    /// only the defaults (no isolation level, read-write, deferred).
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
        let unsupported = |option: String| TxError::Unsupported {
            name: options.name,
            database: self.database(),
            option,
            hint: "",
        };
        if let Some(isolation) = options.isolation {
            return Err(unsupported(format!("isolation = {:?}", isolation.option())));
        }
        if options.read_only {
            return Err(unsupported("read_only".into()));
        }
        if options.behavior != Behavior::Deferred {
            return Err(unsupported(format!(
                "behavior = {:?}",
                options.behavior.sql().to_ascii_lowercase()
            )));
        }
        Ok(())
    }

    /// Begins a transaction with `options` (already accepted by [`check`](Self::check)).
    fn begin(&mut self, options: &Options) -> Result<(), Self::Error>;

    /// Commits the transaction begun with `options`.
    fn commit(&mut self, options: &Options) -> Result<(), Self::Error>;

    /// Rolls back the transaction begun with `options`.
    fn rollback(&mut self, options: &Options) -> Result<(), Self::Error>;

    /// `SAVEPOINT name`.
    fn savepoint(&mut self, name: &str) -> Result<(), Self::Error>;

    /// `RELEASE SAVEPOINT name` (keeps the inner work in the outer transaction).
    fn release_savepoint(&mut self, name: &str) -> Result<(), Self::Error>;

    /// `ROLLBACK TO SAVEPOINT name`, then releases it.
    fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), Self::Error>;
}

/// Whether an error is worth retrying the whole transaction for (a lock conflict, a serialization
/// failure, a deadlock), as opposed to a bug or bad data.
///
/// Implemented for `rusqlite::Error` (`SQLITE_BUSY`, `SQLITE_LOCKED`), `postgres::Error`
/// (SQLSTATE `40001` serialization_failure, `40P01` deadlock_detected), [`TxError`] (never) and
/// `Box<dyn Error + Send + Sync>` (looks through the source chain for those). Implement it for
/// your error type by forwarding:
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
pub trait Transient {
    /// True when re-running the transaction may succeed.
    fn is_transient(&self) -> bool;
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
            #[cfg(feature = "postgres")]
            if let Some(e) = error.downcast_ref::<::postgres::Error>() {
                return e.is_transient();
            }
            next = error.source();
        }
        false
    }
}
