//! PostgreSQL through the `postgres` crate (feature `postgres`).
//!
//! * `isolation` and `read_only` become `BEGIN ISOLATION LEVEL … READ ONLY`.
//! * `behavior` is SQLite's; anything but the default is an
//!   [`Unsupported`](super::TxError::Unsupported) error.
//! * `postgres::Client` cannot tell whether a transaction was opened by hand with
//!   `batch_execute("BEGIN")`; keel knows its own. Pass a `postgres::Transaction` to nest inside
//!   a transaction begun by the `postgres` crate.

use super::sql::dialect_methods;
use super::sql::postgres as dialect;
use super::{Options, Transactional};
use postgres::{Client, Transaction};

/// keel tracks the transactions it begins on a `Client`; one begun by hand is not seen. Commit,
/// rollback and savepoints are the trait's provided methods.
impl Transactional for Client {
    dialect_methods!(dialect, postgres::Error, |_client| false);

    fn execute_sql(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.batch_execute(sql)
    }

    fn begin(&mut self, options: &Options) -> Result<(), postgres::Error> {
        self.batch_execute(&dialect::begin(options))
    }
}

/// A `postgres::Transaction` is always inside a transaction: keel nests into it with savepoints
/// (the provided methods), and never begins or commits it.
impl Transactional for Transaction<'_> {
    dialect_methods!(dialect, postgres::Error, |_tx| true);

    fn execute_sql(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.batch_execute(sql)
    }
}
