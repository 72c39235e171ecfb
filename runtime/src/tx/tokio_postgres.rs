//! PostgreSQL through `tokio-postgres` (feature `tokio-postgres`): the async driver of
//! [`run_async`](super::run_async) and `#[keel::transaction]` on an `async fn`.
//!
//! * The SQL is the blocking `postgres` driver's (`BEGIN ISOLATION LEVEL … READ ONLY`, savepoints
//!   `keel_sp_<depth>`); `behavior` (SQLite's) is refused.
//! * `tokio_postgres::Client` cannot tell whether a transaction was opened by hand; keel knows its
//!   own.
//! * **Cancellation**: every request a `Client` makes goes, in order, through one channel to its
//!   connection task. When a transaction future is dropped, keel hands `ROLLBACK` (or
//!   `ROLLBACK TO SAVEPOINT`) to that channel synchronously, in the drop, so the server runs it
//!   before any later query on the client. A future dropped while its `BEGIN` is in flight is
//!   rolled back the same way; one dropped while its `COMMIT`, `ROLLBACK` or `RELEASE` is in flight
//!   adds nothing (that statement is already queued and ends the transaction).

use super::Options;
use super::asynchronous::{AsyncTransactional, Ending};
use super::sql::dialect_methods;
use super::sql::{self, postgres as dialect};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tokio_postgres::Client;

/// Hands `sql` to the client's request channel now, without waiting for the reply.
/// `batch_execute` encodes and sends its request on its first poll (before its first `.await`), so
/// one poll with a no-op waker queues it; the reply is discarded by the connection task.
fn queue(client: &Client, sql: &str) {
    let mut request = pin!(client.batch_execute(sql));
    let _: Poll<_> = request
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
}

/// Runs `begin` (`BEGIN …` or `SAVEPOINT …`); if the future is dropped before the reply, queues
/// `undo` so the half-begun transaction does not stay open.
async fn guarded(client: &Client, begin: &str, undo: &str) -> Result<(), tokio_postgres::Error> {
    struct Undo<'a> {
        client: &'a Client,
        sql: Option<&'a str>,
    }
    impl Drop for Undo<'_> {
        fn drop(&mut self) {
            if let Some(sql) = self.sql {
                queue(self.client, sql);
            }
        }
    }
    let mut undo = Undo {
        client,
        sql: Some(undo),
    };
    let begun = client.batch_execute(begin).await;
    undo.sql = None;
    begun
}

impl AsyncTransactional for Client {
    dialect_methods!(dialect, tokio_postgres::Error, |_client| false);

    fn execute_sql(&mut self, sql: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.batch_execute(sql)
    }

    fn rollback_on_drop(&mut self, _: &Options, savepoint: Option<&str>, ending: Ending) {
        if ending == Ending::Issued {
            return;
        }
        match savepoint {
            Some(sp) => queue(self, &sql::rollback_to_savepoint(sp)),
            None => queue(self, "ROLLBACK"),
        }
    }

    fn begin(&mut self, options: &Options) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let begin = dialect::begin(options);
        async move { guarded(self, &begin, "ROLLBACK").await }
    }

    fn savepoint(&mut self, name: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let (begin, undo) = (sql::savepoint(name), sql::rollback_to_savepoint(name));
        async move { guarded(self, &begin, &undo).await }
    }
}
