//! PostgreSQL through the `postgres` crate (feature `postgres`).
//!
//! * `isolation` and `read_only` become `BEGIN ISOLATION LEVEL … READ ONLY`.
//! * `behavior` is SQLite's; anything but the default is an
//!   [`Unsupported`](super::TxError::Unsupported) error.
//! * `postgres::Client` cannot tell whether a transaction was opened by hand with
//!   `batch_execute("BEGIN")`; keel knows its own. Pass a `postgres::Transaction` to nest inside
//!   a transaction begun by the `postgres` crate.

use super::{Behavior, Options, Transactional, Transient, TxError};
use postgres::error::SqlState;
use postgres::{Client, Transaction};

fn check(options: &Options) -> Result<(), TxError> {
    if options.behavior != Behavior::Deferred {
        return Err(TxError::Unsupported {
            name: options.name,
            database: "PostgreSQL",
            option: format!(
                "behavior = {:?}",
                options.behavior.sql().to_ascii_lowercase()
            ),
            hint: " (an SQLite locking mode; use isolation levels or explicit locks)",
        });
    }
    Ok(())
}

/// `BEGIN`, `BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY`, ...
fn begin_sql(options: &Options) -> String {
    let mut sql = String::from("BEGIN");
    if let Some(isolation) = options.isolation {
        sql.push_str(" ISOLATION LEVEL ");
        sql.push_str(isolation.sql());
    }
    if options.read_only {
        sql.push_str(" READ ONLY");
    }
    sql
}

/// keel tracks the transactions it begins on a `Client`; one begun by hand is not seen.
impl Transactional for Client {
    type Error = postgres::Error;

    fn database(&self) -> &'static str {
        "PostgreSQL"
    }

    fn in_transaction(&self) -> bool {
        false
    }

    fn check(&self, options: &Options) -> Result<(), TxError> {
        check(options)
    }

    fn begin(&mut self, options: &Options) -> Result<(), postgres::Error> {
        self.batch_execute(&begin_sql(options))
    }

    fn commit(&mut self, _: &Options) -> Result<(), postgres::Error> {
        self.batch_execute("COMMIT")
    }

    fn rollback(&mut self, _: &Options) -> Result<(), postgres::Error> {
        self.batch_execute("ROLLBACK")
    }

    fn savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!("SAVEPOINT {name}"))
    }

    fn release_savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!("RELEASE SAVEPOINT {name}"))
    }

    fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))
    }
}

/// A `postgres::Transaction` is always inside a transaction: keel nests into it.
impl Transactional for Transaction<'_> {
    type Error = postgres::Error;

    fn database(&self) -> &'static str {
        "PostgreSQL"
    }

    fn in_transaction(&self) -> bool {
        true
    }

    fn check(&self, options: &Options) -> Result<(), TxError> {
        check(options)
    }

    fn begin(&mut self, options: &Options) -> Result<(), postgres::Error> {
        self.batch_execute(&begin_sql(options))
    }

    fn commit(&mut self, _: &Options) -> Result<(), postgres::Error> {
        self.batch_execute("COMMIT")
    }

    fn rollback(&mut self, _: &Options) -> Result<(), postgres::Error> {
        self.batch_execute("ROLLBACK")
    }

    fn savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!("SAVEPOINT {name}"))
    }

    fn release_savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!("RELEASE SAVEPOINT {name}"))
    }

    fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), postgres::Error> {
        self.batch_execute(&format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))
    }
}

impl Transient for postgres::Error {
    /// SQLSTATE `40001` (serialization_failure) or `40P01` (deadlock_detected).
    fn is_transient(&self) -> bool {
        matches!(
            self.code(),
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Isolation;

    #[test]
    fn begin_spells_isolation_and_access_mode() {
        assert_eq!(begin_sql(&Options::new()), "BEGIN");
        let o = Options::new()
            .isolation(Isolation::RepeatableRead)
            .read_only(true);
        assert_eq!(
            begin_sql(&o),
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        );
    }

    #[test]
    fn sqlite_behaviors_are_refused_by_name() {
        let o = Options::new()
            .name("t")
            .behavior(crate::tx::Behavior::Immediate);
        assert_eq!(
            check(&o).unwrap_err().to_string(),
            "transaction `t`: PostgreSQL does not support behavior = \"immediate\" (an SQLite locking mode; use isolation levels or explicit locks)"
        );
    }
}
