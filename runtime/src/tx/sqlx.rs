//! sqlx (feature `sqlx`): `PgConnection`, `SqliteConnection`, and a `PoolConnection` of either,
//! for [`run_async`](super::run_async) and `#[keel::transaction]` on an `async fn`.
//!
//! * keel drives sqlx's own `TransactionManager`, so sqlx's transaction depth stays right (a
//!   `sqlx::Transaction` opened inside a keel transaction becomes a savepoint, and the reverse).
//!   Nested keel transactions are sqlx's savepoints (`_sqlx_savepoint_<n>`).
//! * PostgreSQL: `BEGIN ISOLATION LEVEL … READ ONLY` as with the other PostgreSQL drivers.
//! * SQLite: `behavior` picks `BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`; only `serializable`
//!   isolation is accepted; `read_only` is `PRAGMA query_only` for the transaction, set in the
//!   same call as the `BEGIN`.
//! * **Cancellation**: a dropped transaction future calls sqlx's
//!   `TransactionManager::start_rollback`, which queues the rollback on the connection; sqlx sends
//!   it before the connection's next statement, and a `PoolConnection` returned to its pool is
//!   flushed (`ping`) before the pool hands it out again. sqlx guards an interrupted `BEGIN`
//!   itself. For a dropped `read_only` SQLite transaction keel also queues
//!   `PRAGMA query_only = OFF` behind the rollback, on the connection's command channel.
//! * Both SQLite drivers (rusqlite and sqlx 0.9) link the same `libsqlite3-sys` (0.38, bundled),
//!   so the `sqlite` and `sqlx` features share one dependency graph.

use super::asynchronous::{AsyncTransactional, Ending};
use super::sql::{dialect_methods, postgres as pg_dialect, sqlite as sqlite_dialect};
use super::{Options, Transient, TxError};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgDatabaseError, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteError};
use sqlx::{AssertSqlSafe, Database, SqlSafeStr, SqlStr};
// sqlx does not re-export the trait its `Transaction` is built on; sqlx-core (the same crate
// sqlx uses) does.
use sqlx_core::transaction::TransactionManager;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

type PgTm = <Postgres as Database>::TransactionManager;
type SqliteTm = <Sqlite as Database>::TransactionManager;

/// Runs SQL without rows through sqlx's simple-query path.
async fn pg_execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

/// Runs SQL without rows through sqlx's simple-query path.
async fn sqlite_execute(conn: &mut SqliteConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

/// A custom `BEGIN` statement for sqlx.
fn statement(sql: String) -> SqlStr {
    AssertSqlSafe(sql).into_sql_str()
}

/// Savepoints through sqlx's `TransactionManager` (its own names, `_sqlx_savepoint_<n>`, so sqlx's
/// depth stays right): a nested begin, commit and rollback.
macro_rules! savepoints_through {
    ($tm:ty) => {
        fn savepoint(&mut self, _: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
            <$tm>::begin(self, None)
        }

        fn release_savepoint(
            &mut self,
            _: &str,
        ) -> impl Future<Output = Result<(), Self::Error>> + Send {
            <$tm>::commit(self)
        }

        fn rollback_to_savepoint(
            &mut self,
            _: &str,
        ) -> impl Future<Output = Result<(), Self::Error>> + Send {
            <$tm>::rollback(self)
        }
    };
}

impl AsyncTransactional for PgConnection {
    dialect_methods!(pg_dialect, sqlx::Error, |conn| PgTm::get_transaction_depth(
        conn
    ) > 0);

    fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        pg_execute(self, sql.to_owned())
    }

    fn rollback_on_drop(&mut self, _: &Options, _: Option<&str>, _: Ending) {
        // Also when the end was issued: sqlx lowers its depth only once the reply is read.
        PgTm::start_rollback(self);
    }

    fn begin(&mut self, options: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let custom = *options != Options::new().name(options.name) || options.isolation.is_some();
        let sql = custom.then(|| statement(pg_dialect::begin(options)));
        PgTm::begin(self, sql)
    }

    fn commit(&mut self, _: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        PgTm::commit(self)
    }

    fn rollback(&mut self, _: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        PgTm::rollback(self)
    }

    savepoints_through!(PgTm);
}

/// Hands `PRAGMA query_only = OFF` to the connection's worker now: the command is sent on the
/// execute future's first poll, behind the rollback `start_rollback` queued.
fn queue_query_only_off(conn: &mut SqliteConnection) {
    let mut request = pin!(sqlite_execute(
        conn,
        sqlite_dialect::QUERY_ONLY_OFF.to_owned()
    ));
    let _: Poll<_> = request
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
}

/// How an SQLite transaction ends.
enum End {
    Commit,
    Rollback,
}

/// Commits or rolls back through sqlx; a read-only transaction that is really over (a failed
/// `COMMIT` can leave it open) turns `query_only` off again.
async fn sqlite_end(
    conn: &mut SqliteConnection,
    read_only: bool,
    end: End,
) -> Result<(), sqlx::Error> {
    let ended = match end {
        End::Commit => SqliteTm::commit(conn).await,
        End::Rollback => SqliteTm::rollback(conn).await,
    };
    if read_only && SqliteTm::get_transaction_depth(conn) == 0 {
        sqlite_execute(conn, sqlite_dialect::QUERY_ONLY_OFF.to_owned()).await?;
    }
    ended
}

impl AsyncTransactional for SqliteConnection {
    dialect_methods!(sqlite_dialect, sqlx::Error, |conn| {
        SqliteTm::get_transaction_depth(conn) > 0
    });

    fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        sqlite_execute(self, sql.to_owned())
    }

    fn rollback_on_drop(&mut self, options: &Options, savepoint: Option<&str>, _: Ending) {
        SqliteTm::start_rollback(self);
        if options.read_only && savepoint.is_none() {
            queue_query_only_off(self);
        }
    }

    fn begin(&mut self, options: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let begin = sqlite_dialect::begin(options);
        let sql = if options.read_only {
            Some(statement(format!(
                "{begin}; {}",
                sqlite_dialect::QUERY_ONLY_ON
            )))
        } else if options.behavior != super::Behavior::Deferred {
            Some(statement(begin.to_owned()))
        } else {
            None
        };
        SqliteTm::begin(self, sql)
    }

    fn commit(
        &mut self,
        options: &Options,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        sqlite_end(self, options.read_only, End::Commit)
    }

    fn rollback(
        &mut self,
        options: &Options,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        sqlite_end(self, options.read_only, End::Rollback)
    }

    savepoints_through!(SqliteTm);
}

/// The statement methods of a `PoolConnection`: each the same call on the connection inside.
macro_rules! forward_to_the_connection {
    ($($method:ident($arg:ident: $ty:ty);)*) => {$(
        fn $method(&mut self, $arg: $ty) -> impl Future<Output = Result<(), Self::Error>> + Send {
            (**self).$method($arg)
        }
    )*};
}

/// A pooled connection is its connection: keel runs on it, and a rollback queued by a dropped
/// future is flushed by the pool when the connection is returned.
impl<DB> AsyncTransactional for PoolConnection<DB>
where
    DB: Database,
    DB::Connection: AsyncTransactional,
{
    type Error = <DB::Connection as AsyncTransactional>::Error;

    fn database(&self) -> &'static str {
        (**self).database()
    }

    fn in_transaction(&self) -> bool {
        (**self).in_transaction()
    }

    fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).execute_sql(sql)
    }

    fn rollback_on_drop(&mut self, options: &Options, savepoint: Option<&str>, ending: Ending) {
        (**self).rollback_on_drop(options, savepoint, ending)
    }

    fn check(&self, options: &Options) -> Result<(), TxError> {
        (**self).check(options)
    }

    forward_to_the_connection! {
        begin(options: &Options);
        commit(options: &Options);
        rollback(options: &Options);
        savepoint(name: &str);
        release_savepoint(name: &str);
        rollback_to_savepoint(name: &str);
    }
}

impl Transient for sqlx::Error {
    /// PostgreSQL SQLSTATE `40001`/`40P01`; SQLite `SQLITE_BUSY` / `SQLITE_LOCKED` and their
    /// extended codes (`SQLITE_BUSY_SNAPSHOT`, ...).
    ///
    /// ```
    /// use keel_runtime::tx::Transient;
    /// assert!(!sqlx::Error::RowNotFound.is_transient());
    /// ```
    fn is_transient(&self) -> bool {
        let Some(db) = self.as_database_error() else {
            return false;
        };
        if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
            return pg_dialect::is_transient_sqlstate(pg.code());
        }
        if db.try_downcast_ref::<SqliteError>().is_some() {
            let code = db.code().and_then(|c| c.parse::<i32>().ok());
            // Primary codes 5 (SQLITE_BUSY) and 6 (SQLITE_LOCKED), in the low byte.
            return code.is_some_and(|c| matches!(c & 0xff, 5 | 6));
        }
        false
    }
}
