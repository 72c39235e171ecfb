//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;
mod instrument;

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
///   inline module inside it. Items inside may carry their own `#[keel::instrument(..)]` to add
///   options, or `#[keel::instrument(skip)]` to opt out (a bare `#[instrument]` inside an
///   instrumented module is taken to be this attribute too; write `tracing::instrument` in full
///   for `tracing`'s).
/// * **`const fn`** is left untouched inside an instrumented impl block or module (a const fn
///   cannot read a clock); the attribute on a `const fn` itself is a compile error.
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

mod plugin;

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
pub fn registry(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    plugin::registry(args.into(), item.into()).into()
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
pub fn plugin(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    plugin::plugin(args.into(), item.into()).into()
}
