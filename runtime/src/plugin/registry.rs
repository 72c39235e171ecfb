//! [`Registry`]: the plugins of one trait, by name, built once from the link-time list.

use std::any::TypeId;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;

use super::lookup::{ShortKey, closest, small_table};
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
    /// For small registries (at most `SMALL` (8) keys, each at most 16 bytes): every name and
    /// alias as a [`ShortKey`], scanned instead of hashing. Empty otherwise.
    small: Box<[(ShortKey, Slot)]>,
    /// Sorted by name.
    conflicts: Vec<Conflict>,
}

impl<T: ?Sized + Pluggable> Registry<T> {
    /// Builds a registry from every plugin of `T` linked into the program. [`registry`](fn@super::registry) does
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
    /// Raises the audit event `plugin.create` first; see the [module docs](super).
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

    /// Where `name` points: a bounded scan of at most `SMALL` (8) fingerprints for small
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
    /// Raises the audit event `plugin.create` first; see the [module docs](super).
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
