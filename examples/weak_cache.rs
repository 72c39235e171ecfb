#![deny(warnings, clippy::all)]
//! Python's "automatic cleanup and ephemeral caches with weakref.finalize + WeakValueDictionary",
//! with keel.
//!
//! ```text
//! cargo run --release --example weak_cache
//! ```
//!
//! The Python original caches `Resource`s in a `WeakValueDictionary` and attaches
//! `weakref.finalize(r, r.close)`, so `closed A` is printed when the last reference goes. Here
//! the cache is a `WeakValueCache` and the cleanup a `Finalizer` stored in the resource: it runs
//! exactly once, when the last `Arc` is dropped, or at exit for a resource still alive then.
//! The last part opens a resource from async tasks (`get_or_insert_with_async`): eight requests
//! for one name await a single open, and one whose request is cancelled mid-open hands the open
//! to a waiting request.

use keel::cache::WeakValueCache;
use keel::finalize::Finalizer;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

struct Resource {
    name: String,
    _close: Finalizer,
}

impl Resource {
    fn open(name: &str) -> Self {
        if !name.starts_with("tmp-") {
            println!("opened {name}");
        }
        let owned = name.to_owned();
        Resource {
            name: name.to_owned(),
            _close: Finalizer::new(move || {
                if !owned.starts_with("tmp-") {
                    println!("closed {owned}");
                }
            }),
        }
    }
}

static CACHE: LazyLock<WeakValueCache<String, Resource>> = LazyLock::new(WeakValueCache::new);

/// `make(name)` from the Python original: one live `Resource` per name.
fn make(name: &str) -> Arc<Resource> {
    CACHE.get_or_insert_with(name, || Arc::new(Resource::open(name)))
}

fn main() {
    let r1 = make("A");
    let again = make("A"); // a cache hit: no second "opened A"
    assert!(Arc::ptr_eq(&r1, &again));
    println!("cache holds {} live entry; {:?}", CACHE.len(), r1.name);
    drop(again);
    println!("del r1");
    drop(r1); // the last reference: "closed A", right here (no gc.collect() needed)
    println!(
        "after: get(\"A\") = {:?}, len = {}",
        CACHE.get("A").map(|r| r.name.clone()),
        CACHE.len()
    );

    let start = Instant::now();
    let n = 100_000;
    for i in 0..n {
        drop(make(&format!("tmp-{}", i % 100)));
    }
    println!(
        "{n} short-lived resources with finalizers: {:.0} ns each; cache len {}, capacity {}",
        start.elapsed().as_secs_f64() * 1e9 / n as f64,
        CACHE.len(),
        CACHE.capacity()
    );

    serve_async();

    // Still alive when main ends: the at-exit sweep closes it, like Python at interpreter exit.
    std::mem::forget(make("B"));
    println!("main returns (B is still alive)");
}

/// Async requests on tokio: the open awaits (say, a TLS handshake); the requests for one name
/// share it without blocking a worker thread.
fn serve_async() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let open_slowly = |name: &'static str| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Arc::new(Resource::open(name))
        };
        let requests: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn(
                    async move { CACHE.get_or_insert_with_async("C", open_slowly("C")).await },
                )
            })
            .collect();
        let mut served = Vec::new();
        for request in requests {
            served.push(request.await.expect("request task"));
        }
        println!(
            "8 async requests for C: one open, same resource for all = {}",
            served.iter().all(|r| Arc::ptr_eq(r, &served[0]))
        );
        drop(served);

        // A request that gives up after 10 ms while a second one waits for its open: the second
        // opens D itself (one "opened D" is printed when its open completes).
        let impatient = tokio::spawn(tokio::time::timeout(
            std::time::Duration::from_millis(10),
            CACHE.get_or_insert_with_async("D", open_slowly("D")),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let patient = tokio::spawn(CACHE.get_or_insert_with_async("D", open_slowly("D")));
        let gave_up = impatient.await.expect("request task").is_err();
        let d = patient.await.expect("request task");
        println!(
            "the first request for D gave up: {gave_up}; the second got {:?}",
            d.name
        );
    });
}
