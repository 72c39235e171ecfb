//! What a transaction asks of the database: its name, nesting rule, isolation, access mode and
//! (SQLite) locking behaviour. Built in `const` context, so `#[keel::transaction]` stores its
//! options in a constant.

/// How a transaction behaves when its connection is already inside a transaction.
///
/// ```
/// use keel_runtime::tx::{Nested, Options};
/// assert_eq!(Options::new().nested, Nested::Savepoint);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Nested {
    /// `SAVEPOINT` … `RELEASE`: a failure rolls back only the inner work (`ROLLBACK TO`), and
    /// the outer transaction goes on. The default.
    #[default]
    Savepoint,
    /// Run inside the outer transaction with no savepoint. A failure of the inner body marks the
    /// outer transaction **rollback-only**: even if the outer body then returns `Ok`, the outer
    /// transaction rolls back and returns [`TxError::RollbackOnly`](super::TxError::RollbackOnly)
    /// instead of committing. (Only a transaction keel began can be marked; inside one begun by
    /// hand, the inner error is simply returned.)
    Join,
    /// Refuse: return [`TxError::AlreadyInTransaction`](super::TxError::AlreadyInTransaction)
    /// without running the body.
    Fail,
}

/// The isolation level asked of the database (`None` in [`Options`] keeps the database default).
///
/// SQLite transactions are always serializable, so SQLite accepts only
/// [`Isolation::Serializable`]; PostgreSQL accepts all four.
///
/// ```
/// use keel_runtime::tx::Isolation;
/// assert_eq!(Isolation::RepeatableRead.sql(), "REPEATABLE READ");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// `READ UNCOMMITTED`.
    ReadUncommitted,
    /// `READ COMMITTED` (PostgreSQL's default).
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE` (what SQLite always provides).
    Serializable,
}

impl Isolation {
    /// The SQL spelling (`"SERIALIZABLE"`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Isolation::Serializable.sql(), "SERIALIZABLE");
    /// ```
    pub const fn sql(self) -> &'static str {
        match self {
            Self::ReadUncommitted => "READ UNCOMMITTED",
            Self::ReadCommitted => "READ COMMITTED",
            Self::RepeatableRead => "REPEATABLE READ",
            Self::Serializable => "SERIALIZABLE",
        }
    }

    /// The spelling of `#[keel::transaction(isolation = "...")]` (`"repeatable_read"`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Isolation::ReadCommitted.option(), "read_committed");
    /// ```
    pub const fn option(self) -> &'static str {
        match self {
            Self::ReadUncommitted => "read_uncommitted",
            Self::ReadCommitted => "read_committed",
            Self::RepeatableRead => "repeatable_read",
            Self::Serializable => "serializable",
        }
    }
}

/// When SQLite takes its locks (`BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`). Other databases accept
/// only [`Behavior::Auto`] (the default) and [`Behavior::Deferred`], which both mean their plain
/// `BEGIN`.
///
/// The default, [`Auto`](Behavior::Auto), begins an SQLite transaction that may write with
/// `BEGIN IMMEDIATE` and a [`read_only`](Options::read_only) one with `BEGIN DEFERRED`. A
/// deferred writer takes a read lock first and upgrades it at its first write; when another
/// connection wrote in between, the upgrade fails with `SQLITE_BUSY` at once (waiting cannot
/// help: its snapshot is stale), so concurrent writers lose even with `retry`. An immediate
/// writer takes the write lock at `BEGIN` and waits there (up to the busy timeout) before any work
/// is done. Rails 7.1 and Django 5.1 made the same choice for SQLite. Write
/// `behavior = "deferred"` ([`Behavior::Deferred`]) for the old way.
///
/// ```
/// use keel_runtime::tx::{Behavior, Options};
/// assert_eq!(Options::new().behavior, Behavior::Auto);
/// assert_eq!(Behavior::Auto.sqlite_begin(false), "BEGIN IMMEDIATE");
/// assert_eq!(Behavior::Auto.sqlite_begin(true), "BEGIN DEFERRED");
/// assert_eq!(Behavior::Deferred.sqlite_begin(false), "BEGIN DEFERRED");
/// assert_eq!(Behavior::Immediate.sql(), "IMMEDIATE");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Behavior {
    /// The default: SQLite writers begin `IMMEDIATE`, read-only transactions `DEFERRED`; other
    /// databases begin as they always do.
    #[default]
    Auto,
    /// Locks are taken on first read/write (SQLite's own default; keel's before it began
    /// writers `IMMEDIATE`).
    Deferred,
    /// The write lock is taken at `BEGIN`.
    Immediate,
    /// An exclusive lock is taken at `BEGIN`.
    Exclusive,
}

impl Behavior {
    /// The SQL keyword (`"IMMEDIATE"`); [`Auto`](Self::Auto) is spelled as what it picks for a
    /// writer, `"IMMEDIATE"` (see [`sqlite_begin`](Self::sqlite_begin)).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Behavior::Deferred.sql(), "DEFERRED");
    /// ```
    pub const fn sql(self) -> &'static str {
        match self {
            Self::Deferred => "DEFERRED",
            Self::Auto | Self::Immediate => "IMMEDIATE",
            Self::Exclusive => "EXCLUSIVE",
        }
    }

    /// The spelling of `#[keel::transaction(behavior = "...")]` (`"immediate"`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Behavior::Auto.option(), "auto");
    /// ```
    pub const fn option(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Deferred => "deferred",
            Self::Immediate => "immediate",
            Self::Exclusive => "exclusive",
        }
    }

    /// The `BEGIN` statement SQLite gets for this behaviour, for a transaction that is
    /// `read_only` or not.
    ///
    /// ```
    /// use keel_runtime::tx::Behavior;
    /// assert_eq!(Behavior::Exclusive.sqlite_begin(false), "BEGIN EXCLUSIVE");
    /// ```
    pub const fn sqlite_begin(self, read_only: bool) -> &'static str {
        match self {
            Self::Auto if read_only => "BEGIN DEFERRED",
            Self::Auto | Self::Immediate => "BEGIN IMMEDIATE",
            Self::Deferred => "BEGIN DEFERRED",
            Self::Exclusive => "BEGIN EXCLUSIVE",
        }
    }

    /// True for the behaviours every database accepts ([`Auto`](Self::Auto) and
    /// [`Deferred`](Self::Deferred): a plain `BEGIN` outside SQLite).
    pub(crate) const fn is_plain(self) -> bool {
        matches!(self, Self::Auto | Self::Deferred)
    }
}

/// Options of one transaction. Every builder method is `const`.
///
/// `isolation`, `read_only` and `behavior` apply when a transaction begins; a nested transaction
/// (savepoint or join) runs under the options of the outermost one.
///
/// ```
/// use keel_runtime::tx::{Isolation, Nested, Options};
/// const TRANSFER: Options = Options::new()
///     .name("transfer")
///     .nested(Nested::Join)
///     .isolation(Isolation::Serializable);
/// assert_eq!(TRANSFER.name, "transfer");
/// assert!(!TRANSFER.read_only);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Shown in errors, audit events and trace records (`#[keel::transaction]` uses the function
    /// name). Default `"unnamed"`.
    pub name: &'static str,
    /// What happens inside an already open transaction.
    pub nested: Nested,
    /// A read-only transaction (`READ ONLY` on PostgreSQL, `PRAGMA query_only` on SQLite).
    pub read_only: bool,
    /// The isolation level; `None` keeps the database default.
    pub isolation: Option<Isolation>,
    /// SQLite's locking behaviour ([`Behavior::Auto`] by default: writers begin `IMMEDIATE`).
    pub behavior: Behavior,
}

impl Options {
    /// The defaults: name `"unnamed"`, savepoint nesting, read-write, database isolation,
    /// [`Behavior::Auto`] (SQLite writers begin `IMMEDIATE`).
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Options::new(), Default::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            name: "unnamed",
            nested: Nested::Savepoint,
            read_only: false,
            isolation: None,
            behavior: Behavior::Auto,
        }
    }

    /// Sets the name.
    ///
    /// ```
    /// assert_eq!(keel_runtime::tx::Options::new().name("migrate").name, "migrate");
    /// ```
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Sets the nesting rule.
    ///
    /// ```
    /// use keel_runtime::tx::{Nested, Options};
    /// assert_eq!(Options::new().nested(Nested::Fail).nested, Nested::Fail);
    /// ```
    pub const fn nested(mut self, nested: Nested) -> Self {
        self.nested = nested;
        self
    }

    /// Makes the transaction read-only (or not).
    ///
    /// ```
    /// assert!(keel_runtime::tx::Options::new().read_only(true).read_only);
    /// ```
    pub const fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Asks for an isolation level.
    ///
    /// ```
    /// use keel_runtime::tx::{Isolation, Options};
    /// let o = Options::new().isolation(Isolation::Serializable);
    /// assert_eq!(o.isolation, Some(Isolation::Serializable));
    /// ```
    pub const fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Sets SQLite's locking behaviour.
    ///
    /// ```
    /// use keel_runtime::tx::{Behavior, Options};
    /// assert_eq!(Options::new().behavior(Behavior::Immediate).behavior, Behavior::Immediate);
    /// ```
    pub const fn behavior(mut self, behavior: Behavior) -> Self {
        self.behavior = behavior;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}
