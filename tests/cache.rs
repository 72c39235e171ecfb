#![deny(warnings, clippy::all)]
//! `keel::cache::WeakValueCache`: CPython `WeakValueDictionary` semantics, thread safety, and
//! bounded memory under churn.

use keel::cache::WeakValueCache;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::Duration;

#[test]
fn an_entry_disappears_when_its_value_dies() {
    let cache: WeakValueCache<String, String> = WeakValueCache::new();
    let a = Arc::new("A".to_string());
    assert!(cache.insert("a".into(), &a).is_none());
    let b = cache.get("a").unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(cache.len(), 1);
    assert!(!cache.is_empty());
    drop(a);
    assert!(cache.get("a").is_some(), "alive while one Arc remains");
    drop(b);
    assert!(cache.get("a").is_none());
    assert_eq!(cache.len(), 0);
    assert!(cache.is_empty());
    assert_eq!(cache.iter().count(), 0);
}

#[test]
fn reinserting_replaces_a_dead_value_and_insert_returns_the_live_previous() {
    let cache = WeakValueCache::new();
    cache.insert(1, &Arc::new("dead at once"));
    let fresh = Arc::new("fresh");
    assert_eq!(
        cache.insert(1, &fresh),
        None,
        "a dead previous value is not returned"
    );
    assert_eq!(cache.get(&1), Some(Arc::clone(&fresh)));
    let newer = Arc::new("newer");
    assert_eq!(cache.insert(1, &newer), Some(fresh));
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.remove(&1), Some(newer));
    assert_eq!(cache.remove(&1), None);
    assert!(cache.is_empty());
}

#[test]
fn iteration_yields_live_values_only_and_keeps_them_alive() {
    let cache = WeakValueCache::new();
    let live: Vec<Arc<u32>> = (0..100).map(Arc::new).collect();
    for v in &live {
        cache.insert(**v, v);
    }
    for i in 100..200u32 {
        cache.insert(i, &Arc::new(i));
    }
    let mut seen: Vec<(u32, u32)> = cache.iter().map(|(k, v)| (k, *v)).collect();
    seen.sort();
    assert_eq!(seen, (0..100).map(|i| (i, i)).collect::<Vec<_>>());

    // Values yielded by the iterator stay alive while held, even if the cache's owner drops them.
    let snapshot: Vec<_> = cache.iter().collect();
    drop(live);
    assert_eq!(cache.len(), 100);
    drop(snapshot);
    assert_eq!(cache.len(), 0);
}

#[test]
fn retain_and_clear() {
    let cache = WeakValueCache::new();
    let values: Vec<Arc<u32>> = (0..50).map(Arc::new).collect();
    for v in &values {
        cache.insert(**v, v);
    }
    cache.insert(1000, &Arc::new(1000));
    let mut visited = 0;
    cache.retain(|k, v| {
        visited += 1;
        assert_eq!(k, &**v);
        *k < 10
    });
    assert_eq!(visited, 50, "retain sees live entries only");
    assert_eq!(cache.len(), 10);
    assert!(cache.get(&10).is_none());
    assert_eq!(cache.get(&9).as_deref(), Some(&9));
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(*values[5], 5, "clearing does not touch the values");
}

#[test]
fn get_or_insert_with_runs_make_once_for_concurrent_callers() {
    let cache: WeakValueCache<&str, u64> = WeakValueCache::new();
    let made = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    let results: Vec<Arc<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    cache.get_or_insert_with(&"db-a", || {
                        made.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50)); // a slow connect
                        Arc::new(42)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| Arc::ptr_eq(r, &results[0])));
    assert_eq!(cache.len(), 1);
    drop(results);
    assert!(cache.get("db-a").is_none());
}

/// A key that counts how often it is cloned (`ToOwned` for a `Clone` type is `clone`).
#[derive(PartialEq, Eq, Hash, Debug)]
struct CountedKey(u32);

static KEY_CLONES: AtomicUsize = AtomicUsize::new(0);

impl Clone for CountedKey {
    fn clone(&self) -> Self {
        KEY_CLONES.fetch_add(1, Ordering::SeqCst);
        CountedKey(self.0)
    }
}

#[test]
fn get_or_insert_with_borrows_the_key_and_owns_it_only_to_store_it() {
    let cache: WeakValueCache<CountedKey, u32> = WeakValueCache::new();
    let key = CountedKey(1);
    let a = cache.get_or_insert_with(&key, || Arc::new(10));
    assert_eq!(
        KEY_CLONES.load(Ordering::SeqCst),
        1,
        "a miss stores one owned key"
    );
    for _ in 0..100 {
        assert!(Arc::ptr_eq(
            &a,
            &cache.get_or_insert_with(&key, || unreachable!())
        ));
    }
    assert_eq!(KEY_CLONES.load(Ordering::SeqCst), 1, "hits make no key");
    drop(a);
    assert_eq!(*cache.get_or_insert_with(&key, || Arc::new(11)), 11);
    assert_eq!(
        KEY_CLONES.load(Ordering::SeqCst),
        2,
        "the value died: made and stored again"
    );
    assert_eq!(cache.len(), 0);

    // A `String` key looked up and stored from a `&str`.
    let names: WeakValueCache<String, u32> = WeakValueCache::new();
    let n = names.get_or_insert_with("ada", || Arc::new(1815));
    assert!(Arc::ptr_eq(&n, &names.get("ada").unwrap()));
    assert_eq!(
        names.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["ada".to_string()]
    );
}

#[test]
fn make_may_use_the_cache_for_other_keys() {
    let cache: WeakValueCache<u32, u32> = WeakValueCache::new();
    let inner = cache.get_or_insert_with(&1, || Arc::new(1));
    let outer = cache.get_or_insert_with(&2, || {
        let one = cache.get(&1).unwrap();
        Arc::new(*one + 1)
    });
    assert_eq!((*inner, *outer), (1, 2));
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_panicking_make_lets_the_next_caller_make_it() {
    let cache: WeakValueCache<u32, u32> = WeakValueCache::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.get_or_insert_with(&7, || panic!("connect failed"))
    }));
    assert!(result.is_err());
    assert!(cache.get(&7).is_none());
    assert_eq!(*cache.get_or_insert_with(&7, || Arc::new(70)), 70);
}

#[test]
fn threads_on_distinct_keys_each_see_their_own_values() {
    let cache: WeakValueCache<(usize, usize), usize> = WeakValueCache::new();
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = &cache;
            s.spawn(move || {
                let mut keep = Vec::new();
                for i in 0..2000 {
                    let v = cache.get_or_insert_with(&(t, i), || Arc::new(t * 10_000 + i));
                    assert_eq!(*v, t * 10_000 + i);
                    if i % 2 == 0 {
                        keep.push(v);
                    }
                }
                for (j, v) in keep.iter().enumerate() {
                    assert!(Arc::ptr_eq(v, &cache.get(&(t, j * 2)).unwrap()));
                }
                assert!(cache.get(&(t, 1)).is_none());
                keep
            });
        }
    });
    assert!(
        cache.is_empty(),
        "every kept Arc was dropped with its thread"
    );
}

#[test]
fn a_million_short_lived_values_leave_the_map_small() {
    let cache: WeakValueCache<u64, u64> = WeakValueCache::new();
    for i in 0..1_000_000u64 {
        let v = Arc::new(i);
        cache.insert(i, &v);
        // `v` dies here: the entry is dead from now on.
    }
    let capacity = cache.capacity();
    assert!(
        capacity <= 4096,
        "capacity {capacity} after 1M dead inserts"
    );
    assert_eq!(cache.len(), 0);

    // With a live set of 1000 and the same churn through get_or_insert_with, memory stays
    // within a constant factor of the live set.
    let live: Vec<Arc<u64>> = (0..1000u64)
        .map(|i| cache.get_or_insert_with(&(u64::MAX - i), || Arc::new(i)))
        .collect();
    for i in 0..200_000u64 {
        let v = cache.get_or_insert_with(&i, || Arc::new(i));
        assert_eq!(*v, i);
    }
    let capacity = cache.capacity();
    assert!(
        capacity <= 8 * 1000 + 4096,
        "capacity {capacity} with 1000 live values"
    );
    assert_eq!(cache.len(), live.len());
}

struct SelfRemoving {
    key: u32,
}

static SELF_REMOVING: LazyLock<WeakValueCache<u32, SelfRemoving>> =
    LazyLock::new(WeakValueCache::new);

impl Drop for SelfRemoving {
    fn drop(&mut self) {
        // Uses the cache from a value's drop: must not deadlock, and sees the entry dead.
        assert!(SELF_REMOVING.get(&self.key).is_none());
        SELF_REMOVING.remove(&self.key);
    }
}

#[test]
fn a_value_whose_drop_uses_the_cache_does_not_deadlock() {
    let v = SELF_REMOVING.get_or_insert_with(&5, || Arc::new(SelfRemoving { key: 5 }));
    let old = SELF_REMOVING.insert(5, &Arc::new(SelfRemoving { key: 6 })); // replaced, dies at once
    assert!(Arc::ptr_eq(&old.unwrap(), &v));
    SELF_REMOVING.insert(5, &v);
    drop(v);
    assert!(SELF_REMOVING.is_empty());
}

#[test]
fn debug_shows_the_live_length() {
    let cache = WeakValueCache::new();
    let v = Arc::new(1);
    cache.insert("x", &v);
    let shown = format!("{cache:?}");
    assert!(
        shown.starts_with("WeakValueCache { len: 1, shards: "),
        "{shown}"
    );
}

#[test]
fn the_cache_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<WeakValueCache<String, std::sync::Mutex<u8>>>();
}

// ---------------------------------------------------------------- try_get_or_insert_with

#[derive(Clone, Debug, PartialEq)]
struct LoadError(String);

/// Eight threads load one key at once with a loader that fails: one load runs, every caller gets
/// its error, nothing is inserted, and the next call loads afresh.
#[test]
fn eight_threads_with_a_failing_loader_share_one_load_and_its_error() {
    const THREADS: usize = 8;
    let cache: WeakValueCache<String, String> = WeakValueCache::new();
    let loads = AtomicUsize::new(0);
    let arrived = AtomicUsize::new(0);
    let start = Barrier::new(THREADS);
    let results: Vec<Result<Arc<String>, LoadError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    arrived.fetch_add(1, Ordering::SeqCst);
                    cache.try_get_or_insert_with("user:7", || {
                        let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                        // Keep the load running until every caller has had time to join it.
                        while arrived.load(Ordering::SeqCst) < THREADS {
                            std::thread::yield_now();
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        Err(LoadError(format!("connection refused (load {n})")))
                    })
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "one load for eight callers"
    );
    for result in &results {
        assert_eq!(
            result,
            &Err(LoadError("connection refused (load 1)".into())),
            "every caller gets the one load's error"
        );
    }
    assert!(cache.get("user:7").is_none());
    assert_eq!(cache.len(), 0);
    assert!(cache.is_empty());
    // Errors are not cached: the next call loads, and may succeed.
    let value = cache
        .try_get_or_insert_with("user:7", || {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, LoadError>(Arc::new("ada".to_string()))
        })
        .unwrap();
    assert_eq!((loads.load(Ordering::SeqCst), value.as_str()), (2, "ada"));
    assert!(Arc::ptr_eq(&cache.get("user:7").unwrap(), &value));
}

#[test]
fn eight_threads_with_a_succeeding_loader_share_one_value() {
    const THREADS: usize = 8;
    let cache: WeakValueCache<u32, String> = WeakValueCache::new();
    let loads = AtomicUsize::new(0);
    let arrived = AtomicUsize::new(0);
    let start = Barrier::new(THREADS);
    let values: Vec<Arc<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    arrived.fetch_add(1, Ordering::SeqCst);
                    cache
                        .try_get_or_insert_with(&1, || {
                            loads.fetch_add(1, Ordering::SeqCst);
                            while arrived.load(Ordering::SeqCst) < THREADS {
                                std::thread::yield_now();
                            }
                            std::thread::sleep(Duration::from_millis(50));
                            Ok::<_, LoadError>(Arc::new("row 1".to_string()))
                        })
                        .unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
    assert_eq!(cache.len(), 1);
}

/// An infallible caller that joins a failing load cannot return the error: it loads itself.
#[test]
fn an_infallible_caller_joining_a_failed_load_makes_its_own() {
    let cache: WeakValueCache<u32, u32> = WeakValueCache::new();
    let loading = Barrier::new(2);
    std::thread::scope(|s| {
        let failing = s.spawn(|| {
            cache.try_get_or_insert_with(&1, || {
                loading.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(LoadError("down".into()))
            })
        });
        loading.wait(); // the failing load is in flight
        let value = cache.get_or_insert_with(&1, || Arc::new(11));
        assert_eq!(*value, 11);
        assert_eq!(failing.join().unwrap(), Err(LoadError("down".into())));
        assert_eq!(cache.get(&1).as_deref(), Some(&11));
    });
}

#[test]
fn a_panicking_fallible_loader_lets_the_next_caller_load() {
    let cache: WeakValueCache<u32, u32> = WeakValueCache::new();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = cache.try_get_or_insert_with(&1, || -> Result<Arc<u32>, LoadError> {
            panic!("loader bug")
        });
    }));
    assert!(panicked.is_err());
    assert!(cache.get(&1).is_none());
    let value = cache.try_get_or_insert_with(&1, || Ok::<_, LoadError>(Arc::new(3)));
    assert_eq!(value.as_deref().ok(), Some(&3));
}

/// A non-`Clone` error travels in an `Arc`, as the documentation suggests.
#[test]
fn a_non_clone_error_is_shared_through_an_arc() {
    let cache: WeakValueCache<String, Vec<u8>> = WeakValueCache::new();
    let result =
        cache.try_get_or_insert_with("blob", || Err(Arc::new(std::io::Error::other("disk gone"))));
    assert_eq!(result.unwrap_err().to_string(), "disk gone");
}

// ---------------------------------------------------------------- async loaders

/// Fails the test instead of hanging: every async test runs under this deadline.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `body` on a thread of its own and fails the test if it has not finished by
/// [`DEADLINE`]. A watchdog outside the runtime also catches the hang a runtime's own timeout
/// cannot: workers all blocked, so that its timers no longer fire.
fn within_deadline<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(body());
    });
    outcome
        .recv_timeout(DEADLINE)
        .expect("finished before the deadline (or panicked: see above)")
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// Resolves once `counter` reaches `n` (polling on the runtime's timer, not blocking).
async fn until_at_least(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Many tasks ask for one key at once: one load runs, every task gets the same `Arc`.
#[test]
fn concurrent_async_callers_share_one_load() {
    within_deadline(|| {
        const TASKS: usize = 64;
        let cache: Arc<WeakValueCache<String, String>> = Arc::new(WeakValueCache::new());
        let loads = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let values = multi_thread_runtime().block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (cache, loads, arrived) = (cache.clone(), loads.clone(), arrived.clone());
                    tokio::spawn(async move {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        cache
                            .get_or_insert_with_async("config", async {
                                loads.fetch_add(1, Ordering::SeqCst);
                                // Keep the load running until every caller has joined it.
                                until_at_least(&arrived, TASKS).await;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Arc::new("loaded".to_string())
                            })
                            .await
                    })
                })
                .collect();
            async {
                let mut values = Vec::new();
                for task in tasks {
                    values.push(task.await.unwrap());
                }
                values
            }
            .await
        });
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "one load for {TASKS} callers"
        );
        assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
        assert_eq!(*values[0], "loaded");
        assert!(Arc::ptr_eq(&cache.get("config").unwrap(), &values[0]));
        assert_eq!(cache.len(), 1);
    });
}

/// On a single-threaded runtime the loading task needs the one thread the waiting tasks run on:
/// it finishes only because the waiters await instead of blocking it.
#[test]
fn async_waiters_do_not_block_the_thread_the_load_needs() {
    let (loads, values) = within_deadline(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let cache: Arc<WeakValueCache<u32, u32>> = Arc::new(WeakValueCache::new());
        let loads = Arc::new(AtomicUsize::new(0));
        let values: Vec<Arc<u32>> = runtime.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (cache, loads) = (cache.clone(), loads.clone());
                    tokio::spawn(async move {
                        cache
                            .get_or_insert_with_async(&1, async {
                                loads.fetch_add(1, Ordering::SeqCst);
                                // Yields the thread to the other tasks, which join the load.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Arc::new(42)
                            })
                            .await
                    })
                })
                .collect();
            let mut values = Vec::new();
            for task in tasks {
                values.push(task.await.unwrap());
            }
            values
        });
        (loads.load(Ordering::SeqCst), values)
    });
    assert_eq!(loads, 1);
    assert!(
        values
            .iter()
            .all(|v| Arc::ptr_eq(v, &values[0]) && **v == 42)
    );
}

/// A failing async load: the caller that ran it and every caller waiting for it get its error
/// (one load), nothing is inserted, and the next call loads again.
#[test]
fn an_async_load_error_reaches_every_waiting_caller_and_is_not_cached() {
    within_deadline(|| {
        const TASKS: usize = 16;
        let cache: Arc<WeakValueCache<String, String>> = Arc::new(WeakValueCache::new());
        let loads = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let runtime = multi_thread_runtime();
        let results = runtime.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (cache, loads, arrived) = (cache.clone(), loads.clone(), arrived.clone());
                    tokio::spawn(async move {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        cache
                            .try_get_or_insert_with_async("user:7", async {
                                let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                                until_at_least(&arrived, TASKS).await;
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                Err(LoadError(format!("connection refused (load {n})")))
                            })
                            .await
                    })
                })
                .collect();
            async {
                let mut results = Vec::new();
                for task in tasks {
                    results.push(task.await.unwrap());
                }
                results
            }
            .await
        });
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "one load for {TASKS} callers"
        );
        for result in &results {
            assert_eq!(
                result,
                &Err(LoadError("connection refused (load 1)".into())),
                "every caller gets the one load's error"
            );
        }
        assert!(cache.get("user:7").is_none());
        assert!(cache.is_empty());
        let value = runtime.block_on(async {
            cache
                .try_get_or_insert_with_async("user:7", async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, LoadError>(Arc::new("ada".to_string()))
                })
                .await
                .unwrap()
        });
        assert_eq!((loads.load(Ordering::SeqCst), value.as_str()), (2, "ada"));
        assert!(Arc::ptr_eq(&cache.get("user:7").unwrap(), &value));
    });
}

/// The loading caller's future is dropped mid-load (here by a timeout; an aborted task is the
/// same): the waiting callers are woken, exactly one of them loads in its place, and all of them
/// get that value. Nobody hangs.
#[test]
fn a_cancelled_async_load_is_taken_over_by_one_waiter() {
    within_deadline(|| {
        const WAITERS: usize = 8;
        let cache: Arc<WeakValueCache<u32, String>> = Arc::new(WeakValueCache::new());
        let started = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let takeovers = Arc::new(AtomicUsize::new(0));
        let runtime = multi_thread_runtime();
        let (first, values) = runtime.block_on(async {
            // The first caller starts a load that would take an hour, and gives up after 300 ms.
            let first = {
                let (cache, started) = (cache.clone(), started.clone());
                tokio::spawn(async move {
                    tokio::time::timeout(
                        Duration::from_millis(300),
                        cache.try_get_or_insert_with_async(&1, async {
                            started.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            Ok::<_, LoadError>(Arc::new("never".to_string()))
                        }),
                    )
                    .await
                })
            };
            until_at_least(&started, 1).await;
            let waiters: Vec<_> = (0..WAITERS)
                .map(|i| {
                    let (cache, arrived, takeovers) =
                        (cache.clone(), arrived.clone(), takeovers.clone());
                    tokio::spawn(async move {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        cache
                            .try_get_or_insert_with_async(&1, async move {
                                takeovers.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Ok::<_, LoadError>(Arc::new(format!("loaded by waiter {i}")))
                            })
                            .await
                    })
                })
                .collect();
            async {
                let first = first.await.unwrap();
                let mut values = Vec::new();
                for waiter in waiters {
                    values.push(waiter.await.unwrap().unwrap());
                }
                (first, values)
            }
            .await
        });
        assert!(first.is_err(), "the first caller timed out");
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(
            takeovers.load(Ordering::SeqCst),
            1,
            "one waiter loads in place of the cancelled caller"
        );
        assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
        assert!(values[0].starts_with("loaded by waiter"), "{}", values[0]);
        assert!(Arc::ptr_eq(&cache.get(&1).unwrap(), &values[0]));
    });
}

/// An aborted loading task with nobody waiting: the next caller loads.
#[test]
fn an_aborted_async_load_with_no_waiter_lets_the_next_caller_load() {
    within_deadline(|| {
        let cache: Arc<WeakValueCache<u32, u32>> = Arc::new(WeakValueCache::new());
        let started = Arc::new(AtomicUsize::new(0));
        let runtime = multi_thread_runtime();
        let value = runtime.block_on(async {
            let task = {
                let (cache, started) = (cache.clone(), started.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_insert_with_async(&5, async {
                            started.fetch_add(1, Ordering::SeqCst);
                            std::future::pending::<()>().await;
                            Arc::new(0)
                        })
                        .await
                })
            };
            until_at_least(&started, 1).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            assert!(cache.get(&5).is_none());
            cache
                .get_or_insert_with_async(&5, async { Arc::new(55) })
                .await
        });
        assert_eq!(*value, 55);
        assert_eq!(cache.len(), 1);
    });
}

/// A thread blocked on a load run by a task whose future is then dropped is woken and loads in
/// its place.
#[test]
fn a_thread_waiting_for_a_cancelled_async_load_loads_itself() {
    within_deadline(|| {
        let cache: Arc<WeakValueCache<u32, u32>> = Arc::new(WeakValueCache::new());
        let started = Arc::new(AtomicUsize::new(0));
        let runtime = multi_thread_runtime();
        let task = {
            let (cache, started) = (cache.clone(), started.clone());
            runtime.spawn(async move {
                cache
                    .get_or_insert_with_async(&9, async {
                        started.fetch_add(1, Ordering::SeqCst);
                        std::future::pending::<()>().await;
                        Arc::new(0)
                    })
                    .await
            })
        };
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let thread = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.get_or_insert_with(&9, || Arc::new(99)))
        };
        std::thread::sleep(Duration::from_millis(100)); // the thread joins the task's load
        task.abort();
        let value = thread.join().unwrap();
        assert_eq!(*value, 99);
        assert_eq!(cache.get(&9).as_deref(), Some(&99));
    });
}

/// A thread calling the blocking loader and tasks calling the async one share one load of a
/// key, whichever kind of caller runs it; neither waits for the other forever.
#[test]
fn sync_and_async_callers_share_one_load_either_way() {
    within_deadline(|| {
        let runtime = multi_thread_runtime();
        for async_loads in [true, false] {
            let cache: Arc<WeakValueCache<u32, String>> = Arc::new(WeakValueCache::new());
            let loads = Arc::new(AtomicUsize::new(0));
            let started = Arc::new(AtomicUsize::new(0));
            let (sync_done, sync_value) = std::sync::mpsc::channel();
            let load_on_thread = {
                let (cache, loads, started) = (cache.clone(), loads.clone(), started.clone());
                move || {
                    let value = cache.get_or_insert_with(&1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        started.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(200));
                        Arc::new("from a thread".to_string())
                    });
                    let _ = sync_done.send(value);
                }
            };
            let async_values = runtime.block_on(async {
                let first = if async_loads {
                    None
                } else {
                    // The thread loads; the tasks below join its load.
                    let thread = std::thread::spawn(load_on_thread.clone());
                    until_at_least(&started, 1).await;
                    Some(thread)
                };
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let (cache, loads, started) =
                            (cache.clone(), loads.clone(), started.clone());
                        tokio::spawn(async move {
                            cache
                                .get_or_insert_with_async(&1, async {
                                    loads.fetch_add(1, Ordering::SeqCst);
                                    started.fetch_add(1, Ordering::SeqCst);
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                    Arc::new("from a task".to_string())
                                })
                                .await
                        })
                    })
                    .collect();
                let thread = match first {
                    Some(thread) => thread,
                    None => {
                        // A task loads; the thread joins its load (and blocks only itself).
                        until_at_least(&started, 1).await;
                        std::thread::spawn(load_on_thread.clone())
                    }
                };
                let values = async {
                    let mut values = Vec::new();
                    for task in tasks {
                        values.push(task.await.unwrap());
                    }
                    values
                }
                .await;
                thread.join().unwrap();
                values
            });
            let from_thread = sync_value
                .recv_timeout(DEADLINE)
                .expect("the thread finishes");
            assert_eq!(
                loads.load(Ordering::SeqCst),
                1,
                "async_loads = {async_loads}"
            );
            let expected = if async_loads {
                "from a task"
            } else {
                "from a thread"
            };
            assert_eq!(*from_thread, expected);
            assert!(async_values.iter().all(|v| Arc::ptr_eq(v, &from_thread)));
        }
    });
}

/// The futures can be spawned on a multi-threaded runtime: `Send` when key, value and loader are.
#[test]
fn the_async_loaders_are_send() {
    fn check<T: Send>(_: &T) {}
    let cache: WeakValueCache<String, Vec<u8>> = WeakValueCache::new();
    check(&cache.get_or_insert_with_async("k", async { Arc::new(Vec::new()) }));
    check(
        &cache
            .try_get_or_insert_with_async("k", async { Ok::<_, LoadError>(Arc::new(Vec::new())) }),
    );
}
