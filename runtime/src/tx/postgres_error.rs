//! [`Transient`] for PostgreSQL's error type, shared by the `postgres` and `tokio-postgres`
//! features (`postgres::Error` is `tokio_postgres::Error`).

use super::Transient;
use super::sql::postgres::is_transient_sqlstate;

#[cfg(feature = "postgres")]
pub(crate) use postgres::Error as PgError;
#[cfg(all(feature = "tokio-postgres", not(feature = "postgres")))]
pub(crate) use tokio_postgres::Error as PgError;

impl Transient for PgError {
    /// SQLSTATE `40001` (serialization_failure) or `40P01` (deadlock_detected).
    fn is_transient(&self) -> bool {
        self.code()
            .is_some_and(|code| is_transient_sqlstate(code.code()))
    }
}
