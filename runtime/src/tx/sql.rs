//! The SQL keel sends, and which options each database accepts: one copy shared by the blocking
//! drivers (`rusqlite`, `postgres`) and the async ones (`tokio-postgres`, `sqlx`).

use super::{Behavior, Options, TxError};

/// What a database that only knows `BEGIN` accepts: the defaults (no isolation level,
/// read-write, a plain `BEGIN`: [`Behavior::Auto`] or [`Behavior::Deferred`]).
pub(crate) fn check_defaults(database: &'static str, options: &Options) -> Result<(), TxError> {
    let unsupported = |option: String| TxError::Unsupported {
        name: options.name,
        database,
        option,
        hint: "",
    };
    if let Some(isolation) = options.isolation {
        return Err(unsupported(format!("isolation = {:?}", isolation.option())));
    }
    if options.read_only {
        return Err(unsupported("read_only".into()));
    }
    if !options.behavior.is_plain() {
        return Err(unsupported(behavior_option(options.behavior)));
    }
    Ok(())
}

fn behavior_option(behavior: Behavior) -> String {
    format!("behavior = {:?}", behavior.option())
}

/// The part of a driver's `Transactional` / `AsyncTransactional` impl that only restates its
/// dialect: the error type, the database's name, which options it accepts, and whether the
/// connection is inside a transaction keel did not begin (an expression of `$conn`).
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "tokio-postgres",
    feature = "sqlx"
))]
macro_rules! dialect_methods {
    ($dialect:path, $error:ty, |$conn:ident| $in_transaction:expr) => {
        type Error = $error;

        fn database(&self) -> &'static str {
            use $dialect as dialect;
            dialect::DATABASE
        }

        fn in_transaction(&self) -> bool {
            let $conn = self;
            $in_transaction
        }

        fn check(&self, options: &$crate::tx::Options) -> Result<(), $crate::tx::TxError> {
            use $dialect as dialect;
            dialect::check(options)
        }
    };
}
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "tokio-postgres",
    feature = "sqlx"
))]
pub(crate) use dialect_methods;

/// `SAVEPOINT name`.
pub(crate) fn savepoint(name: &str) -> String {
    format!("SAVEPOINT {name}")
}

/// `RELEASE SAVEPOINT name`.
pub(crate) fn release_savepoint(name: &str) -> String {
    format!("RELEASE SAVEPOINT {name}")
}

/// `ROLLBACK TO SAVEPOINT name`, then `RELEASE` it (so the name can be used again).
pub(crate) fn rollback_to_savepoint(name: &str) -> String {
    format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
}

/// SQLite: always serializable (only that level is accepted); `behavior` picks the `BEGIN` mode;
/// `read_only` is `PRAGMA query_only` for the transaction's duration.
#[cfg(any(feature = "sqlite", feature = "sqlx"))]
pub(crate) mod sqlite {
    use super::*;
    use crate::tx::Isolation;

    pub(crate) const DATABASE: &str = "SQLite";

    pub(crate) fn check(options: &Options) -> Result<(), TxError> {
        match options.isolation {
            Some(isolation) if isolation != Isolation::Serializable => Err(TxError::Unsupported {
                name: options.name,
                database: DATABASE,
                option: format!("isolation = {:?}", isolation.option()),
                hint: " (SQLite transactions are always serializable)",
            }),
            _ => Ok(()),
        }
    }

    /// `BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`: writers `IMMEDIATE` by default
    /// ([`Behavior::Auto`]).
    pub(crate) fn begin(options: &Options) -> &'static str {
        options.behavior.sqlite_begin(options.read_only)
    }

    pub(crate) const QUERY_ONLY_ON: &str = "PRAGMA query_only = ON";
    pub(crate) const QUERY_ONLY_OFF: &str = "PRAGMA query_only = OFF";
}

/// PostgreSQL: `isolation` and `read_only` are spelled in `BEGIN`; SQLite's `behavior` is refused.
#[cfg(any(feature = "postgres", feature = "tokio-postgres", feature = "sqlx"))]
pub(crate) mod postgres {
    use super::*;

    pub(crate) const DATABASE: &str = "PostgreSQL";

    /// True for SQLSTATE `40001` (serialization_failure) and `40P01` (deadlock_detected).
    pub(crate) fn is_transient_sqlstate(code: &str) -> bool {
        matches!(code, "40001" | "40P01")
    }

    pub(crate) fn check(options: &Options) -> Result<(), TxError> {
        if !options.behavior.is_plain() {
            return Err(TxError::Unsupported {
                name: options.name,
                database: DATABASE,
                option: behavior_option(options.behavior),
                hint: " (an SQLite locking mode; use isolation levels or explicit locks)",
            });
        }
        Ok(())
    }

    /// `BEGIN`, `BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY`, ...
    pub(crate) fn begin(options: &Options) -> String {
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

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::tx::Isolation;

        #[test]
        fn begin_spells_isolation_and_access_mode() {
            assert_eq!(begin(&Options::new()), "BEGIN");
            let o = Options::new()
                .isolation(Isolation::RepeatableRead)
                .read_only(true);
            assert_eq!(begin(&o), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        }

        #[test]
        fn sqlite_behaviors_are_refused_by_name() {
            let o = Options::new().name("t").behavior(Behavior::Immediate);
            assert_eq!(
                check(&o).unwrap_err().to_string(),
                "transaction `t`: PostgreSQL does not support behavior = \"immediate\" (an SQLite locking mode; use isolation levels or explicit locks)"
            );
        }
    }
}
