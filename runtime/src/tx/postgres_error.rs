//! [`Transient`] for PostgreSQL's error type, shared by the `postgres` and `tokio-postgres`
//! features (`postgres::Error` is `tokio_postgres::Error`).

use super::Transient;

#[cfg(feature = "postgres")]
pub(crate) use postgres::Error as PgError;
#[cfg(all(feature = "tokio-postgres", not(feature = "postgres")))]
pub(crate) use tokio_postgres::Error as PgError;

/// True for SQLSTATE `40001` (serialization_failure) and `40P01` (deadlock_detected).
pub(crate) fn is_transient_sqlstate(code: &str) -> bool {
    matches!(code, "40001" | "40P01")
}

impl Transient for PgError {
    /// SQLSTATE `40001` (serialization_failure) or `40P01` (deadlock_detected).
    fn is_transient(&self) -> bool {
        self.code()
            .is_some_and(|code| is_transient_sqlstate(code.code()))
    }
}
