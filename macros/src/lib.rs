//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → model → validate →
//! expand) in its own module, on the shared layer in `common/` (see the crate's README).

#![forbid(unsafe_code)]

mod bounded;
mod common;
mod compact;
mod instrument;
mod plugin;
mod registry;
mod transaction;

use proc_macro::TokenStream;

/// Traces a function, every function of an impl block, or every function of an inline module:
/// each call reports its entry and its exit (duration and outcome) to [`keel::trace`].
///
/// [`keel::trace`]: https://docs.rs/keel/latest/keel/trace/index.html
///
/// Python rewrites a module's AST at import time to log every function entry; this attribute does
/// the rewrite at compile time. Each instrumented function gets one `static` call site (qualified
/// name `crate::module::Type::method`, module path, file, line). While tracing is off a call costs
/// one relaxed atomic load and a branch more than the bare function.
///
/// ```
/// #[keel::instrument]
/// fn parse(input: &str) -> Result<i64, std::num::ParseIntError> {
///     input.trim().parse()
/// }
///
/// keel::trace::enable();
/// let (_, events) = keel::trace::capture(|| {
///     parse("42").unwrap();
///     parse("forty-two").unwrap_err();
/// });
/// assert_eq!(events.len(), 4);
/// assert!(events[0].is_enter());
/// assert!(events[0].name().ends_with("::parse"));
/// assert_eq!(events[1].outcome(), Some(&keel::trace::Outcome::Ok));
/// assert_eq!(
///     events[3].outcome(),
///     Some(&keel::trace::Outcome::Err("invalid digit found in string".into()))
/// );
/// ```
///
/// # Where it goes
///
/// * **A function**: free fns, methods (`self`, `&self`, `&mut self`, `self: Box<Self>`),
///   generic fns, `unsafe fn`, fns returning `impl Trait`, `-> !` (only a panic can end those,
///   reported as `Panicked`), functions in trait impls and trait default methods.
/// * **`async fn`**: the span starts when the future is first polled and ends when it
///   completes, so it covers the time spent suspended; a future dropped before completing reports
///   `Cancelled`.
/// * **An impl block**: every method, named `module::Type::method`.
/// * **An inline module** (`mod m { .. }`): every fn, impl block, trait default method and nested
///   inline module inside it, and in an impl block or module also the fns, impl blocks and traits
///   declared inside function bodies (closures included): `fn inner` inside `fn outer` is named
///   `module::outer::inner`. Items inside may carry their own `#[keel::instrument(..)]` to add
///   options, or `#[keel::instrument(skip)]` to opt out (a bare `#[instrument]` inside an
///   instrumented module is taken to be this attribute too; write `tracing::instrument` in full
///   for `tracing`'s).
/// * **`const fn`** is left untouched inside an instrumented impl block or module (a const fn
///   cannot read a clock); the attribute on a `const fn` itself is a compile error.
/// * **A module in its own file** (`#[keel::instrument] mod svc;`) is refused: Rust hands
///   attribute macros only inline modules. Write the attribute inside `svc.rs`, on each `impl`
///   block and free `fn` (`#[keel::instrument] impl Repo { .. }`), or keep the module inline.
/// * **With `#[keel::transaction]`** on the same function, written above or below this
///   attribute, or on a function of an instrumented module or impl block: the function's span is
///   always the outermost wrapper. It counts one call per call, however many attempts `retry`
///   makes, and the transaction's `keel::tx::<name>` span runs inside it, as its child. (The
///   transaction attribute, recognised as `transaction`, `keel::transaction` or
///   `<crate>::transaction`, is expanded first, by this attribute.)
///
/// A method instrumented on its own (not through its impl block) is named after `Self` the first
/// time it is traced (`module::Type::method`); an associated function without `self` and without
/// `Self` in its signature can not see its type and is named `module::function` (instrument the
/// impl block, or give `name = ".."`).
///
/// # Options
///
/// | option | effect |
/// |---|---|
/// | `args(a, b)` | records those parameters (`Debug`) as fields of the entry event |
/// | `ret` | records the return value (`Debug`) as the exit's `"return"` field |
/// | `err`, `err(Debug)` | requires a `Result` return type (a compile error otherwise) and records the error with `Display` (or `Debug`) |
/// | `skip` | leaves the item untouched (mainly inside an instrumented impl block or module) |
/// | `name = "a::b"` | the qualified name to report instead of `module::function` |
/// | `crate = path` | where to find keel if the dependency is renamed |
///
/// Without `err`, a function returning any `Result` still reports `Err(text)` outcomes (the
/// error's `Display`, else its `Debug`, else its type name): the type is inspected after the
/// macro, so aliases such as `io::Result<T>` work too, and so does a generic error type whose
/// bounds include `Display` or `Debug`. Only a `Result` hidden entirely behind a type parameter
/// (`-> T`) or `impl Trait` counts as success.
///
/// ```
/// use keel::trace::{self, Outcome};
///
/// #[derive(Debug)]
/// struct User { id: u64 }
///
/// #[keel::instrument(args(id), ret, err)]
/// fn load(id: u64, table: &[u64]) -> Result<User, String> {
///     table.iter().find(|&&row| row == id).map(|&id| User { id }).ok_or(format!("no user {id}"))
/// }
///
/// trace::enable();
/// let (_, events) = trace::capture(|| {
///     let _ = load(7, &[1, 7]);
///     let _ = load(9, &[1, 7]);
/// });
/// assert_eq!(events[0].field("id"), Some("7"));
/// assert_eq!(events[1].field("return"), Some("Ok(User { id: 7 })"));
/// assert_eq!(events[3].outcome(), Some(&Outcome::Err("no user 9".into())));
/// ```
///
/// Impl blocks and modules:
///
/// ```
/// mod handlers {
///     pub struct Repo(pub Vec<u32>);
///
///     #[keel::instrument]
///     impl Repo {
///         pub fn len(&self) -> usize { self.0.len() }
///         pub fn push(&mut self, x: u32) { self.0.push(x) }
///         #[keel::instrument(skip)]
///         pub fn hot_path(&self) -> u32 { self.0[0] }
///     }
/// }
///
/// keel::trace::enable();
/// let mut repo = handlers::Repo(vec![1]);
/// let (_, events) = keel::trace::capture(|| {
///     repo.push(2);
///     repo.hot_path();
///     repo.len()
/// });
/// let names: Vec<&str> = events.iter().filter(|e| e.is_enter()).map(|e| e.name()).collect();
/// assert!(names[0].ends_with("handlers::Repo::push"));
/// assert!(names[1].ends_with("handlers::Repo::len"));
/// assert_eq!(names.len(), 2); // hot_path opted out
/// ```
///
/// # Compile errors
///
/// Each spanned at the offending token: the attribute on a struct, enum, trait definition or
/// extern block; an unknown option; `args(x)` naming no parameter; `err` on a function whose
/// return type cannot be a `Result`; `ret` on a function returning `()`; a `const fn`.
///
/// ```compile_fail
/// #[keel::instrument(ret)]
/// fn nothing() {}
/// ```
#[proc_macro_attribute]
pub fn instrument(attr: TokenStream, item: TokenStream) -> TokenStream {
    instrument::instrument(attr.into(), item.into()).into()
}

/// Declares a plugin registry for a trait: Python's `__init_subclass__` base class.
///
/// Every type marked [`#[keel::plugin(Trait)]`](macro@plugin), in any crate linked into the
/// program, is registered in it; `keel::plugin::registry::<dyn Trait>()` returns the registry,
/// built once on first access.
///
/// ```
/// /// Formats a series of numbers.
/// #[keel::registry]
/// pub trait Exporter: Send + Sync {
///     fn export(&self, data: &[i64]) -> String;
/// }
///
/// /// Comma-separated values.
/// #[keel::plugin(Exporter, name = "csv", aliases = ["comma"])]
/// #[derive(Default)]
/// pub struct CsvExporter;
///
/// impl Exporter for CsvExporter {
///     fn export(&self, data: &[i64]) -> String {
///         data.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
///     }
/// }
///
/// let exporters = keel::plugin::registry::<dyn Exporter>();
/// assert_eq!(exporters.create("csv")?.export(&[1, 2, 3]), "1,2,3");
/// assert_eq!(exporters.names(), ["csv"]);
/// # Ok::<(), keel::plugin::PluginError>(())
/// ```
///
/// # Options
///
/// - `args = Type`: plugins are constructed from a `Type` value, with
///   `registry.create_with(name, value)`, through `From<Type>` or the plugin's `new = path`.
/// - `crate = path`: where to find keel when the dependency is renamed (default `::keel`).
///
/// ```
/// pub struct Config {
///     pub indent: usize,
/// }
///
/// #[keel::registry(args = Config)]
/// pub trait Formatter {
///     fn format(&self, words: &[&str]) -> String;
/// }
///
/// #[keel::plugin(Formatter, name = "lines")]
/// struct Lines {
///     indent: usize,
/// }
///
/// impl From<Config> for Lines {
///     fn from(config: Config) -> Self {
///         Lines { indent: config.indent }
///     }
/// }
///
/// impl Formatter for Lines {
///     fn format(&self, words: &[&str]) -> String {
///         let pad = " ".repeat(self.indent);
///         words.iter().map(|w| format!("{pad}{w}\n")).collect()
///     }
/// }
///
/// let lines = keel::plugin::registry::<dyn Formatter>().create_with("lines", Config { indent: 2 })?;
/// assert_eq!(lines.format(&["a", "b"]), "  a\n  b\n");
/// # Ok::<(), keel::plugin::PluginError>(())
/// ```
///
/// The trait must be usable as `dyn Trait`: no generic methods, no methods without a receiver
/// or returning `Self` (unless they have `where Self: Sized`), no associated types or constants,
/// and no generic parameters on the trait itself. The macro rejects each, pointing at it.
#[proc_macro_attribute]
pub fn registry(attr: TokenStream, item: TokenStream) -> TokenStream {
    registry::registry(attr.into(), item.into()).into()
}

/// Registers a struct or enum as a plugin of a [`#[keel::registry]`](macro@registry) trait:
/// Python's "just subclass it".
///
/// `#[keel::plugin(Trait, name = "..", aliases = ["..", ..], new = path, crate = path)]`
///
/// - `Trait` (first, required): the registry trait, which the type must implement.
/// - `name`: the registered name; defaults to the type's name in snake_case
///   (`JsonExporter` → `"json_exporter"`). Names and aliases are non-empty, without whitespace.
/// - `aliases`: other names the plugin answers to.
/// - `new = path`: the constructor, `fn() -> Self` (or `fn(Args) -> Self` when the registry has
///   `args = Args`), such as `new = Self::new`. Without it the plugin is built by
///   `Default::default()` (or `From<Args>`).
/// - `crate = path`: where to find keel when the dependency is renamed (default `::keel`).
///
/// The type's doc comment becomes the plugin's description. The type cannot be generic.
///
/// ```
/// #[keel::registry]
/// pub trait Exporter {
///     fn export(&self, data: &[i64]) -> String;
/// }
///
/// /// JSON arrays.
/// #[keel::plugin(Exporter)]
/// #[derive(Default)]
/// pub struct JsonExporter;
///
/// impl Exporter for JsonExporter {
///     fn export(&self, data: &[i64]) -> String {
///         format!("{data:?}")
///     }
/// }
///
/// /// Values separated by a configurable character.
/// #[keel::plugin(Exporter, name = "tsv", aliases = ["tab"], new = Separated::tabs)]
/// pub struct Separated {
///     separator: char,
/// }
///
/// impl Separated {
///     fn tabs() -> Self {
///         Separated { separator: '\t' }
///     }
/// }
///
/// impl Exporter for Separated {
///     fn export(&self, data: &[i64]) -> String {
///         let parts: Vec<String> = data.iter().map(i64::to_string).collect();
///         parts.join(&self.separator.to_string())
///     }
/// }
///
/// let exporters = keel::plugin::registry::<dyn Exporter>();
/// assert_eq!(exporters.names(), ["json_exporter", "tsv"]);
/// assert_eq!(exporters.create("json_exporter")?.export(&[1, 2]), "[1, 2]");
/// assert_eq!(exporters.create("tab")?.export(&[1, 2]), "1\t2");
/// let info = exporters.get("tsv").unwrap();
/// assert_eq!(info.description(), Some("Values separated by a configurable character."));
/// # Ok::<(), keel::plugin::PluginError>(())
/// ```
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    plugin::plugin(attr.into(), item.into()).into()
}

/// Range-checked struct fields and bounded newtypes: Python's reusable `Bounded(min, max)`
/// descriptor, with the checks written as plain inline comparisons.
///
/// Put `#[bounded(range)]` on the fields to check. The struct gets a checked constructor,
/// a getter and a setter per bounded field, and the bounds themselves as constants:
///
/// ```
/// use keel::Bounded;
/// use std::ops::RangeBounds;
///
/// #[derive(Bounded, Debug)]
/// pub struct NetworkConfig {
///     #[bounded(1..=65535)] port: u32,
///     #[bounded(0..=300)]   timeout: u32,
///     #[bounded(..=50)]     max_retries: u8,
///     name: String, // unbounded: passed through untouched
/// }
///
/// # fn main() -> Result<(), keel::BoundsError> {
/// let mut cfg = NetworkConfig::try_new(8080, 30, 3, "edge".into())?;
/// let err = cfg.set_port(99999).unwrap_err();
/// assert_eq!(err.to_string(), "NetworkConfig.port must be <= 65535, got 99999");
/// assert_eq!(cfg.port(), 8080); // a rejected value changes nothing
/// cfg.set_port(443)?;
/// assert!(NetworkConfig::TIMEOUT_BOUNDS.contains(&300));
///
/// const DEFAULT: NetworkConfig = NetworkConfig::new_const(80, 30, 3, String::new());
/// assert_eq!(DEFAULT.port(), 80);
/// # Ok(()) }
/// ```
///
/// # What a struct gets
///
/// Every item has the struct's visibility.
///
/// * `try_new(<every field, in order>) -> Result<Self, keel::BoundsError>`: checks the bounded
///   fields in declaration order and returns the first violation.
/// * For each bounded field `x: T`: `x(&self) -> T` (a `const fn`), `set_x(&mut self, T) ->
///   Result<(), keel::BoundsError>` which leaves `x` unchanged on error, and
///   `X_BOUNDS: keel::Bounds<T>` (it implements [`RangeBounds`](core::ops::RangeBounds) and
///   prints as the range).
/// * `validate(&self) -> Result<(), keel::BoundsError>`: checks every bounded field again, for
///   code in the defining module that wrote a field directly.
/// * When every bounded field is a primitive number (`u8` ... `u128`, `i8` ... `i128`, `usize`,
///   `isize`, `f32`, `f64`): `const fn new_const(<every field>) -> Self`, which panics on a
///   value out of bounds, so a bad value in a `const` is a compile error:
///
/// ```compile_fail,E0080
/// #[derive(keel::Bounded)]
/// pub struct Retry {
///     #[bounded(..=50)] attempts: u8,
/// }
/// const TOO_MANY: Retry = Retry::new_const(99); // error: Retry::new_const: attempts must be in ..=50
/// ```
///
/// Keep the bounded fields private: then the setters and `try_new` are the only way in from
/// other modules, and every value a reader sees lies within its bounds.
///
/// # Ranges
///
/// Rust's own range syntax: `a..=b`, `a..b`, `a..`, `..=b`, `..b`. The bounds are constant
/// expressions of the field's type: literals, `-5`, `0.0`, `i64::MAX`, your own `const`s, or a
/// `const`-constructible value of any `Copy + PartialOrd + Debug` type. A NaN is always rejected,
/// with `got NaN`, whatever the range:
///
/// ```
/// # use keel::Bounded;
/// const MAX_TEMP: f64 = 150.0;
///
/// #[derive(Bounded, Debug)]
/// struct Sensor {
///     #[bounded(-50.0..=MAX_TEMP)] celsius: f64,
///     #[bounded(i64::MIN..=-5)]    offset: i64,
/// }
///
/// let mut s = Sensor::try_new(20.0, -10).unwrap();
/// assert_eq!(
///     s.set_celsius(f64::NAN).unwrap_err().to_string(),
///     "Sensor.celsius must be in -50.0..=150.0, got NaN",
/// );
/// assert_eq!(s.set_offset(0).unwrap_err().to_string(), "Sensor.offset must be <= -5, got 0");
/// ```
///
/// Literal bounds are checked when compiling: an empty range (`10..=5`, `5..5`), a float bound
/// on an integer field, an integer bound on a float field, a literal that does not fit the type
/// (`..=300` on a `u8`) and a differently typed literal (`5u16`, `i64::MAX` on a `u32`) are
/// errors pointing at the bound.
///
/// # Newtypes
///
/// On a single-field tuple struct the range goes on the struct (or on its one field), and the
/// type carries its bounds wherever it is used:
///
/// ```
/// # use keel::Bounded;
/// #[derive(Bounded, Clone, Copy, Debug, PartialEq)]
/// #[bounded(1..=65535)]
/// pub struct Port(u16);
///
/// let port = Port::try_new(8080).unwrap();
/// assert_eq!(port.get(), 8080);
/// assert_eq!(u16::from(port), 8080);
/// assert_eq!(Port::try_new(0).unwrap_err().to_string(), "Port must be in 1..=65535, got 0");
/// assert_eq!(Port::try_from(443), Ok(Port::new_const(443)));
/// assert_eq!((Port::MIN.get(), Port::MAX.get()), (1, 65535));
/// assert_eq!(Port::BOUNDS.to_string(), "1..=65535");
///
/// // A field of type `Port` needs no attribute: a `Port` is always in bounds.
/// #[derive(Bounded, Debug)]
/// struct Listener {
///     port: Port,
///     #[bounded(1..=1024)] backlog: u16,
/// }
/// const HTTP: Listener = Listener::new_const(Port::new_const(80), 128);
/// # assert_eq!(HTTP.port.get(), 80);
/// ```
///
/// A newtype gets `try_new`, `get(self)`, `BOUNDS`, `TryFrom<T>`, `From<Self> for T`, and for a
/// primitive `T` also `const fn new_const`. `MIN` and `MAX` (of type `Self`) exist where the
/// extreme value is exact: a written lower bound or inclusive upper bound, the integer type's
/// own limit for an open side, `hi - 1` for an integer `..hi`, and ±infinity for an open float
/// side (a float `..hi` has no `MAX`).
///
/// With keel's `serde` feature, a newtype over a primitive number is `Serialize` as the bare
/// number and `Deserialize` through `try_new`, failing with the `BoundsError` message
/// (`Port must be in 1..=65535, got 0`). Your crate needs no feature of its own for this. For a
/// newtype over your own type, derive serde's traits with
/// `#[serde(try_from = "Inner", into = "Inner")]`, which use the generated conversions.
///
/// # Deserializing: `#[bounded(deserialize)]`
///
/// **A plain `#[derive(serde::Deserialize)]` skips the bounds**: serde writes the fields
/// directly, so `{"workers": 500}` would give `workers() == 500` and only `validate()` would
/// notice. Write `#[bounded(deserialize)]` on the struct instead (keel's `serde` feature): the
/// generated `Deserialize` reads the fields as serde's derive would, honouring the usual
/// `#[serde(..)]` attributes on the struct and its fields (`rename`, `default`, `alias`, ...),
/// then checks every bound, and an out-of-range value is a deserialization error carrying
/// keel's message. Bounded newtype fields check their own range while they are read. To keep
/// the bounds from being skipped by accident, `#[serde(..)]` attributes on a `Bounded` struct
/// without `#[bounded(deserialize)]` (or a container `#[serde(try_from = "..")]`) are a compile
/// error. Generic structs are not supported.
///
/// ```
/// #[derive(keel::Bounded, Debug)]
/// #[bounded(deserialize)]
/// struct Cfg {
///     #[bounded(1..=64)]
///     workers: u32,
///     #[serde(rename = "timeout_secs", default = "default_timeout")]
///     #[bounded(1..=300)]
///     timeout: u16,
/// }
/// fn default_timeout() -> u16 { 30 }
///
/// let cfg: Cfg = serde_json::from_str(r#"{"workers": 8}"#).unwrap();
/// assert_eq!((cfg.workers(), cfg.timeout()), (8, 30));
/// let err = serde_json::from_str::<Cfg>(r#"{"workers": 500}"#).unwrap_err();
/// assert!(err.to_string().starts_with("Cfg.workers must be <= 64, got 500"));
/// ```
///
/// # Tuple structs and generics
///
/// A tuple struct with several fields bounds them one by one: `get_0()`, `set_0(..)`,
/// `BOUNDS_0`, and messages say `Rgb.0 must be <= 255, got 256`. It must bound at least one
/// field. A generic struct works as long as no bounded field's type involves a type or const
/// parameter (bounds are constants of one concrete type); a bounded field of type `T`, and a
/// generic newtype, are compile errors.
///
/// # `crate = path`
///
/// Generated code reaches keel as `::keel`. When the dependency has another name, say so on the
/// struct, as a path or a string: `#[bounded(crate = my_keel)]`, or for a newtype
/// `#[bounded(1..=9, crate = "my_keel")]`.
///
/// ```
/// extern crate keel as my_keel;
///
/// #[derive(my_keel::Bounded)]
/// #[bounded(crate = my_keel)]
/// struct Timeout {
///     #[bounded(1..=60)] secs: u8,
/// }
/// # fn main() {
/// assert!(Timeout::try_new(61).is_err());
/// # }
/// ```
///
/// # Cost
///
/// A setter is one or two comparisons against constants and a store; building the error is an
/// out-of-line `#[cold]` call, so `set_port` compiles to the same instructions as the
/// hand-written `if` (see BENCHMARKS.md).
#[proc_macro_derive(Bounded, attributes(bounded, serde))]
pub fn derive_bounded(input: TokenStream) -> TokenStream {
    bounded::derive(input.into()).into()
}

/// Runs the function's body in a database transaction: commit on `Ok`, rollback on `Err` or
/// panic. Python's `@contextmanager` `managed_transaction`, as an attribute.
///
/// The function must return `Result<T, E>` where `E: From<C::Error> + From<keel::tx::TxError>`
/// (`C` the connection type). Its connection is the first `&mut` parameter, or the one named by
/// `conn = ident`; its type must implement `keel::tx::Transactional` (`rusqlite::Connection`
/// with the `sqlite` feature, `postgres::Client` with `postgres`). The body becomes a closure
/// passed to `keel::tx::run`, so `return` and `?` behave as written:
///
/// * `Ok` → commit (a failing commit becomes `Err`);
/// * `Err` → rollback, and the body's own error is returned;
/// * panic → rollback, then the panic continues.
///
/// Options, all optional:
///
/// | option | meaning |
/// |---|---|
/// | `conn = ident` | which parameter is the connection |
/// | `name = "..."` | name in errors, audit events and traces (default: the function's name) |
/// | `retry = N` | re-run the whole body up to N more times when the error is `keel::tx::Transient` (SQLITE_BUSY, serialization failure), after a short jittered backoff; the body must not move what it captures |
/// | `nested = "savepoint" \| "join" \| "fail"` | inside an open transaction: a savepoint (default), join the outer one, or return an error |
/// | `read_only` | a read-only transaction |
/// | `isolation = "serializable" \| "repeatable_read" \| "read_committed" \| "read_uncommitted"` | isolation level (a level the database lacks is a run-time `TxError::Unsupported` naming it) |
/// | `behavior = "auto" \| "deferred" \| "immediate" \| "exclusive"` | SQLite's `BEGIN` mode; `"auto"` (the default) begins writers `IMMEDIATE` and `read_only` transactions `DEFERRED` |
/// | `crate = path` | where keel is, if renamed |
///
/// With `nested = "join"`, a failing inner function marks the outer transaction
/// **rollback-only**: even if the outer body handles the error and returns `Ok`, the outer
/// transaction rolls back and returns `keel::tx::TxError::RollbackOnly` instead of committing.
///
/// Each transaction raises the audit events `tx.begin`, `tx.commit` and `tx.rollback`; a hook
/// that denies `tx.begin` makes the function return `TxError::Denied` without running the body.
///
/// With `#[keel::instrument]` too (above or below this attribute, or through an instrumented
/// module or impl block), the function's span wraps the whole transaction, retries included.
///
/// ```
/// #[derive(Debug)]
/// enum AppError { Db(rusqlite::Error), Tx(keel::tx::TxError), TooMany(usize) }
/// impl From<rusqlite::Error> for AppError { fn from(e: rusqlite::Error) -> Self { Self::Db(e) } }
/// impl From<keel::tx::TxError> for AppError { fn from(e: keel::tx::TxError) -> Self { Self::Tx(e) } }
///
/// #[keel::transaction]
/// fn upgrade_tiers(conn: &mut rusqlite::Connection, limit: usize) -> Result<usize, AppError> {
///     let n = conn.execute("UPDATE users SET tier = 'premium' WHERE spend > 10000", [])?;
///     conn.execute("INSERT INTO audit_log (event) VALUES ('tier_upgrade_batch')", [])?;
///     if n > limit {
///         return Err(AppError::TooMany(n)); // rolls back both statements
///     }
///     Ok(n)
/// }
///
/// let mut conn = rusqlite::Connection::open_in_memory().unwrap();
/// conn.execute_batch(
///     "CREATE TABLE users (name TEXT, tier TEXT, spend INTEGER);
///      CREATE TABLE audit_log (event TEXT);
///      INSERT INTO users VALUES ('ada', 'basic', 20000), ('bob', 'basic', 50);",
/// ).unwrap();
///
/// assert!(matches!(upgrade_tiers(&mut conn, 0), Err(AppError::TooMany(1))));
/// let logged: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0)).unwrap();
/// assert_eq!(logged, 0); // rolled back
///
/// assert_eq!(upgrade_tiers(&mut conn, 10).unwrap(), 1);
/// let logged: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0)).unwrap();
/// assert_eq!(logged, 1); // committed
/// ```
///
/// On an `async fn` the connection is `&mut tokio_postgres::Client` (feature `tokio-postgres`) or
/// sqlx's `PgConnection`, `SqliteConnection` or `PoolConnection` (feature `sqlx`); the body
/// becomes an `async` block driven by `keel::tx`'s async engine, with the same options, errors,
/// audit events and trace span. The future is `Send`, the retry backoff is awaited (tokio), and a
/// future dropped before it finishes never commits: its drop queues the rollback on the
/// connection ahead of its next use.
///
/// ```no_run
/// # #[cfg(feature = "tokio-postgres")] mod demo {
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// #[keel::transaction(name = "transfer", retry = 5, isolation = "serializable")]
/// async fn transfer(db: &mut tokio_postgres::Client, from: i64, to: i64) -> Result<(), BoxError> {
///     db.execute("UPDATE accounts SET cents = cents - 1 WHERE id = $1", &[&from]).await?;
///     db.execute("UPDATE accounts SET cents = cents + 1 WHERE id = $1", &[&to]).await?;
///     Ok(())
/// }
/// # }
/// ```
///
/// Retrying on lock conflicts, with a named transaction and SQLite's `BEGIN IMMEDIATE`:
///
/// ```
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// #[keel::transaction(conn = db, name = "credit", retry = 3, behavior = "immediate")]
/// fn credit(db: &mut rusqlite::Connection, id: i64, cents: i64) -> Result<(), BoxError> {
///     db.execute("UPDATE accounts SET cents = cents + ?1 WHERE id = ?2", [cents, id])?;
///     Ok(())
/// }
///
/// let mut db = rusqlite::Connection::open_in_memory().unwrap();
/// db.execute_batch("CREATE TABLE accounts (id INTEGER, cents INTEGER); INSERT INTO accounts VALUES (1, 0);").unwrap();
/// credit(&mut db, 1, 250).unwrap();
/// let cents: i64 = db.query_row("SELECT cents FROM accounts", [], |r| r.get(0)).unwrap();
/// assert_eq!(cents, 250);
/// ```
#[proc_macro_attribute]
pub fn transaction(attr: TokenStream, item: TokenStream) -> TokenStream {
    transaction::transaction(attr.into(), item.into()).into()
}
/// Derives a compile-time memory layout and a columnar container: Python's `__slots__`, taken
/// further.
///
/// On a struct with named fields it generates
///
/// * `Name::LAYOUT: keel::Layout`, a constant with the size, alignment, padding and, per field,
///   its offset (`offset_of!`), size, type and the bits it takes in a column
///   (`LAYOUT.packed_bits()`; `Display` prints a table);
/// * `NameColumns`, one column per field: full-width numbers as `Vec<T>`
///   (`rows.value_column() -> &[f64]`), `#[bounded(lo..=hi)]` or `#[compact(bits = N)]` integers
///   bit-packed (as offsets from the lower bound), `bool` as a bitmap, `String` in one arena (no
///   allocation per row) or, with `#[compact(intern)]`, as ids into an interner, and fields whose
///   type derives `Compact` (fieldless enums in `ceil(log2(variants))` bits, structs flattened
///   into their own columns); its methods are one reader per field (`rows.timestamp(7)`) and one
///   column view per field (`rows.timestamp_column()`), with the field's visibility;
/// * `NameVec = keel::layout::StructVec<NameColumns>`, the container that stores many rows by
///   column. Its methods are written once in the runtime, not generated: `new`,
///   `with_capacity`, `push`, `try_extend`, `get`, `get_into`, `set`, `pop`, `swap_remove`,
///   `truncate`, `clear`, `reserve`, `len`, `is_empty`, `iter`, `memory_bytes`,
///   `shrink_to_fit`, `columns`; plus `Clone`, `Debug`, `PartialEq`, `Default`, `Extend`,
///   `FromIterator` and `IntoIterator for &NameVec`. It derefs to `NameColumns`, so the per-field
///   readers are called on it directly.
///
/// `push`/`set`/`try_extend` check every value against its range or bits first and return a
/// `keel::BoundsError` with nothing stored when one does not fit.
///
/// On a fieldless enum it generates `Name::LAYOUT`, `keel::layout::CompactEnum` and
/// `NameVec = keel::layout::EnumVec<Name>`.
///
/// Options: `#[compact(max_size = N)]` on the type makes `size_of::<Name>() > N` a compile error
/// that names the real size; `#[compact(crate = path)]` names the keel crate if renamed. On a
/// field: `#[compact(bits = N)]` for integers, `#[compact(intern)]` for `String`.
///
/// ```
/// use keel::Compact;
///
/// #[derive(Compact, Clone, Copy, Debug, PartialEq)]
/// pub enum Quality { Good, Suspect, Bad }
///
/// #[derive(Compact, Clone, Debug, PartialEq)]
/// #[compact(max_size = 48)]
/// pub struct SensorReading {
///     pub timestamp: u64,
///     #[bounded(-50..=150)]
///     pub celsius: i16,
///     pub value: f64,
///     #[compact(intern)]
///     pub unit: String,
///     pub active: bool,
///     pub quality: Quality,
/// }
///
/// let reading = |i: u64| SensorReading {
///     timestamp: 1_719_000_000 + i,
///     celsius: 21,
///     value: 42.5 + i as f64,
///     unit: "°C".into(),
///     active: i % 2 == 0,
///     quality: Quality::Good,
/// };
/// let mut rows = SensorReadingVec::new();
/// for i in 0..1000 {
///     rows.push(reading(i))?;
/// }
/// assert_eq!(rows.get(7), Some(reading(7)));
/// assert_eq!(rows.timestamp(7), Some(1_719_000_007));
/// assert_eq!(rows.value_column().iter().sum::<f64>(), 42.5 * 1000.0 + 499_500.0);
///
/// // Out of range: an error, and nothing stored.
/// let err = rows.push(SensorReading { celsius: 200, ..reading(0) }).unwrap_err();
/// assert_eq!(err.to_string(), "SensorReading.celsius must be <= 150, got 200");
/// assert_eq!(rows.len(), 1000);
///
/// // celsius takes 8 bits, active 1, quality 2, unit 0 (one distinct string so far).
/// assert_eq!(SensorReading::LAYOUT.packed_bits(), 64 + 8 + 64 + 0 + 1 + 2);
/// println!("{}", SensorReading::LAYOUT);
/// # Ok::<(), keel::BoundsError>(())
/// ```
#[proc_macro_derive(Compact, attributes(compact, bounded))]
pub fn derive_compact(input: TokenStream) -> TokenStream {
    compact::derive(input.into()).into()
}
