//! A thread-safe cache that holds its values weakly: Python's `weakref.WeakValueDictionary`.
//!
//! [`WeakValueCache`] maps keys to [`Arc`]s without keeping them alive. An entry disappears as
//! soon as the last strong reference to its value is dropped: [`get`](WeakValueCache::get)
//! returns `None`, [`len`](WeakValueCache::len) stops counting it, iteration skips it, and a new
//! value inserted under the key replaces it. This is the usual shape of a cache of connections,
//! file handles or parsed documents that should live exactly as long as someone uses them.
//!
//! ```
//! use keel_runtime::cache::WeakValueCache;
//! use std::sync::Arc;
//!
//! struct Connection { name: String }
//!
//! let cache: WeakValueCache<String, Connection> = WeakValueCache::new();
//! let a = cache.get_or_insert_with("db-a", || Arc::new(Connection { name: "a".into() }));
//! let b = cache.get("db-a").expect("alive while `a` is held");
//! assert!(Arc::ptr_eq(&a, &b));
//! assert_eq!(b.name, "a");
//!
//! drop(a);
//! drop(b);
//! assert!(cache.get("db-a").is_none());
//! assert_eq!(cache.len(), 0);
//! ```
//!
//! # Design
//!
//! The map is split into shards, each behind its own `RwLock`, chosen by the key's hash: threads
//! working on different keys rarely touch the same lock, and lookups of one key share it. Each
//! entry stores a [`Weak`]. Dead entries are reclaimed by sweeping: a shard that has grown to
//! twice the live size it had at its last sweep (and at least a small constant) drops its dead
//! entries before adding a new one. Each sweep is paid for by the insertions since the last one
//! (amortized O(1) per insertion), and a shard never holds more than about twice its live
//! entries plus that constant, whatever the churn.
//!
//! A dead entry still holds its key and the (already dropped) value's allocation until it is
//! swept; the value's `Drop` runs as soon as its last `Arc` goes, as usual.
//!
//! Loads are single-flight: concurrent callers of
//! [`get_or_insert_with`](WeakValueCache::get_or_insert_with) /
//! [`try_get_or_insert_with`](WeakValueCache::try_get_or_insert_with) (threads, which block) and
//! of [`get_or_insert_with_async`](WeakValueCache::get_or_insert_with_async) /
//! [`try_get_or_insert_with_async`](WeakValueCache::try_get_or_insert_with_async) (tasks, which
//! await) for one key share one load, whichever kind of caller runs it. A load that never
//! finishes (its loader panicked, or its future was dropped) wakes the waiters, and one of them
//! loads instead.
//!
//! No user code (a value's `Drop`, a key's `Drop`, the closure or future of
//! [`get_or_insert_with`](WeakValueCache::get_or_insert_with),
//! [`try_get_or_insert_with`](WeakValueCache::try_get_or_insert_with) or their async forms, an
//! error's `Clone` or `Drop`, a task's waker) runs while a shard lock is held,
//! except the key's `Hash`/`Eq` and the predicate of [`retain`](WeakValueCache::retain), so a
//! value whose `Drop` uses the cache does not deadlock.

mod flight;

use core::fmt;
use core::future::Future;
use flight::{Flight, Joined, Loader};
use hashbrown::HashTable;
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// A shard is not swept before it holds this many entries.
const MIN_SWEEP: usize = 16;

/// A concurrent map from keys to weakly held values; see the [module documentation](self).
///
/// `Send + Sync` when `K` and `V` are; share it by reference, in a `static`
/// (`LazyLock`), or in an `Arc`.
///
/// ```
/// use keel_runtime::cache::WeakValueCache;
/// use std::sync::Arc;
///
/// let cache = WeakValueCache::new();
/// let v = Arc::new(vec![1, 2, 3]);
/// assert!(cache.insert("k", &v).is_none());
/// assert_eq!(cache.get("k").as_deref(), Some(&vec![1, 2, 3]));
/// drop(v);
/// assert!(cache.get("k").is_none());
/// ```
pub struct WeakValueCache<K, V: ?Sized, S = RandomState> {
    hasher: S,
    shards: Box<[Shard<K, V>]>,
    shard_shift: u32,
}

/// One lock and its tables, on its own cache lines so that shards do not false-share.
#[repr(align(128))]
struct Shard<K, V: ?Sized> {
    lock: RwLock<ShardMap<K, V>>,
}

struct ShardMap<K, V: ?Sized> {
    /// Stored values: a key and a weak reference, as small as a `HashMap<K, Weak<V>>` entry.
    table: HashTable<Entry<K, V>>,
    /// Keys whose value `get_or_insert_with` is computing right now (usually empty).
    pending: HashTable<Pending<K, V>>,
    /// Sweep dead entries before inserting once the table holds this many.
    sweep_at: usize,
}

struct Entry<K, V: ?Sized> {
    key: K,
    value: Weak<V>,
}

/// An in-flight `get_or_insert_with` / `try_get_or_insert_with`: callers for the key join the
/// flight; one loader runs.
struct Pending<K, V: ?Sized> {
    key: K,
    cell: Arc<Flight<V>>,
}

/// What a locked section removed, dropped only after the lock is released: no key's or value's
/// `Drop` runs under a shard lock.
type Removed<K, V> = (Vec<Entry<K, V>>, Vec<Pending<K, V>>);

/// What [`WeakValueCache::find_or_start`] found.
enum Lookup<V: ?Sized> {
    Hit(Arc<V>),
    /// The key's flight, and whether this call created it (and so must load).
    Flight(Arc<Flight<V>>, bool),
}

impl<K: Hash, V: ?Sized> ShardMap<K, V> {
    /// Removes dead entries (and abandoned computations) if the table has grown enough since
    /// the last sweep; returns them for dropping after the lock is released.
    fn sweep_if_due(&mut self, hasher: &impl BuildHasher) -> Removed<K, V> {
        if self.table.len() < self.sweep_at {
            return (Vec::new(), Vec::new());
        }
        let dead: Vec<Entry<K, V>> = self
            .table
            .extract_if(|e| e.value.strong_count() == 0)
            .collect();
        // A computation nobody waits for any more: its `make` panicked.
        let abandoned: Vec<Pending<K, V>> = self
            .pending
            .extract_if(|p| Arc::strong_count(&p.cell) == 1 && p.cell.is_idle())
            .collect();
        self.sweep_at = (2 * self.table.len()).max(MIN_SWEEP);
        if self.table.capacity() > 4 * self.sweep_at {
            self.table
                .shrink_to(self.sweep_at, |e| hasher.hash_one(&e.key));
        }
        (dead, abandoned)
    }

    /// Stores `value` under `key` (a new key: the caller checked); sweeps first if due.
    fn insert_new(
        &mut self,
        hash: u64,
        key: K,
        value: Weak<V>,
        hasher: &impl BuildHasher,
    ) -> Removed<K, V> {
        let removed = self.sweep_if_due(hasher);
        self.table
            .insert_unique(hash, Entry { key, value }, |e| hasher.hash_one(&e.key));
        removed
    }
}

impl<K, V: ?Sized> WeakValueCache<K, V, RandomState> {
    /// An empty cache with the standard hasher.
    ///
    /// ```
    /// let cache: keel_runtime::cache::WeakValueCache<u32, String> =
    ///     keel_runtime::cache::WeakValueCache::new();
    /// assert!(cache.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_capacity_and_hasher(0, RandomState::new())
    }

    /// An empty cache with room for about `capacity` entries before reallocating.
    ///
    /// ```
    /// let cache: keel_runtime::cache::WeakValueCache<u32, String> =
    ///     keel_runtime::cache::WeakValueCache::with_capacity(1000);
    /// assert!(cache.capacity() >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, RandomState::new())
    }
}

impl<K, V: ?Sized> Default for WeakValueCache<K, V, RandomState> {
    /// Same as [`WeakValueCache::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V: ?Sized, S: BuildHasher> WeakValueCache<K, V, S> {
    /// An empty cache hashing keys with `hasher`, with room for about `capacity` entries.
    ///
    /// ```
    /// use std::hash::BuildHasherDefault;
    /// use std::collections::hash_map::DefaultHasher;
    /// use std::sync::Arc;
    /// // Unsized values work too: `Arc<str>`, `Arc<[u8]>`, `Arc<dyn Trait>`.
    /// let cache: keel_runtime::cache::WeakValueCache<u64, str, BuildHasherDefault<DefaultHasher>> =
    ///     keel_runtime::cache::WeakValueCache::with_capacity_and_hasher(16, Default::default());
    /// let name: Arc<str> = Arc::from("ada");
    /// cache.insert(1, &name);
    /// assert_eq!(cache.get(&1).as_deref(), Some("ada"));
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        let count = (threads * 4).next_power_of_two().clamp(8, 64);
        let per_shard = capacity.div_ceil(count);
        let shards = (0..count)
            .map(|_| Shard {
                lock: RwLock::new(ShardMap {
                    table: HashTable::with_capacity(per_shard),
                    pending: HashTable::new(),
                    sweep_at: per_shard.max(MIN_SWEEP),
                }),
            })
            .collect();
        Self {
            hasher,
            shards,
            shard_shift: count.trailing_zeros(),
        }
    }
}

impl<K: Hash + Eq, V: ?Sized, S: BuildHasher> WeakValueCache<K, V, S> {
    /// The live value stored under `key`, if any.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let v = Arc::new(5);
    /// cache.insert("five".to_string(), &v);
    /// assert_eq!(cache.get("five").as_deref(), Some(&5)); // look up a String key by &str
    /// assert!(cache.get("six").is_none());
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let map = self.read(hash);
        if let Some(entry) = map.table.find(hash, |e| e.key.borrow() == key) {
            return entry.value.upgrade();
        }
        if map.pending.is_empty() {
            return None;
        }
        map.pending
            .find(hash, |p| p.key.borrow() == key)
            .and_then(|p| p.cell.value())
    }

    /// Stores a weak reference to `value` under `key`; returns the value it replaces if that
    /// was still alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let (one, two) = (Arc::new(1), Arc::new(2));
    /// assert_eq!(cache.insert('k', &one), None);
    /// assert_eq!(cache.insert('k', &two), Some(one));
    /// assert_eq!(cache.get(&'k'), Some(two));
    /// ```
    pub fn insert(&self, key: K, value: &Arc<V>) -> Option<Arc<V>> {
        let hash = self.hasher.hash_one(&key);
        let weak = Arc::downgrade(value);
        let (previous, removed) = {
            let mut map = self.write(hash);
            // An in-flight `get_or_insert_with` for the key is overtaken: its callers still get
            // the value it makes, but this insertion is what the cache holds.
            let overtaken = match map.pending.find_entry(hash, |p| p.key == key) {
                Ok(occupied) => Some(occupied.remove().0),
                Err(_) => None,
            };
            let mut previous = overtaken.as_ref().and_then(|p| p.cell.value());
            let mut removed = (Vec::new(), Vec::from_iter(overtaken));
            match map.table.find_mut(hash, |e| e.key == key) {
                Some(entry) => {
                    previous = previous.or_else(|| entry.value.upgrade());
                    entry.value = weak;
                }
                None => removed.0 = map.insert_new(hash, key, weak, &self.hasher).0,
            }
            (previous, removed)
        };
        drop(removed);
        previous
    }

    /// The live value under `key`, or the one `make` creates and the cache then holds weakly.
    ///
    /// Concurrent callers for the same key wait for one `make` to finish and all get the same
    /// `Arc`; `make` runs once. It runs with no lock held, so it may use the cache for *other*
    /// keys (calling back for the same key from inside `make` deadlocks, as with any
    /// once-cell). If `make` panics, the panic reaches its caller and a waiting caller, if
    /// any, runs its own `make`. In async code, use
    /// [`get_or_insert_with_async`](Self::get_or_insert_with_async): its waiters await.
    ///
    /// The key is borrowed, as with hashbrown's `entry_ref`: a `&str` for a `String` key, `&k`
    /// for a `Copy` or `Clone` key. A hit makes nothing; the owned key is made with
    /// [`ToOwned`] (outside the lock) only when the value has to be made and stored.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let cache: keel_runtime::cache::WeakValueCache<String, &str> =
    ///     keel_runtime::cache::WeakValueCache::new();
    /// let opened = AtomicUsize::new(0);
    /// let open = || { opened.fetch_add(1, Ordering::SeqCst); Arc::new("connection") };
    ///
    /// let a = cache.get_or_insert_with("db", open); // a miss: stores "db".to_owned()
    /// let b = cache.get_or_insert_with("db", open); // a hit: no String made
    /// assert!(Arc::ptr_eq(&a, &b));
    /// assert_eq!(opened.load(Ordering::SeqCst), 1);
    /// drop((a, b));
    /// let _c = cache.get_or_insert_with("db", open); // the old one died: opened again
    /// assert_eq!(opened.load(Ordering::SeqCst), 2);
    ///
    /// let squares = keel_runtime::cache::WeakValueCache::new();
    /// assert_eq!(*squares.get_or_insert_with(&7_u32, || Arc::new(49)), 49);
    /// ```
    pub fn get_or_insert_with<Q>(&self, key: &Q, make: impl FnOnce() -> Arc<V>) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.load(key, || Ok::<_, core::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The live value under `key`, or the one the fallible `load` returns, which the cache
    /// then holds weakly. For a loader that can fail, such as a database query: `get` followed
    /// by `insert` would race and load twice.
    ///
    /// Single flight, as with [`get_or_insert_with`](Self::get_or_insert_with): concurrent
    /// callers for one key wait for one `load`. If it fails, **every caller that waited for it
    /// gets the error** (a clone: hence `E: Clone`; wrap an error that is not `Clone` in an
    /// `Arc`), nothing is inserted, and the next call for the key loads afresh. Errors are not
    /// cached, and a struggling backend sees one failing query per burst of callers rather
    /// than one per caller (the choice of moka's `try_get_with`). A caller that joins a load
    /// made by an infallible `get_or_insert_with`, or by a `try_get_or_insert_with` whose error
    /// is of another type, and sees it fail, runs its own load instead. If `load` panics, the
    /// panic reaches its caller and a waiting caller, if any, runs its own `load`.
    ///
    /// `load` runs with no lock held; the key is borrowed as in `get_or_insert_with`.
    ///
    /// ```
    /// use keel_runtime::cache::WeakValueCache;
    /// use std::sync::Arc;
    ///
    /// #[derive(Clone, Debug, PartialEq)]
    /// struct DbError(&'static str);
    ///
    /// let users: WeakValueCache<u64, String> = WeakValueCache::new();
    /// let down = users.try_get_or_insert_with(&7, || Err(DbError("connection refused")));
    /// assert_eq!(down, Err(DbError("connection refused")));
    /// assert!(users.get(&7).is_none()); // nothing inserted
    ///
    /// let up = users.try_get_or_insert_with(&7, || Ok::<_, DbError>(Arc::new("ada".into())));
    /// let ada = up.unwrap();
    /// assert_eq!(*ada, "ada");
    /// // A hit runs no loader.
    /// let again = users.try_get_or_insert_with(&7, || Err(DbError("not called")));
    /// assert!(Arc::ptr_eq(&again.unwrap(), &ada));
    /// ```
    pub fn try_get_or_insert_with<Q, E>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Clone + Send + 'static,
    {
        self.load(key, load)
    }

    /// The async form of [`get_or_insert_with`](Self::get_or_insert_with): the live value under
    /// `key`, or the one the future `make` resolves to, which the cache then holds weakly.
    ///
    /// Single flight across tasks and threads: concurrent callers for one key (async or not)
    /// share one load, and the callers that wait for it **await** it: no thread is blocked, a
    /// waiting task is woken when the value is ready. `make` is polled only if this call runs
    /// the load (a hit or a joined load drops it unpolled), with no lock held.
    ///
    /// **Cancellation.** If the future of the call that runs the load is dropped before the
    /// load finishes (a `select!` that lost, a timeout, an aborted task, a client that went
    /// away), the load is abandoned, not awaited by anyone: the waiting callers are woken and
    /// the first of them to run starts its own `make`; the others wait for that one. With no
    /// caller waiting, the next call for the key loads. No caller waits for a future that will
    /// never be polled again. A panic in `make` is handled the same way, and reaches the
    /// caller that polled it.
    ///
    /// Executor-agnostic (no runtime is needed: wakers only), and the future is `Send` when
    /// the key, the value and `make` are. A blocking caller
    /// ([`get_or_insert_with`](Self::get_or_insert_with)) that joins a load run by a task
    /// blocks its thread until the task finishes it: call the blocking methods from threads
    /// (or `spawn_blocking`), not from inside async code, where a blocked worker can be the one
    /// the loading task needs.
    ///
    /// ```
    /// use keel_runtime::cache::WeakValueCache;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// struct Template(String);
    ///
    /// let templates: Arc<WeakValueCache<String, Template>> = Arc::new(WeakValueCache::new());
    /// let loads = Arc::new(AtomicUsize::new(0));
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let all: Vec<Arc<Template>> = runtime.block_on(async {
    ///     let tasks: Vec<_> = (0..8)
    ///         .map(|_| {
    ///             let (templates, loads) = (Arc::clone(&templates), Arc::clone(&loads));
    ///             tokio::spawn(async move {
    ///                 templates
    ///                     .get_or_insert_with_async("index.html", async {
    ///                         loads.fetch_add(1, Ordering::SeqCst);
    ///                         // An async read, e.g. tokio::fs::read_to_string(..).await
    ///                         Arc::new(Template("<h1>{{title}}</h1>".into()))
    ///                     })
    ///                     .await
    ///             })
    ///         })
    ///         .collect();
    ///     let mut all = Vec::new();
    ///     for task in tasks {
    ///         all.push(task.await.unwrap());
    ///     }
    ///     all
    /// });
    /// // Eight callers, one load, one value (each caller holds it, so it stays alive).
    /// assert_eq!(loads.load(Ordering::SeqCst), 1);
    /// assert!(all.iter().all(|t| Arc::ptr_eq(t, &all[0])));
    /// assert_eq!(all[0].0, "<h1>{{title}}</h1>");
    /// ```
    pub async fn get_or_insert_with_async<Q, F>(&self, key: &Q, make: F) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: Future<Output = Arc<V>>,
    {
        let make = async { Ok::<_, core::convert::Infallible>(make.await) };
        match self.load_async(key, make).await {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The async form of [`try_get_or_insert_with`](Self::try_get_or_insert_with), for a loader
    /// that awaits and can fail (an sqlx query, an HTTP fetch): the live value under `key`, or
    /// the one the future `load` resolves to, which the cache then holds weakly.
    ///
    /// Single flight and cancellation as in
    /// [`get_or_insert_with_async`](Self::get_or_insert_with_async): one load per key at a
    /// time, waiting callers await it without blocking a thread, and a load whose future is
    /// dropped is taken over by a waiting caller. Errors as in `try_get_or_insert_with` (the
    /// choice of moka's `future::Cache::try_get_with`): if the load fails, **the caller that
    /// ran it and every caller waiting for it get the error** (a clone: `E: Clone`; wrap an
    /// error that is not `Clone` in an `Arc`), nothing is inserted, and the next call for the
    /// key loads afresh; errors are not cached. A waiting caller whose error type differs from
    /// the failed load's (or an infallible caller) runs its own load instead.
    ///
    /// ```
    /// use keel_runtime::cache::WeakValueCache;
    /// use std::sync::Arc;
    ///
    /// #[derive(Clone, Debug, PartialEq)]
    /// struct DbError(&'static str);
    ///
    /// async fn fetch_user(id: u64, up: bool) -> Result<Arc<String>, DbError> {
    ///     if up { Ok(Arc::new(format!("user {id}"))) } else { Err(DbError("connection refused")) }
    /// }
    ///
    /// let users: WeakValueCache<u64, String> = WeakValueCache::new();
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// runtime.block_on(async {
    ///     let down = users.try_get_or_insert_with_async(&7, fetch_user(7, false)).await;
    ///     assert_eq!(down, Err(DbError("connection refused")));
    ///     assert!(users.get(&7).is_none()); // nothing inserted
    ///
    ///     let ada = users.try_get_or_insert_with_async(&7, fetch_user(7, true)).await.unwrap();
    ///     assert_eq!(*ada, "user 7");
    ///     // A hit does not poll its loader.
    ///     let again = users.try_get_or_insert_with_async(&7, fetch_user(7, false)).await;
    ///     assert!(Arc::ptr_eq(&again.unwrap(), &ada));
    /// });
    /// ```
    pub async fn try_get_or_insert_with_async<Q, E, F>(&self, key: &Q, load: F) -> Result<Arc<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Clone + Send + 'static,
        F: Future<Output = Result<Arc<V>, E>>,
    {
        self.load_async(key, load).await
    }

    /// Both of the above: find the value, or join the key's flight, or start one and load.
    fn load<Q, E>(&self, key: &Q, load: impl FnOnce() -> Result<Arc<V>, E>) -> Result<Arc<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Clone + Send + 'static,
    {
        let hash = self.hasher.hash_one(key);
        let cell = loop {
            let cell = match self.find_or_start(hash, key) {
                Lookup::Hit(value) => return Ok(value),
                Lookup::Flight(cell, true) => break cell,
                Lookup::Flight(cell, false) => cell,
            };
            match cell.join::<E>() {
                Joined::Ready(value) => return Ok(value),
                Joined::Failed(error) => return Err(error),
                Joined::Load => break cell,
                // The failed flight has left the map (`land` publishes before it settles):
                // the next lookup finds the key's state after it.
                Joined::Retry => {}
            }
        };
        let loader = cell.loader();
        let result = load();
        self.land(hash, &cell, loader, &result);
        result
    }

    /// The async twin of [`load`](Self::load): the same lookup and landing, with the flight
    /// awaited instead of waited for.
    async fn load_async<Q, E, F>(&self, key: &Q, load: F) -> Result<Arc<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        E: Clone + Send + 'static,
        F: Future<Output = Result<Arc<V>, E>>,
    {
        let hash = self.hasher.hash_one(key);
        let cell = loop {
            let cell = match self.find_or_start(hash, key) {
                Lookup::Hit(value) => return Ok(value),
                Lookup::Flight(cell, true) => break cell,
                Lookup::Flight(cell, false) => cell,
            };
            match cell.join_async::<E>().await {
                Joined::Ready(value) => return Ok(value),
                Joined::Failed(error) => return Err(error),
                Joined::Load => break cell,
                Joined::Retry => {}
            }
        };
        // From here to `land` the flight is this future's: dropped at the `.await` below, the
        // loader guard leaves the flight idle and wakes the waiters, and one of them loads.
        let loader = cell.loader();
        let result = load.await;
        self.land(hash, &cell, loader, &result);
        result
    }

    /// The end of a load: moves the key from `pending` to the table, now referring to the value
    /// weakly (unless an `insert`, `remove` or `clear` overtook the load: their change stands;
    /// a failed load is removed, inserting nothing), then records the outcome in the flight and
    /// wakes its waiters. Publishing first means a caller that sees the outcome never finds the
    /// finished flight still in the map.
    fn land<E: Clone + Send + 'static>(
        &self,
        hash: u64,
        cell: &Arc<Flight<V>>,
        loader: Loader<'_, V>,
        result: &Result<Arc<V>, E>,
    ) {
        let removed = {
            let mut map = self.write(hash);
            match map.pending.find_entry(hash, |p| Arc::ptr_eq(&p.cell, cell)) {
                Ok(occupied) => {
                    let (pending, _) = occupied.remove();
                    match result {
                        Ok(value) => {
                            let Pending { key, cell: _ } = pending;
                            let weak = Arc::downgrade(value);
                            match map.table.find_mut(hash, |e| e.key == key) {
                                Some(entry) => {
                                    entry.value = weak; // the dead entry the key had
                                    (Vec::new(), Vec::new())
                                }
                                None => map.insert_new(hash, key, weak, &self.hasher),
                            }
                        }
                        Err(_) => (Vec::new(), vec![pending]),
                    }
                }
                Err(_) => (Vec::new(), Vec::new()),
            }
        };
        loader.finish(result);
        drop(removed);
    }

    /// The live value under `key`, or the flight loading it (and whether this call started it).
    fn find_or_start<Q>(&self, hash: u64, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        {
            let map = self.read(hash);
            if let Some(value) = map
                .table
                .find(hash, |e| e.key.borrow() == key)
                .and_then(|e| e.value.upgrade())
            {
                return Lookup::Hit(value);
            }
            if !map.pending.is_empty()
                && let Some(pending) = map.pending.find(hash, |p| p.key.borrow() == key)
            {
                return Lookup::Flight(Arc::clone(&pending.cell), false);
            }
        }
        // Made before the lock is taken, dropped after it is released if unused.
        let owned = key.to_owned();
        let mut map = self.write(hash);
        if let Some(value) = map
            .table
            .find(hash, |e| e.key.borrow() == key)
            .and_then(|e| e.value.upgrade())
        {
            return Lookup::Hit(value);
        }
        if let Some(pending) = map.pending.find(hash, |p| p.key.borrow() == key) {
            return Lookup::Flight(Arc::clone(&pending.cell), false);
        }
        let cell = Arc::new(Flight::loading());
        let pending = Pending {
            key: owned,
            cell: Arc::clone(&cell),
        };
        let hasher = &self.hasher;
        map.pending
            .insert_unique(hash, pending, |p| hasher.hash_one(&p.key));
        Lookup::Flight(cell, true)
    }

    /// Removes the entry for `key`; returns its value if it was alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let v = Arc::new("x");
    /// cache.insert(1, &v);
    /// assert_eq!(cache.remove(&1), Some(v));
    /// assert_eq!(cache.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let (entry, pending) = {
            let mut map = self.write(hash);
            let entry = match map.table.find_entry(hash, |e| e.key.borrow() == key) {
                Ok(occupied) => Some(occupied.remove().0),
                Err(_) => None,
            };
            let pending = match map.pending.find_entry(hash, |p| p.key.borrow() == key) {
                Ok(occupied) => Some(occupied.remove().0),
                Err(_) => None,
            };
            (entry, pending)
        };
        let value = entry.and_then(|e| e.value.upgrade());
        value.or_else(|| pending.and_then(|p| p.cell.value()))
    }

    fn read(&self, hash: u64) -> RwLockReadGuard<'_, ShardMap<K, V>> {
        self.shard(hash)
            .lock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, ShardMap<K, V>> {
        self.shard(hash)
            .lock
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn shard(&self, hash: u64) -> &Shard<K, V> {
        // Bits 32.. pick the shard: the table inside uses the low bits (bucket) and the top
        // seven (tag), so the shard choice does not reduce their entropy.
        let index = (hash >> 32) as usize & ((1 << self.shard_shift) - 1);
        &self.shards[index]
    }
}

impl<K, V: ?Sized, S> WeakValueCache<K, V, S> {
    /// The number of live entries, exactly (each shard is counted under its lock; a value
    /// dropped concurrently may or may not be counted). O(entries).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let a = Arc::new('a');
    /// cache.insert(1, &a);
    /// cache.insert(2, &Arc::new('b')); // dies at once
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let map = shard.lock.read().unwrap_or_else(PoisonError::into_inner);
                map.table
                    .iter()
                    .filter(|e| e.value.strong_count() > 0)
                    .count()
                    + map
                        .pending
                        .iter()
                        .filter(|p| p.cell.value().is_some())
                        .count()
            })
            .sum()
    }

    /// True when no entry is alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// cache.insert("gone", &Arc::new(0));
    /// assert!(cache.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| {
            let map = shard.lock.read().unwrap_or_else(PoisonError::into_inner);
            !map.table.iter().any(|e| e.value.strong_count() > 0)
                && !map.pending.iter().any(|p| p.cell.value().is_some())
        })
    }

    /// How many entries, live or not yet swept, the shards can hold without reallocating. Stays
    /// within a constant factor of the live entries plus a small constant per shard, whatever
    /// the churn.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// for i in 0..100_000 {
    ///     cache.insert(i, &Arc::new(i)); // each value dies at once
    /// }
    /// assert!(cache.capacity() < 10_000);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let map = shard.lock.read().unwrap_or_else(PoisonError::into_inner);
                map.table.capacity()
            })
            .sum()
    }

    /// The live entries, each value upgraded to an `Arc` (so it stays alive while you hold
    /// it). A snapshot taken shard by shard: it never yields a dead value, and changes made
    /// while iterating are not seen. Order is unspecified.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let (a, b) = (Arc::new(1), Arc::new(2));
    /// cache.insert("a", &a);
    /// cache.insert("b", &b);
    /// cache.insert("dead", &Arc::new(3));
    /// let mut seen: Vec<_> = cache.iter().map(|(k, v)| (k, *v)).collect();
    /// seen.sort();
    /// assert_eq!(seen, [("a", 1), ("b", 2)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (K, Arc<V>)> + use<K, V, S>
    where
        K: Clone,
    {
        let mut live = Vec::new();
        for shard in self.shards.iter() {
            let map = shard.lock.read().unwrap_or_else(PoisonError::into_inner);
            live.extend(
                map.table
                    .iter()
                    .filter_map(|e| Some((e.key.clone(), e.value.upgrade()?))),
            );
            live.extend(
                map.pending
                    .iter()
                    .filter_map(|p| Some((p.key.clone(), p.cell.value()?))),
            );
        }
        live.into_iter()
    }

    /// Keeps the live entries for which `keep` returns true; removes the rest, and every dead
    /// entry; a value being made by `get_or_insert_with` right now is left alone. `keep` runs
    /// under the shard's lock: it must not use this cache.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let values: Vec<Arc<u32>> = (0..10).map(Arc::new).collect();
    /// for v in &values {
    ///     cache.insert(**v, v);
    /// }
    /// cache.retain(|_, v| **v % 2 == 0);
    /// assert_eq!(cache.len(), 5);
    /// assert!(cache.get(&3).is_none());
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &Arc<V>) -> bool) {
        for shard in self.shards.iter() {
            let mut upgraded = Vec::new();
            let removed: Vec<Entry<K, V>> = {
                let mut map = shard.lock.write().unwrap_or_else(PoisonError::into_inner);
                let removed = map
                    .table
                    .extract_if(|e| match e.value.upgrade() {
                        Some(value) => {
                            let keep = keep(&e.key, &value);
                            upgraded.push(value);
                            !keep
                        }
                        None => true,
                    })
                    .collect();
                map.sweep_at = (2 * map.table.len()).max(MIN_SWEEP);
                removed
            };
            drop(removed);
            drop(upgraded);
        }
    }

    /// Removes every entry.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cache = keel_runtime::cache::WeakValueCache::new();
    /// let v = Arc::new(1);
    /// cache.insert(1, &v);
    /// cache.clear();
    /// assert!(cache.get(&1).is_none());
    /// assert_eq!(*v, 1); // the value itself lives on
    /// ```
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let taken = {
                let mut map = shard.lock.write().unwrap_or_else(PoisonError::into_inner);
                map.sweep_at = MIN_SWEEP;
                (
                    core::mem::take(&mut map.table),
                    core::mem::take(&mut map.pending),
                )
            };
            drop(taken);
        }
    }
}

impl<K, V: ?Sized, S> fmt::Debug for WeakValueCache<K, V, S> {
    /// The live length and the shard count (like Python's repr, it does not list contents).
    ///
    /// ```
    /// let cache: keel_runtime::cache::WeakValueCache<u8, u8> = Default::default();
    /// assert!(format!("{cache:?}").starts_with("WeakValueCache { len: 0"));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakValueCache")
            .field("len", &self.len())
            .field("shards", &self.shards.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<WeakValueCache<String, Vec<u8>>>();
    }

    #[test]
    fn shards_are_a_power_of_two_and_padded() {
        let cache: WeakValueCache<u8, u8> = WeakValueCache::new();
        assert!(cache.shards.len().is_power_of_two());
        assert_eq!(1 << cache.shard_shift, cache.shards.len());
        assert!(align_of::<Shard<u8, u8>>() >= 128);
    }

    #[test]
    fn an_abandoned_computation_is_swept() {
        let cache: WeakValueCache<u32, u32> = WeakValueCache::new();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get_or_insert_with(&1, || panic!("make failed"));
        }));
        assert!(panicked.is_err());
        assert_eq!(cache.len(), 0);
        assert!(cache.get(&1).is_none());
        // The next caller computes it.
        let v = cache.get_or_insert_with(&1, || Arc::new(7));
        assert_eq!(*v, 7);
        assert_eq!(cache.len(), 1);
    }
}
