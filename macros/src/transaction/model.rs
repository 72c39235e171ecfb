//! What `#[keel::transaction]` generates code from: the attribute's options (parsed) and the
//! function with its connection parameter (validated).

use crate::common::crate_path::CratePath;
use proc_macro2::Span;
use syn::{Ident, ItemFn, LitStr, Type};

/// The attribute's options, as written.
#[derive(Default)]
pub struct Options {
    /// `conn = ident`: the connection parameter, when it is not the first `&mut` one.
    pub conn: Option<Ident>,
    /// `name = ".."`; the function's name when absent.
    pub name: Option<LitStr>,
    /// `retry = N`.
    pub retry: Option<Retry>,
    pub nested: Option<Nested>,
    /// `read_only` / `read_only = true`.
    pub read_only: bool,
    pub isolation: Option<Isolation>,
    pub behavior: Option<Behavior>,
    /// `crate = path`.
    pub krate: Option<CratePath>,
}

/// `retry = N`, with the span of the whole option (a body that cannot run twice, or an error
/// type that is not `Transient`, is reported there).
pub struct Retry {
    pub times: u32,
    pub span: Span,
}

/// An option whose value is one of a few strings, each naming the variant of the runtime's enum
/// of the same name (`nested = "join"` is `tx::Nested::Join`).
pub trait Choice: Copy + PartialEq + 'static {
    /// The option's name, which is also the runtime's `tx::Options` method that sets it.
    const OPTION: &'static str;
    /// The runtime's enum (`tx::Nested`).
    const RUNTIME_ENUM: &'static str;
    /// Each accepted string, its value, and the runtime variant's name.
    const VALUES: &'static [(&'static str, Self, &'static str)];
    /// What follows "expected" in the message for any other string.
    const EXPECTED: &'static str;

    /// The runtime variant's name (`Join`).
    fn variant(self) -> &'static str {
        Self::VALUES
            .iter()
            .find(|(_, value, _)| *value == self)
            .map_or("", |(_, _, variant)| variant)
    }
}

/// Declares a [`Choice`]: the enum, named as the runtime's, and its strings.
macro_rules! choice {
    (
        $(#[$doc:meta])*
        $name:ident, option $option:literal, expected $expected:expr,
        { $($text:literal => $variant:ident),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq)]
        pub enum $name {
            $($variant),*
        }

        impl Choice for $name {
            const OPTION: &'static str = $option;
            const RUNTIME_ENUM: &'static str = stringify!($name);
            const VALUES: &'static [(&'static str, Self, &'static str)] =
                &[$(($text, Self::$variant, stringify!($variant))),*];
            const EXPECTED: &'static str = $expected;
        }
    };
}

choice! {
    /// `nested = "..."`.
    Nested, option "nested", expected "\"savepoint\" (the default), \"join\" or \"fail\"",
    { "savepoint" => Savepoint, "join" => Join, "fail" => Fail }
}

choice! {
    /// `isolation = "..."`.
    Isolation, option "isolation",
    expected "\"read_uncommitted\", \"read_committed\", \"repeatable_read\" or \"serializable\"",
    {
        "read_uncommitted" => ReadUncommitted,
        "read_committed" => ReadCommitted,
        "repeatable_read" => RepeatableRead,
        "serializable" => Serializable,
    }
}

choice! {
    /// `behavior = "..."`.
    Behavior, option "behavior",
    expected "\"auto\" (the default: SQLite writers begin IMMEDIATE, read-only transactions \
        DEFERRED), \"deferred\", \"immediate\" or \"exclusive\" (SQLite's BEGIN modes)",
    { "auto" => Auto, "deferred" => Deferred, "immediate" => Immediate, "exclusive" => Exclusive }
}

/// The connection parameter.
pub struct Connection {
    /// Its index among the function's inputs.
    pub index: usize,
    /// Its name.
    pub ident: Ident,
    /// `T` in `conn: &mut T`, or the parameter's type when it is taken by value.
    pub target: Type,
    /// `conn: &mut T` (true) or `mut conn: T` (false).
    pub by_ref: bool,
    /// The span of its type: "not a connection" errors point there.
    pub span: Span,
}

/// A checked transaction function: everything expansion needs.
pub struct Transaction {
    pub item: ItemFn,
    /// `async fn`: the body runs on the async engine.
    pub is_async: bool,
    pub conn: Connection,
    /// The function's return type (`Result<T, E>`).
    pub output: Type,
    /// The transaction's name (`name = ".."`, or the function's).
    pub name: LitStr,
    pub options: Options,
}
