//! [`Registry`]: the plugins of one trait, by name, built once from the link-time list.

use std::any::TypeId;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::sync::OnceLock;

use super::lookup::{FastTable, closest, fast_keys};
use super::registration::{Constructor, Registration};
use super::{Conflict, Pluggable, PluginError, PluginInfo};
use crate::audit;

/// Where a name points in a built registry.
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot {
    /// Exactly one plugin claims the name: its index in `entries`.
    Unique(u32),
    /// Several do: the index in `conflicts`.
    Conflict(u32),
}

struct Entry<T: ?Sized + Pluggable> {
    info: &'static PluginInfo,
    constructor: Constructor<T>,
}

// By hand: a derive would require `T: Clone`, which `dyn Trait` is not.
impl<T: ?Sized + Pluggable> Clone for Entry<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized + Pluggable> Copy for Entry<T> {}

/// The plugins of one trait `T` (written `dyn Trait`), by name. Get it with [`registry`](fn@super::registry).
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
    /// The first 8 names and aliases that one plugin alone claims and that have at most 15
    /// bytes, each with that plugin's constructor: scanned before any hashing, and only while
    /// no audit hook is installed. Every other name is found through `index`.
    fast: FastTable<T>,
    /// Sorted by name.
    conflicts: Vec<Conflict>,
}

impl<T: ?Sized + Pluggable> Registry<T> {
    /// Builds a registry from every plugin of `T` linked into the program. [`registry`](fn@super::registry) does
    /// this once and keeps the result; call it directly only to measure or inspect a fresh build.
    /// A registry built this way finds every name by hashing: the table that spares the
    /// registry of [`registry`](fn@super::registry) the hashing and the audit check (see
    /// [`create_with`](Self::create_with)) is only armed in a registry that lives for the
    /// whole program.
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
        let fast = FastTable::new(
            fast_keys(&index, &names).map(|(key, i)| (key, entries[i as usize].constructor)),
        );
        Self {
            entries,
            names,
            index,
            fast,
            conflicts,
        }
    }

    /// The registry in `cell`, built and armed on first access: what the `registry()` of a
    /// `#[keel::registry]` trait returns. Not a public API.
    #[doc(hidden)]
    #[inline]
    pub fn get_or_collect(cell: &'static OnceLock<Self>) -> &'static Self {
        match cell.get() {
            Some(registry) => registry,
            None => Self::first_access(cell),
        }
    }

    #[cold]
    #[inline(never)]
    fn first_access(cell: &'static OnceLock<Self>) -> &'static Self {
        let mut built = false;
        let registry = cell.get_or_init(|| {
            built = true;
            Self::collect()
        });
        // Armed once, by the thread that built it; others meanwhile find names by hashing.
        if built {
            registry.fast.arm_when_static();
        }
        registry
    }

    /// Constructs the plugin registered as `name` (or with the alias `name`) from `args`.
    ///
    /// Raises the audit event `plugin.create` first; see the [module docs](super). The error is
    /// boxed so that the `Result` is two words wide (a `PluginError` is much larger, and every
    /// caller would pay for moving it); `?` converts it into a `PluginError` where one is expected.
    ///
    /// Cost: the registry's first 8 names and aliases of at most 15 bytes (the names first) are
    /// found by an inlined scan of a fixed table, without hashing, and while no audit hook is
    /// installed such a hit skips the audit check as well: the first [`add_hook`] switches the
    /// table off, in every registry, before it returns, and from then on every `create` hashes
    /// and raises its event. Any other name costs one hash-map lookup.
    ///
    /// [`add_hook`]: crate::audit::add_hook
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
    // `always`: the fast path is a few dozen instructions, and a call would add a `Result`
    // returned through memory.
    #[inline(always)]
    pub fn create_with(&self, name: &str, args: T::Args) -> Result<Box<T>, Box<PluginError>> {
        // Only a hit in the fast table is inline: a scan and the constructor call, whose `Box`
        // comes back in two registers. The table matches only while no audit hook is installed,
        // so a hit needs no audit check. Every other path (hashing, an audit hook, an error) is
        // one call to an out-of-line function.
        match self.fast.find(name) {
            Some(constructor) => Ok(constructor(args)),
            None => self.create_slow(name, args),
        }
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
        self.find(name).map(|entry| entry.info)
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

    /// The plugin that `name` resolves to, if exactly one claims it.
    fn find(&self, name: &str) -> Option<&Entry<T>> {
        match self.index.get(name)? {
            Slot::Unique(i) => Some(&self.entries[*i as usize]),
            Slot::Conflict(_) => None,
        }
    }

    /// [`create_with`](Self::create_with) for every name the fast table does not hold, for a
    /// registry with an audit hook, and for every error: out of line, since hashing costs far
    /// more than the call.
    ///
    /// `extern "C-unwind"` for its return value alone (it is never called through a pointer or
    /// from outside Rust): Rust's own calling convention returns this `Result` through memory,
    /// since its two variants put different kinds of data in its first word. The C convention
    /// returns any 16-byte struct of integers and pointers in two registers (System V x86-64,
    /// AArch64), so the result of the inlined fast path and this one meet in registers instead
    /// of being stored and copied on every `create`. `-unwind` lets a panicking constructor
    /// unwind through it, as through any Rust function.
    #[inline(never)]
    #[allow(improper_ctypes_definitions)]
    extern "C-unwind" fn create_slow(
        &self,
        name: &str,
        args: T::Args,
    ) -> Result<Box<T>, Box<PluginError>> {
        match self.index.get(name) {
            Some(Slot::Unique(i)) => {
                let entry = self.entries[*i as usize];
                // Checked first so the event's arguments are only assembled when a hook will see them.
                if audit::is_active() {
                    self.create_audited(entry, args)
                } else {
                    Ok((entry.constructor)(args))
                }
            }
            Some(Slot::Conflict(c)) => Err(Box::new(self.duplicate(*c))),
            None => Err(Box::new(self.unknown(name))),
        }
    }

    /// [`create_with`](Self::create_with) once a hook is installed: raises `plugin.create`, then
    /// constructs the plugin unless a hook denied it.
    #[cold]
    #[inline(never)]
    fn create_audited(&self, entry: Entry<T>, args: T::Args) -> Result<Box<T>, Box<PluginError>> {
        let name = entry.info.name;
        match audit::emit("plugin.create", &[("registry", &T::NAME), ("name", &name)]) {
            Ok(()) => Ok((entry.constructor)(args)),
            Err(source) => Err(Box::new(self.denied(name, source))),
        }
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
    /// Raises the audit event `plugin.create` first; see the [module docs](super). The error is
    /// boxed, as for [`create_with`](Self::create_with).
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
    #[inline(always)]
    pub fn create(&self, name: &str) -> Result<Box<T>, Box<PluginError>> {
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
