//! Procedural macros of [keel](https://docs.rs/keel). Use them through the `keel` crate, which
//! re-exports every macro here together with the runtime the generated code calls into.
//!
//! This file holds only the entry points; each macro is a pipeline (parse → validate → expand)
//! in its own module.

#[allow(dead_code)] // shared helpers; each macro uses the part it needs
mod common;

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
