//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;

mod transaction;

/// Runs the function's body in a database transaction: commit on `Ok`, rollback on `Err` or
/// panic. Python's `@contextmanager` `managed_transaction`, as an attribute.
///
/// The function must return `Result<T, E>` where `E: From<C::Error> + From<keel::tx::TxError>`
/// (`C` the connection type). Its connection is the first `&mut` parameter, or the one named by
/// `conn = ident`; its type must implement `keel::tx::Transactional` (`rusqlite::Connection`
/// with the `sqlite` feature, `postgres::Client` with `postgres`). The body becomes a closure
/// passed to `keel::tx::run`, so `return` and `?` behave as written:
///
/// * `Ok` → commit (a failing commit becomes `Err`);
/// * `Err` → rollback, and the body's own error is returned;
/// * panic → rollback, then the panic continues.
///
/// Options, all optional:
///
/// | option | meaning |
/// |---|---|
/// | `conn = ident` | which parameter is the connection |
/// | `name = "..."` | name in errors, audit events and traces (default: the function's name) |
/// | `retry = N` | re-run the whole body up to N more times when the error is `keel::tx::Transient` (SQLITE_BUSY, serialization failure), after a short jittered backoff; the body must not move what it captures |
/// | `nested = "savepoint" \| "join" \| "fail"` | inside an open transaction: a savepoint (default), join the outer one, or return an error |
/// | `read_only` | a read-only transaction |
/// | `isolation = "serializable" \| "repeatable_read" \| "read_committed" \| "read_uncommitted"` | isolation level (a level the database lacks is a run-time `TxError::Unsupported` naming it) |
/// | `behavior = "deferred" \| "immediate" \| "exclusive"` | SQLite's `BEGIN` mode |
/// | `crate = path` | where keel is, if renamed |
///
/// With `nested = "join"`, a failing inner function marks the outer transaction
/// **rollback-only**: even if the outer body handles the error and returns `Ok`, the outer
/// transaction rolls back and returns `keel::tx::TxError::RollbackOnly` instead of committing.
///
/// Each transaction raises the audit events `tx.begin`, `tx.commit` and `tx.rollback`; a hook
/// that denies `tx.begin` makes the function return `TxError::Denied` without running the body.
///
/// ```
/// #[derive(Debug)]
/// enum AppError { Db(rusqlite::Error), Tx(keel::tx::TxError), TooMany(usize) }
/// impl From<rusqlite::Error> for AppError { fn from(e: rusqlite::Error) -> Self { Self::Db(e) } }
/// impl From<keel::tx::TxError> for AppError { fn from(e: keel::tx::TxError) -> Self { Self::Tx(e) } }
///
/// #[keel::transaction]
/// fn upgrade_tiers(conn: &mut rusqlite::Connection, limit: usize) -> Result<usize, AppError> {
///     let n = conn.execute("UPDATE users SET tier = 'premium' WHERE spend > 10000", [])?;
///     conn.execute("INSERT INTO audit_log (event) VALUES ('tier_upgrade_batch')", [])?;
///     if n > limit {
///         return Err(AppError::TooMany(n)); // rolls back both statements
///     }
///     Ok(n)
/// }
///
/// let mut conn = rusqlite::Connection::open_in_memory().unwrap();
/// conn.execute_batch(
///     "CREATE TABLE users (name TEXT, tier TEXT, spend INTEGER);
///      CREATE TABLE audit_log (event TEXT);
///      INSERT INTO users VALUES ('ada', 'basic', 20000), ('bob', 'basic', 50);",
/// ).unwrap();
///
/// assert!(matches!(upgrade_tiers(&mut conn, 0), Err(AppError::TooMany(1))));
/// let logged: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0)).unwrap();
/// assert_eq!(logged, 0); // rolled back
///
/// assert_eq!(upgrade_tiers(&mut conn, 10).unwrap(), 1);
/// let logged: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0)).unwrap();
/// assert_eq!(logged, 1); // committed
/// ```
///
/// Retrying on lock conflicts, with a named transaction and SQLite's `BEGIN IMMEDIATE`:
///
/// ```
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// #[keel::transaction(conn = db, name = "credit", retry = 3, behavior = "immediate")]
/// fn credit(db: &mut rusqlite::Connection, id: i64, cents: i64) -> Result<(), BoxError> {
///     db.execute("UPDATE accounts SET cents = cents + ?1 WHERE id = ?2", [cents, id])?;
///     Ok(())
/// }
///
/// let mut db = rusqlite::Connection::open_in_memory().unwrap();
/// db.execute_batch("CREATE TABLE accounts (id INTEGER, cents INTEGER); INSERT INTO accounts VALUES (1, 0);").unwrap();
/// credit(&mut db, 1, 250).unwrap();
/// let cents: i64 = db.query_row("SELECT cents FROM accounts", [], |r| r.get(0)).unwrap();
/// assert_eq!(cents, 250);
/// ```
#[proc_macro_attribute]
pub fn transaction(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    transaction::transaction(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
