//! `keel::cache::WeakValueCache` against `weak-table`'s `WeakValueHashMap` behind a `Mutex` and
//! against `Mutex<HashMap<K, Weak<V>>>`, same keys (1000 short `String`s), same hasher family
//! (std `RandomState`), all in one run:
//!
//! * `get_hit`: look up a live value.
//! * `get_or_insert_hit`: `get_or_insert_with` where the value is alive (the cache-hit path).
//!   Every contender is given a `&str` and makes the owned `String` key only on a miss.
//! * `get_or_insert_miss`: the value died, so it is made again and stored (the churn path).
//!   Both `get_or_insert` groups also time keel's `try_get_or_insert_with` (a loader returning
//!   `Result`; no peer has one), row `keel_WeakValueCache_try`.
//! * `*_2threads`: two threads at once, each on its own keys; time per operation per thread.
//!
//! `cargo bench --bench cache -- --warm-up-time 1 --measurement-time 3`
//! CPython's `WeakValueDictionary` on the same workload: `python3 benches/python/weak_value_dict.py`.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use keel::cache::WeakValueCache;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex, Weak};
use std::time::{Duration, Instant};
use weak_table::WeakValueHashMap;

const KEYS: usize = 1000;

type Value = u64;

/// The three contenders behind one interface (static dispatch per contender).
trait Contender: Sync {
    fn get(&self, key: &str) -> Option<Arc<Value>>;
    fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> Arc<Value>) -> Arc<Value>;
    fn insert(&self, key: &str, value: &Arc<Value>);
}

impl Contender for WeakValueCache<String, Value> {
    fn get(&self, key: &str) -> Option<Arc<Value>> {
        WeakValueCache::get(self, key)
    }
    fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> Arc<Value>) -> Arc<Value> {
        // Borrowed, like the peers' `get`: the `String` is made only on a miss.
        WeakValueCache::get_or_insert_with(self, key, make)
    }
    fn insert(&self, key: &str, value: &Arc<Value>) {
        WeakValueCache::insert(self, key.to_owned(), value);
    }
}

impl Contender for Mutex<WeakValueHashMap<String, Weak<Value>>> {
    fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.lock().unwrap().get(key)
    }
    fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> Arc<Value>) -> Arc<Value> {
        let mut map = self.lock().unwrap();
        if let Some(v) = map.get(key) {
            return v;
        }
        let v = make();
        map.insert(key.to_owned(), Arc::clone(&v));
        v
    }
    fn insert(&self, key: &str, value: &Arc<Value>) {
        self.lock()
            .unwrap()
            .insert(key.to_owned(), Arc::clone(value));
    }
}

impl Contender for Mutex<HashMap<String, Weak<Value>>> {
    fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.lock().unwrap().get(key).and_then(Weak::upgrade)
    }
    fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> Arc<Value>) -> Arc<Value> {
        let mut map = self.lock().unwrap();
        if let Some(v) = map.get(key).and_then(Weak::upgrade) {
            return v;
        }
        let v = make();
        map.insert(key.to_owned(), Arc::downgrade(&v));
        v
    }
    fn insert(&self, key: &str, value: &Arc<Value>) {
        self.lock()
            .unwrap()
            .insert(key.to_owned(), Arc::downgrade(value));
    }
}

fn keys(prefix: &str) -> Vec<String> {
    (0..KEYS).map(|i| format!("{prefix}-{i}")).collect()
}

/// The key sets: `hit` (values kept alive), `miss` (values die at once), and one per thread.
struct Keys {
    hit: Vec<String>,
    miss: Vec<String>,
    threads: Vec<Vec<String>>,
}

/// Fills `c` with live values for the hit and per-thread keys; returns them (they must stay
/// alive for hits).
fn fill(c: &impl Contender, keys: &Keys) -> Vec<Arc<Value>> {
    keys.hit
        .iter()
        .chain(keys.threads.iter().flatten())
        .enumerate()
        .map(|(i, k)| {
            let v = Arc::new(i as Value);
            c.insert(k, &v);
            v
        })
        .collect()
}

fn get_hit<C: Contender>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, c: &C, keys: &Keys) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(c.get(black_box(&keys.hit[i])))
        })
    });
}

fn get_or_insert_hit<C: Contender>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    c: &C,
    keys: &Keys,
) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(c.get_or_insert_with(black_box(&keys.hit[i]), || unreachable!()))
        })
    });
}

fn get_or_insert_miss<C: Contender>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    c: &C,
    keys: &Keys,
) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            // The value dies at the end of the iteration: the next call for the key misses.
            black_box(c.get_or_insert_with(black_box(&keys.miss[i]), || Arc::new(i as Value)))
        })
    });
}

/// `try_get_or_insert_with` with a loader that cannot fail at run time, on live values.
fn try_get_or_insert_hit(
    g: &mut BenchmarkGroup<'_, WallTime>,
    c: &WeakValueCache<String, Value>,
    keys: &Keys,
) {
    let mut i = 0;
    g.bench_function("keel_WeakValueCache_try", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                c.try_get_or_insert_with(black_box(keys.hit[i].as_str()), || {
                    Err::<Arc<Value>, String>("unreachable".into())
                }),
            )
        })
    });
}

/// `try_get_or_insert_with` on keys whose value died: a successful load each time.
fn try_get_or_insert_miss(
    g: &mut BenchmarkGroup<'_, WallTime>,
    c: &WeakValueCache<String, Value>,
    keys: &Keys,
) {
    let mut i = 0;
    g.bench_function("keel_WeakValueCache_try", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                c.try_get_or_insert_with(black_box(keys.miss[i].as_str()), || {
                    Ok::<_, String>(Arc::new(i as Value))
                }),
            )
        })
    });
}

fn get_hit_2threads<C: Contender>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    c: &C,
    keys: &Keys,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| run_two(c, &keys.threads, iters, false))
    });
}

fn get_or_insert_hit_2threads<C: Contender>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    c: &C,
    keys: &Keys,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| run_two(c, &keys.threads, iters, true))
    });
}

fn run_two(c: &impl Contender, per_thread: &[Vec<String>], iters: u64, insert: bool) -> Duration {
    let barrier = Barrier::new(per_thread.len());
    // Each thread times itself from the shared start to its own end; the wall time is from the
    // earliest start to the latest end (the main thread, possibly descheduled, takes no part).
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .iter()
            .map(|keys| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut i = 0;
                    for _ in 0..iters {
                        i = (i + 1) % KEYS;
                        if insert {
                            black_box(c.get_or_insert_with(&keys[i], || unreachable!()));
                        } else {
                            black_box(c.get(&keys[i]));
                        }
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    end - start
}

fn benches(c: &mut Criterion) {
    let keys = Keys {
        hit: keys("key"),
        miss: keys("miss"),
        threads: vec![keys("left"), keys("right")],
    };
    let keel: WeakValueCache<String, Value> = WeakValueCache::new();
    let weak_table: Mutex<WeakValueHashMap<String, Weak<Value>>> =
        Mutex::new(WeakValueHashMap::new());
    let hash_map: Mutex<HashMap<String, Weak<Value>>> = Mutex::new(HashMap::new());
    let _alive = (
        fill(&keel, &keys),
        fill(&weak_table, &keys),
        fill(&hash_map, &keys),
    );
    // Group by group, the contenders run back to back, so that they see the same machine load.
    macro_rules! group {
        ($name:literal, $bench:ident $(, $keel_only:ident)?) => {{
            let mut g = c.benchmark_group($name);
            // Peers first: the first benchmark of a run tends to be measured slow.
            $bench(
                &mut g,
                "Mutex_weak_table_WeakValueHashMap",
                &weak_table,
                &keys,
            );
            $bench(&mut g, "Mutex_HashMap_Weak", &hash_map, &keys);
            $bench(&mut g, "keel_WeakValueCache", &keel, &keys);
            $($keel_only(&mut g, &keel, &keys);)?
            g.finish();
        }};
    }
    group!("cache_get_hit", get_hit);
    group!(
        "cache_get_or_insert_hit",
        get_or_insert_hit,
        try_get_or_insert_hit
    );
    group!(
        "cache_get_or_insert_miss",
        get_or_insert_miss,
        try_get_or_insert_miss
    );
    group!("cache_get_hit_2threads", get_hit_2threads);
    group!(
        "cache_get_or_insert_hit_2threads",
        get_or_insert_hit_2threads
    );
}

criterion_group!(cache_benches, benches);
criterion_main!(cache_benches);
