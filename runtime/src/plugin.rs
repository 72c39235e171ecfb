//! Plugin registries: Python's `__init_subclass__` registration, resolved at link time.
//!
//! A trait marked `#[keel::registry]` gets a [`Registry`]; every type marked
//! `#[keel::plugin(Trait, ..)]`, in any crate linked into the binary, is registered in it by name
//! (and by its aliases). [`registry`] returns the registry, built once on first access (lazily,
//! thread-safe) into a hash map, so every lookup after that is O(1).
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
//! [`PluginError::Denied`] and no plugin is constructed.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;

use crate::audit;

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

/// What a plugin registered: its names, where it is defined, and its description.
///
/// ```
/// /// Tab-separated values.
/// ///
/// /// One row per line.
/// #[keel::plugin(Sink, name = "tsv", aliases = ["tab"])]
/// #[derive(Default)]
/// struct TsvSink;
///
/// #[keel::registry]
/// trait Sink {}
/// impl Sink for TsvSink {}
///
/// let info = keel::plugin::registry::<dyn Sink>().get("tab").unwrap();
/// assert_eq!(info.name(), "tsv");
/// assert_eq!(info.aliases(), ["tab"]);
/// assert!(info.type_path().ends_with("::TsvSink"));
/// assert_eq!(info.description(), Some("Tab-separated values.\n\nOne row per line."));
/// assert!(info.line() > 0);
/// ```
#[derive(Debug)]
pub struct PluginInfo {
    name: &'static str,
    aliases: &'static [&'static str],
    type_path: &'static str,
    file: &'static str,
    line: u32,
    description: Option<&'static str>,
}

impl PluginInfo {
    /// Used by `#[keel::plugin]`; not a public API.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        aliases: &'static [&'static str],
        type_path: &'static str,
        file: &'static str,
        line: u32,
        description: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            aliases,
            type_path,
            file,
            line,
            description,
        }
    }

    /// The registered name (`name = ".."`, or the type's name in snake_case).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Other names the plugin answers to (`aliases = [..]`).
    pub fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    /// The plugin type's path (`my_crate::exporters::CsvExporter`).
    pub fn type_path(&self) -> &'static str {
        self.type_path
    }

    /// The source file that defines the plugin.
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the `#[keel::plugin]` attribute in [`file`](Self::file).
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The plugin type's doc comment, if it has one.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }
}

impl fmt::Display for PluginInfo {
    /// `type_path (file:line)`, as used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.type_path, self.file, self.line)
    }
}

/// One name claimed by more than one plugin.
#[derive(Clone, Debug)]
pub struct Conflict {
    name: &'static str,
    plugins: Vec<&'static PluginInfo>,
}

impl Conflict {
    /// The contested name or alias.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Every plugin claiming it (at least two), sorted by type path.
    pub fn plugins(&self) -> &[&'static PluginInfo] {
        &self.plugins
    }
}

impl fmt::Display for Conflict {
    /// `"csv" is claimed by a::Csv (src/a.rs:3) and b::Csv (src/b.rs:9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is claimed by ", self.name)?;
        let last = self.plugins.len() - 1;
        for (i, plugin) in self.plugins.iter().enumerate() {
            match i {
                0 => {}
                i if i == last => f.write_str(" and ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{plugin}")?;
        }
        Ok(())
    }
}

/// Why a registry could not produce a plugin.
///
/// ```
/// #[keel::registry]
/// pub trait Shape {}
///
/// #[keel::plugin(Shape)]
/// #[derive(Default)]
/// struct Circle;
/// impl Shape for Circle {}
///
/// match keel::plugin::registry::<dyn Shape>().create("circel") {
///     Err(keel::plugin::PluginError::Unknown { suggestion, available, .. }) => {
///         assert_eq!(suggestion, Some("circle"));
///         assert_eq!(available, ["circle"]);
///     }
///     _ => unreachable!("circel is not registered"),
/// }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// No plugin has this name or alias.
    #[error(
        "unknown {registry} plugin {name:?}; {}available: {}",
        did_you_mean(.suggestion),
        list_or_none(.available)
    )]
    Unknown {
        /// The trait's name.
        registry: &'static str,
        /// The name asked for.
        name: String,
        /// The closest registered name or alias, when one is close.
        suggestion: Option<&'static str>,
        /// Every registered name, sorted.
        available: Vec<&'static str>,
    },
    /// The name asked for is claimed by more than one plugin, so it resolves to none.
    #[error("ambiguous {registry} plugin name: {conflict}")]
    Duplicate {
        /// The trait's name.
        registry: &'static str,
        /// The name and every plugin claiming it.
        conflict: Conflict,
    },
    /// [`Registry::check`] found names claimed by more than one plugin.
    #[error(
        "{registry} plugin registry has {} duplicate name(s): {}",
        .conflicts.len(),
        join_conflicts(.conflicts)
    )]
    Duplicates {
        /// The trait's name.
        registry: &'static str,
        /// Every conflict, sorted by name.
        conflicts: Vec<Conflict>,
    },
    /// An audit hook refused the `plugin.create` event; nothing was constructed.
    #[error("creating {registry} plugin {name:?} was refused: {source}")]
    Denied {
        /// The trait's name.
        registry: &'static str,
        /// The plugin's registered name.
        name: &'static str,
        /// The hook's denial.
        source: audit::Denied,
    },
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean {s:?}? "),
        None => String::new(),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

fn join_conflicts(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(Conflict::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The constructor a plugin registers: builds it from the registry's arguments.
#[doc(hidden)]
pub type Constructor<T> = fn(<T as Pluggable>::Args) -> Box<T>;

/// One `#[keel::plugin]`, as submitted to the link-time list. Not a public API.
#[doc(hidden)]
pub struct Registration {
    info: PluginInfo,
    registry: fn() -> TypeId,
    constructor: &'static (dyn Any + Send + Sync),
}

impl Registration {
    /// `constructor` must be a `&'static Constructor<T>` where `registry` returns
    /// `TypeId::of::<T>()`; a mismatched pair is ignored by every registry.
    pub const fn new(
        info: PluginInfo,
        registry: fn() -> TypeId,
        constructor: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self {
            info,
            registry,
            constructor,
        }
    }
}

inventory::collect!(Registration);

/// `TypeId::of::<T>()` as a function pointer that a `static` can hold.
#[doc(hidden)]
pub fn registry_id<T: ?Sized + 'static>() -> TypeId {
    TypeId::of::<T>()
}

/// Plugins of registries without `args` are built by `Default::default()`.
#[doc(hidden)]
pub struct ByDefault;

/// Plugins of registries with `args = A` are built by `From<A>`.
#[doc(hidden)]
pub struct ByFrom;

/// How a plugin without `new = path` is constructed, chosen by its registry's `How`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the plugin `{Self}` has no constructor",
    label = "a plugin without `new = ..` is built by `Default` (or by `From<args>` when its registry declares `args`)",
    note = "derive or implement it, or name a constructor with `#[keel::plugin(.., new = path)]`"
)]
pub trait Construct<A, How>: Sized {
    /// Builds the plugin.
    fn construct(args: A) -> Self;
}

impl<P: Default> Construct<(), ByDefault> for P {
    #[inline]
    fn construct((): ()) -> Self {
        P::default()
    }
}

impl<P: From<A>, A> Construct<A, ByFrom> for P {
    #[inline]
    fn construct(args: A) -> Self {
        P::from(args)
    }
}

/// A `new = path` constructor: `fn() -> P` for registries without `args`, `fn(A) -> P` with.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`new = ..` must name a function returning `{P}` that takes no arguments, or the registry's `args` when it declares them",
    label = "expected `fn() -> {P}` or `fn(args) -> {P}`"
)]
pub trait NewFn<A, P, How> {
    /// Calls the constructor.
    fn call(self, args: A) -> P;
}

impl<F: FnOnce() -> P, P> NewFn<(), P, ByDefault> for F {
    #[inline]
    fn call(self, (): ()) -> P {
        self()
    }
}

impl<F: FnOnce(A) -> P, A, P> NewFn<A, P, ByFrom> for F {
    #[inline]
    fn call(self, args: A) -> P {
        self(args)
    }
}

/// Calls a `new = path` constructor with the registry's arguments.
#[doc(hidden)]
#[inline]
pub fn construct_with<P, A, How, F: NewFn<A, P, How>>(new: F, args: A) -> P {
    new.call(args)
}

/// Registries with at most this many names and aliases are searched by scanning fingerprints.
const SMALL: usize = 8;

/// A string of at most 16 bytes as its length and two words that together hold every byte, so
/// two keys are equal exactly when the strings are (compared without a `memcmp` call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ShortKey {
    len: usize,
    head: u64,
    tail: u64,
}

impl ShortKey {
    /// `None` for strings longer than 16 bytes.
    #[inline]
    fn of(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        let len = bytes.len();
        let word4 = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            u64::from(u32::from_le_bytes(word))
        };
        let word8 = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let (head, tail) = match len {
            0 => (0, 0),
            // Bytes 0, len/2 and len-1 are all the bytes of a string of 1 to 3.
            1..=3 => (
                u64::from(bytes[0])
                    | (u64::from(bytes[len / 2]) << 8)
                    | (u64::from(bytes[len - 1]) << 16),
                0,
            ),
            // The first and last 4 (or 8) bytes overlap and cover the whole string.
            4..=7 => (word4(0), word4(len - 4)),
            8..=16 => (word8(0), word8(len - 8)),
            _ => return None,
        };
        Some(Self { len, head, tail })
    }
}

/// The fingerprint table of a small registry, or an empty one when the registry is too large
/// or has a key longer than 16 bytes.
fn small_table(
    index: &HashMap<&'static str, Slot, foldhash::fast::FixedState>,
) -> Box<[(ShortKey, Slot)]> {
    if index.len() > SMALL {
        return Box::new([]);
    }
    index
        .iter()
        .map(|(key, slot)| ShortKey::of(key).map(|short| (short, *slot)))
        .collect::<Option<Vec<_>>>()
        .map(Vec::into_boxed_slice)
        .unwrap_or_default()
}

/// Where a name points in a built registry.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// Exactly one plugin claims the name: its index in `entries`.
    Unique(u32),
    /// Several do: the index in `conflicts`.
    Conflict(u32),
}

struct Entry<T: ?Sized + Pluggable> {
    info: &'static PluginInfo,
    constructor: Constructor<T>,
}

/// The plugins of one trait `T` (written `dyn Trait`), by name. Get it with [`registry`].
///
/// ```
/// #[keel::registry]
/// pub trait Greeter {
///     fn greet(&self) -> String;
/// }
///
/// #[keel::plugin(Greeter, name = "en", aliases = ["english"])]
/// #[derive(Default)]
/// struct English;
/// impl Greeter for English {
///     fn greet(&self) -> String {
///         "hello".into()
///     }
/// }
///
/// let greeters = keel::plugin::registry::<dyn Greeter>();
/// assert_eq!(greeters.len(), 1);
/// assert_eq!(greeters.create("english")?.greet(), "hello");
/// assert!(greeters.check().is_ok());
/// # Ok::<(), keel::plugin::PluginError>(())
/// ```
pub struct Registry<T: ?Sized + Pluggable> {
    /// Sorted by name, then type path.
    entries: Vec<Entry<T>>,
    /// Distinct names, sorted.
    names: Vec<&'static str>,
    /// Every name and alias.
    index: HashMap<&'static str, Slot, foldhash::fast::FixedState>,
    /// For small registries (at most [`SMALL`] keys, each at most 16 bytes): every name and
    /// alias as a [`ShortKey`], scanned instead of hashing. Empty otherwise.
    small: Box<[(ShortKey, Slot)]>,
    /// Sorted by name.
    conflicts: Vec<Conflict>,
}

impl<T: ?Sized + Pluggable> Registry<T> {
    /// Builds a registry from every plugin of `T` linked into the program. [`registry`] does
    /// this once and keeps the result; call it directly only to measure or inspect a fresh build.
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// #[keel::plugin(Greeter)]
    /// #[derive(Default)]
    /// struct English;
    /// impl Greeter for English {}
    ///
    /// let fresh = keel::plugin::Registry::<dyn Greeter>::collect();
    /// assert_eq!(fresh.names(), keel::plugin::registry::<dyn Greeter>().names());
    /// ```
    pub fn collect() -> Self {
        let id = TypeId::of::<T>();
        let mut entries: Vec<Entry<T>> = inventory::iter::<Registration>
            .into_iter()
            .filter(|registration| (registration.registry)() == id)
            .filter_map(|registration| {
                let constructor = registration.constructor.downcast_ref::<Constructor<T>>()?;
                Some(Entry {
                    info: &registration.info,
                    constructor: *constructor,
                })
            })
            .collect();
        entries.sort_unstable_by(|a, b| {
            (a.info.name, a.info.type_path, a.info.file, a.info.line).cmp(&(
                b.info.name,
                b.info.type_path,
                b.info.file,
                b.info.line,
            ))
        });

        let mut names: Vec<&'static str> = entries.iter().map(|e| e.info.name).collect();
        names.dedup();

        let mut index = HashMap::with_capacity_and_hasher(
            entries.len() * 2,
            foldhash::fast::FixedState::default(),
        );
        let mut conflicts: Vec<Conflict> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let position = u32::try_from(i).expect("fewer than 2^32 plugins");
            let keys = std::iter::once(entry.info.name).chain(entry.info.aliases.iter().copied());
            for key in keys {
                match index.entry(key) {
                    MapEntry::Vacant(vacant) => {
                        vacant.insert(Slot::Unique(position));
                    }
                    MapEntry::Occupied(mut occupied) => match *occupied.get() {
                        Slot::Unique(first) => {
                            let slot = Slot::Conflict(conflicts.len() as u32);
                            conflicts.push(Conflict {
                                name: key,
                                plugins: vec![entries[first as usize].info, entry.info],
                            });
                            occupied.insert(slot);
                        }
                        Slot::Conflict(c) => conflicts[c as usize].plugins.push(entry.info),
                    },
                }
            }
        }
        if !conflicts.is_empty() {
            for conflict in &mut conflicts {
                conflict
                    .plugins
                    .sort_by_key(|p| (p.type_path, p.file, p.line));
            }
            conflicts.sort_by_key(|c| c.name);
            for (c, conflict) in conflicts.iter().enumerate() {
                index.insert(conflict.name, Slot::Conflict(c as u32));
            }
        }
        let small = small_table(&index);
        Self {
            entries,
            names,
            index,
            small,
            conflicts,
        }
    }

    /// Constructs the plugin registered as `name` (or with the alias `name`) from `args`.
    ///
    /// Raises the audit event `plugin.create` first; see the [module docs](self).
    ///
    /// ```
    /// #[keel::registry(args = u32)]
    /// pub trait Pool {
    ///     fn size(&self) -> u32;
    /// }
    ///
    /// #[keel::plugin(Pool, name = "fixed")]
    /// struct Fixed(u32);
    /// impl From<u32> for Fixed {
    ///     fn from(size: u32) -> Self {
    ///         Fixed(size)
    ///     }
    /// }
    /// impl Pool for Fixed {
    ///     fn size(&self) -> u32 {
    ///         self.0
    ///     }
    /// }
    ///
    /// let pool = keel::plugin::registry::<dyn Pool>().create_with("fixed", 8)?;
    /// assert_eq!(pool.size(), 8);
    /// # Ok::<(), keel::plugin::PluginError>(())
    /// ```
    #[inline]
    pub fn create_with(&self, name: &str, args: T::Args) -> Result<Box<T>, PluginError> {
        let entry = self.entry(name)?;
        // Checked first so the event's arguments are only assembled when a hook will see them.
        if audit::is_active() {
            if let Err(source) = audit::emit(
                "plugin.create",
                &[("registry", &T::NAME), ("name", &entry.info.name)],
            ) {
                return Err(self.denied(entry.info.name, source));
            }
        }
        Ok((entry.constructor)(args))
    }

    /// The plugin registered as `name`, or with the alias `name`. `None` when no plugin, or more
    /// than one, claims it ([`create`](Self::create) says which).
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// /// Says hello.
    /// #[keel::plugin(Greeter, aliases = ["en"])]
    /// #[derive(Default)]
    /// struct English;
    /// impl Greeter for English {}
    ///
    /// let greeters = keel::plugin::registry::<dyn Greeter>();
    /// assert_eq!(greeters.get("en").map(|p| p.name()), Some("english"));
    /// assert_eq!(greeters.get("english").unwrap().description(), Some("Says hello."));
    /// assert!(greeters.get("french").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&'static PluginInfo> {
        self.entry(name).ok().map(|entry| entry.info)
    }

    /// Registered names (not aliases), sorted; each once, even when several plugins claim it.
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// #[keel::plugin(Greeter, name = "fr")]
    /// #[derive(Default)]
    /// struct French;
    /// #[keel::plugin(Greeter, name = "en", aliases = ["english"])]
    /// #[derive(Default)]
    /// struct English;
    /// impl Greeter for French {}
    /// impl Greeter for English {}
    ///
    /// assert_eq!(keel::plugin::registry::<dyn Greeter>().names(), ["en", "fr"]);
    /// ```
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Every registered plugin, sorted by name (plugins sharing a name by type path).
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// #[keel::plugin(Greeter, name = "fr")]
    /// #[derive(Default)]
    /// struct French;
    /// #[keel::plugin(Greeter, name = "en")]
    /// #[derive(Default)]
    /// struct English;
    /// impl Greeter for French {}
    /// impl Greeter for English {}
    ///
    /// let types: Vec<_> = keel::plugin::registry::<dyn Greeter>()
    ///     .iter()
    ///     .map(|p| p.type_path().rsplit("::").next().unwrap())
    ///     .collect();
    /// assert_eq!(types, ["English", "French"]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static PluginInfo> + '_ {
        self.entries.iter().map(|entry| entry.info)
    }

    /// The number of registered plugins (duplicates included).
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// assert_eq!(keel::plugin::registry::<dyn Greeter>().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no plugin is registered.
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// assert!(keel::plugin::registry::<dyn Greeter>().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `Ok` when every name and alias belongs to exactly one plugin; otherwise
    /// [`PluginError::Duplicates`] listing every conflict. Worth calling at start-up or in a test.
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {}
    /// #[keel::plugin(Greeter, name = "hi")]
    /// #[derive(Default)]
    /// struct English;
    /// #[keel::plugin(Greeter, name = "hi")]
    /// #[derive(Default)]
    /// struct Hawaiian;
    /// impl Greeter for English {}
    /// impl Greeter for Hawaiian {}
    ///
    /// let err = keel::plugin::registry::<dyn Greeter>().check().unwrap_err();
    /// assert!(err.to_string().starts_with("Greeter plugin registry has 1 duplicate name(s): \"hi\" is claimed by "));
    /// ```
    pub fn check(&self) -> Result<(), PluginError> {
        if self.conflicts.is_empty() {
            Ok(())
        } else {
            Err(PluginError::Duplicates {
                registry: T::NAME,
                conflicts: self.conflicts.clone(),
            })
        }
    }

    #[inline]
    fn entry(&self, name: &str) -> Result<&Entry<T>, PluginError> {
        match self.slot(name) {
            Some(Slot::Unique(i)) => Ok(&self.entries[i as usize]),
            Some(Slot::Conflict(c)) => Err(self.duplicate(c)),
            None => Err(self.unknown(name)),
        }
    }

    /// Where `name` points: a bounded scan of at most [`SMALL`] fingerprints for small
    /// registries, a hash lookup otherwise; O(1) either way.
    #[inline]
    fn slot(&self, name: &str) -> Option<Slot> {
        if self.small.is_empty() {
            return self.index.get(name).copied();
        }
        let key = ShortKey::of(name)?;
        self.small
            .iter()
            .find(|(candidate, _)| *candidate == key)
            .map(|(_, slot)| *slot)
    }

    #[cold]
    #[inline(never)]
    fn duplicate(&self, conflict: u32) -> PluginError {
        PluginError::Duplicate {
            registry: T::NAME,
            conflict: self.conflicts[conflict as usize].clone(),
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown(&self, name: &str) -> PluginError {
        PluginError::Unknown {
            registry: T::NAME,
            name: name.to_owned(),
            suggestion: closest(name, self.index.keys().copied()),
            available: self.names.clone(),
        }
    }

    #[cold]
    #[inline(never)]
    fn denied(&self, name: &'static str, source: audit::Denied) -> PluginError {
        PluginError::Denied {
            registry: T::NAME,
            name,
            source,
        }
    }
}

impl<T: ?Sized + Pluggable<Args = ()>> Registry<T> {
    /// Constructs the plugin registered as `name` (or with the alias `name`).
    ///
    /// Raises the audit event `plugin.create` first; see the [module docs](self).
    ///
    /// ```
    /// #[keel::registry]
    /// pub trait Greeter {
    ///     fn greet(&self) -> String;
    /// }
    /// #[keel::plugin(Greeter, name = "en")]
    /// #[derive(Default)]
    /// struct English;
    /// impl Greeter for English {
    ///     fn greet(&self) -> String {
    ///         "hello".into()
    ///     }
    /// }
    ///
    /// let greeters = keel::plugin::registry::<dyn Greeter>();
    /// assert_eq!(greeters.create("en")?.greet(), "hello");
    /// assert_eq!(
    ///     greeters.create("EN").err().unwrap().to_string(),
    ///     r#"unknown Greeter plugin "EN"; did you mean "en"? available: en"#
    /// );
    /// # Ok::<(), keel::plugin::PluginError>(())
    /// ```
    #[inline]
    pub fn create(&self, name: &str) -> Result<Box<T>, PluginError> {
        self.create_with(name, ())
    }
}

impl<T: ?Sized + Pluggable> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("trait", &T::NAME)
            .field(
                "plugins",
                &self.entries.iter().map(|e| e.info).collect::<Vec<_>>(),
            )
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

/// The candidate closest to `name` by edit distance (case-insensitive, transpositions count
/// as one edit), if it is close enough to be a plausible typo; ties go to the alphabetically
/// first candidate.
fn closest(name: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let wanted = name.to_lowercase();
    candidates
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&wanted, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longest = wanted.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 4] = ["csv", "json", "json_lines", "parquet"];

    #[test]
    fn suggests_the_closest_plausible_name() {
        assert_eq!(closest("cvs", NAMES.into_iter()), Some("csv"));
        assert_eq!(closest("CSV", NAMES.into_iter()), Some("csv"));
        assert_eq!(closest("jsno", NAMES.into_iter()), Some("json"));
        assert_eq!(closest("json_line", NAMES.into_iter()), Some("json_lines"));
        assert_eq!(closest("parket", NAMES.into_iter()), Some("parquet"));
    }

    #[test]
    fn short_keys_are_equal_exactly_when_the_strings_are() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "aa",
            "abc",
            "acb",
            "cba",
            "abcd",
            "abce",
            "abcde",
            "abxde",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgx",
            "xbcdefgh",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "abcdefghXjklmnop",
            "csv",
            "json",
            "json_exporter",
        ];
        for a in words {
            for b in words {
                assert_eq!(ShortKey::of(a) == ShortKey::of(b), a == b, "{a:?} vs {b:?}");
            }
        }
        assert_eq!(ShortKey::of("abcdefghijklmnopq"), None, "17 bytes");
        // Every byte position of every length up to 16 matters.
        for len in 1..=16 {
            let base = vec![b'a'; len];
            for at in 0..len {
                let mut changed = base.clone();
                changed[at] = b'b';
                let (x, y) = (
                    std::str::from_utf8(&base).unwrap(),
                    std::str::from_utf8(&changed).unwrap(),
                );
                assert_ne!(ShortKey::of(x), ShortKey::of(y), "len {len}, byte {at}");
            }
        }
    }

    #[test]
    fn suggests_nothing_for_a_distant_name() {
        assert_eq!(closest("xml", NAMES.into_iter()), None);
        assert_eq!(closest("", NAMES.into_iter()), None);
        assert_eq!(closest("yaml", std::iter::empty()), None);
    }

    #[test]
    fn unknown_lists_what_exists_or_says_none() {
        let err = PluginError::Unknown {
            registry: "Exporter",
            name: "xml".into(),
            suggestion: None,
            available: vec![],
        };
        assert_eq!(
            err.to_string(),
            r#"unknown Exporter plugin "xml"; available: (none)"#
        );
    }

    #[test]
    fn a_conflict_names_every_claimant_with_its_location() {
        static A: PluginInfo = PluginInfo::new("csv", &[], "a::Csv", "src/a.rs", 3, None);
        static B: PluginInfo = PluginInfo::new("csv", &[], "b::Csv", "src/b.rs", 9, None);
        static C: PluginInfo = PluginInfo::new("x", &["csv"], "c::X", "src/c.rs", 1, None);
        let two = Conflict {
            name: "csv",
            plugins: vec![&A, &B],
        };
        assert_eq!(
            two.to_string(),
            r#""csv" is claimed by a::Csv (src/a.rs:3) and b::Csv (src/b.rs:9)"#
        );
        let three = Conflict {
            name: "csv",
            plugins: vec![&A, &B, &C],
        };
        assert_eq!(
            three.to_string(),
            r#""csv" is claimed by a::Csv (src/a.rs:3), b::Csv (src/b.rs:9) and c::X (src/c.rs:1)"#
        );
    }
}
