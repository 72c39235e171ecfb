//! Plugin registries: Python's `__init_subclass__` registration, resolved at link time.
//!
//! A trait marked `#[keel::registry]` gets a [`Registry`]; every type marked
//! `#[keel::plugin(Trait, ..)]`, in any crate linked into the binary, is registered in it by name
//! (and by its aliases). [`registry`] returns the registry, built once on first access (lazily,
//! thread-safe) into an index, so every lookup after that is O(1). [`Registry::create`] first
//! scans a fixed table of up to 8 names and aliases of at most 15 bytes (the registered names
//! first), each held as a fixed-size fingerprint beside its constructor, which needs neither
//! hashing nor `memcmp`; any other name is found in a hash map. The table is only used while no
//! audit hook is installed (see [Audit](#audit)).
//!
//! ```
//! /// Formats a series of numbers.
//! #[keel::registry]
//! pub trait Exporter: Send + Sync {
//!     fn export(&self, data: &[i64]) -> String;
//! }
//!
//! /// Comma-separated values.
//! #[keel::plugin(Exporter, name = "csv", aliases = ["comma"])]
//! #[derive(Default)]
//! pub struct CsvExporter;
//!
//! impl Exporter for CsvExporter {
//!     fn export(&self, data: &[i64]) -> String {
//!         data.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
//!     }
//! }
//!
//! let exporters = keel::plugin::registry::<dyn Exporter>();
//! assert_eq!(exporters.create("csv")?.export(&[1, 2, 3]), "1,2,3");
//! assert_eq!(exporters.create("comma")?.export(&[4]), "4");
//! assert_eq!(exporters.names(), ["csv"]);
//! assert_eq!(exporters.get("csv").unwrap().description(), Some("Comma-separated values."));
//!
//! let err = exporters.create("cvs").err().unwrap();
//! assert_eq!(err.to_string(), r#"unknown Exporter plugin "cvs"; did you mean "csv"? available: csv"#);
//! # Ok::<(), keel::plugin::PluginError>(())
//! ```
//!
//! # Duplicates are never resolved silently
//!
//! Two plugins claiming the same name or alias (anywhere in the binary) make that name
//! unusable: [`Registry::create`] of it returns [`PluginError::Duplicate`] naming both types and
//! where they are defined, and [`Registry::check`] reports every such conflict (call it at start-up
//! or in a test). Other names keep working.
//!
//! # Linking: a crate nothing references contributes no plugins
//!
//! Registration happens at link time (through [`inventory`]): each plugin is a static that the
//! program's start-up code adds to a list. Rust only links a dependency that the program refers
//! to, so a crate that exists *only* to provide plugins, and that nothing names, is left out of
//! the binary and its plugins are absent from every registry, without any error.
//!
//! The remedy is to name the crate once, anywhere in the final binary (usually `main.rs`):
//!
//! ```ignore
//! use my_exporters as _; // links the crate, and with it its plugins
//! ```
//!
//! A crate that the binary already uses for anything else (a type, a function) is linked and
//! needs nothing more.
//!
//! # Audit
//!
//! [`Registry::create`] and [`Registry::create_with`] raise the [`audit`](crate::audit) event
//! `plugin.create` with the arguments `registry` (the trait name) and `name` (the plugin's
//! registered name) before constructing anything; a hook's denial becomes
//! [`PluginError::Denied`] and no plugin is constructed. With no hook installed there is nothing
//! to raise, and a name found in the fast table costs no audit check at all: the first
//! [`add_hook`](crate::audit::add_hook) switches every registry's table off before it returns,
//! so every `create` after it, on any thread that synchronises with it, is seen by the hook.

mod error;
mod info;
mod lookup;
mod registration;
mod registry;

pub use error::PluginError;
pub use info::{Conflict, PluginInfo};
#[doc(hidden)]
pub use registration::{
    ByDefault, ByFrom, Construct, Constructor, NewFn, Registration, construct_with, registry_id,
};
pub use registry::Registry;

/// Implemented by `#[keel::registry]` for `dyn Trait`: makes the trait object type the key of a
/// plugin registry. Not meant to be implemented by hand.
///
/// ```
/// #[keel::registry]
/// pub trait Codec {
///     fn encode(&self, input: &str) -> String;
/// }
///
/// use keel::plugin::Pluggable;
/// assert_eq!(<dyn Codec as Pluggable>::NAME, "Codec");
/// assert!(<dyn Codec as Pluggable>::registry().is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugin registry",
    label = "this trait has no `#[keel::registry]`",
    note = "add `#[keel::registry]` to the trait's declaration so plugins can register for it"
)]
pub trait Pluggable: 'static {
    /// What plugins are constructed from: `()` unless the registry declares `args = Type`.
    type Args: 'static;

    /// How a plugin without `new = path` is constructed (`Default` or `From<Args>`).
    #[doc(hidden)]
    type Construct: 'static;

    /// The trait's name, as used in error messages (`"Exporter"`).
    const NAME: &'static str;

    /// The trait's registry, built on first access. Prefer [`registry`].
    fn registry() -> &'static Registry<Self>;
}

/// The registry of the plugin trait `T` (written `dyn Trait`), built once, lazily and
/// thread-safely, on first access.
///
/// ```
/// #[keel::registry]
/// pub trait Greeter {
///     fn greet(&self) -> String;
/// }
///
/// #[keel::plugin(Greeter)]
/// #[derive(Default)]
/// struct English;
///
/// impl Greeter for English {
///     fn greet(&self) -> String {
///         "hello".into()
///     }
/// }
///
/// let greeters = keel::plugin::registry::<dyn Greeter>();
/// assert_eq!(greeters.names(), ["english"]);
/// assert_eq!(greeters.create("english")?.greet(), "hello");
/// # Ok::<(), keel::plugin::PluginError>(())
/// ```
pub fn registry<T: ?Sized + Pluggable>() -> &'static Registry<T> {
    T::registry()
}
