//! SQLite through `rusqlite` (feature `sqlite`).
//!
//! * `behavior` picks `BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`.
//! * `isolation`: SQLite transactions are always serializable, so only `serializable` is
//!   accepted; any other level is an [`Unsupported`](super::TxError::Unsupported) error.
//! * `read_only` sets `PRAGMA query_only` for the transaction's duration.

use super::sql::dialect_methods;
use super::sql::sqlite::{self as dialect, QUERY_ONLY_OFF, QUERY_ONLY_ON};
use super::{Options, Transactional, Transient};
use rusqlite::{Connection, ErrorCode, Transaction};

/// `BEGIN <behavior>`, then `PRAGMA query_only = ON` for a read-only transaction.
fn begin(conn: &Connection, options: &Options) -> rusqlite::Result<()> {
    conn.execute_batch(dialect::begin(options))?;
    if options.read_only
        && let Err(error) = conn.execute_batch(QUERY_ONLY_ON)
    {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(error);
    }
    Ok(())
}

fn end(conn: &Connection, options: &Options, sql: &str) -> rusqlite::Result<()> {
    let ended = conn.execute_batch(sql);
    // COMMIT can fail with SQLITE_BUSY and leave the transaction open; query_only stays on until
    // the transaction really ends (the rollback that follows).
    if options.read_only && conn.is_autocommit() {
        conn.execute_batch(QUERY_ONLY_OFF)?;
    }
    ended
}

/// Savepoints, `RELEASE` and `ROLLBACK TO` are the trait's provided methods.
impl Transactional for Connection {
    dialect_methods!(dialect, rusqlite::Error, |conn| !conn.is_autocommit());

    fn execute_sql(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.execute_batch(sql)
    }

    fn begin(&mut self, options: &Options) -> rusqlite::Result<()> {
        begin(self, options)
    }

    fn commit(&mut self, options: &Options) -> rusqlite::Result<()> {
        end(self, options, "COMMIT")
    }

    fn rollback(&mut self, options: &Options) -> rusqlite::Result<()> {
        end(self, options, "ROLLBACK")
    }
}

/// A `rusqlite::Transaction` is always inside a transaction: keel nests into it with savepoints
/// (the provided methods), and never begins or commits it.
impl Transactional for Transaction<'_> {
    dialect_methods!(dialect, rusqlite::Error, |_tx| true);

    fn execute_sql(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.execute_batch(sql)
    }
}

impl Transient for rusqlite::Error {
    /// `SQLITE_BUSY` or `SQLITE_LOCKED` (another connection holds a conflicting lock), with their
    /// extended codes (`SQLITE_BUSY_SNAPSHOT`: a WAL reader's snapshot went stale).
    ///
    /// ```
    /// use keel_runtime::tx::Transient;
    /// let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    /// assert!(busy.is_transient());
    /// let stale = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY_SNAPSHOT), None);
    /// assert!(stale.is_transient());
    /// assert!(!rusqlite::Error::QueryReturnedNoRows.is_transient());
    /// ```
    fn is_transient(&self) -> bool {
        matches!(
            self.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::{self, Isolation};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    #[test]
    fn read_only_refuses_writes_and_is_reset_afterwards() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let ro = Options::new().name("ro").read_only(true);
        let err = tx::run(&mut conn, &ro, |c| -> Result<(), BoxError> {
            c.execute("INSERT INTO t VALUES (1)", [])?;
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        let n: i64 = tx::run(&mut conn, &ro, |c| -> Result<i64, BoxError> {
            Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
        })
        .unwrap();
        assert_eq!(n, 0);
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
    }

    #[test]
    fn serializable_is_accepted_other_levels_are_not() {
        let mut conn = Connection::open_in_memory().unwrap();
        let ok = Options::new().isolation(Isolation::Serializable);
        tx::run(&mut conn, &ok, |_| Ok::<_, BoxError>(())).unwrap();
        let bad = Options::new()
            .name("rc")
            .isolation(Isolation::ReadCommitted);
        let err = tx::run(&mut conn, &bad, |_| Ok::<_, BoxError>(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "transaction `rc`: SQLite does not support isolation = \"read_committed\" (SQLite transactions are always serializable)"
        );
        assert!(conn.is_autocommit());
    }

    #[test]
    fn boxed_errors_are_transient_when_their_source_is() {
        let busy: BoxError = Box::new(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_LOCKED),
            None,
        ));
        assert!(busy.is_transient());
        let other: BoxError = "plain".into();
        assert!(!other.is_transient());
    }
}
