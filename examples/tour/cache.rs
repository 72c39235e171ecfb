//! `weakref.WeakValueDictionary` + `weakref.finalize`  ->  `keel::cache` + `keel::finalize`.

use crate::measure::{Table, ns, per_call, ratio};
use keel::cache::WeakValueCache;
use keel::finalize::Finalizer;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

struct Connection {
    _close: Finalizer,
}

static CLOSED: AtomicUsize = AtomicUsize::new(0);

fn connect() -> Arc<Connection> {
    Arc::new(Connection {
        _close: Finalizer::new(|| {
            CLOSED.fetch_add(1, Ordering::SeqCst);
        }),
    })
}

pub fn run() {
    let cache: WeakValueCache<String, Connection> = WeakValueCache::new();
    let a = cache.get_or_insert_with("db-a", connect);
    let b = cache.get_or_insert_with("db-a", connect);
    println!(
        "get_or_insert_with twice: same connection {}, live entries {}",
        Arc::ptr_eq(&a, &b),
        cache.len()
    );
    drop((a, b));
    println!(
        "last Arc dropped: finalizer ran {} time(s), get(\"db-a\") is_none {}, len {}",
        CLOSED.load(Ordering::SeqCst),
        cache.get("db-a").is_none(),
        cache.len()
    );

    for i in 0..200_000u64 {
        drop(cache.get_or_insert_with(&format!("churn-{i}"), connect));
    }
    println!(
        "200k short-lived entries later: len {}, capacity {} (dead entries are swept)",
        cache.len(),
        cache.capacity()
    );

    let keys: Vec<String> = (0..1000).map(|i| format!("key-{i}")).collect();
    let values: Vec<Arc<Connection>> = keys.iter().map(|_| connect()).collect();
    let peer: Mutex<HashMap<String, Weak<Connection>>> = Mutex::new(HashMap::new());
    for (k, v) in keys.iter().zip(&values) {
        cache.insert(k.clone(), v);
        peer.lock().unwrap().insert(k.clone(), Arc::downgrade(v));
    }
    let mut i = 0;
    let keel_get = per_call(200_000, || {
        i = (i + 1) % keys.len();
        cache.get(black_box(keys[i].as_str()))
    });
    let peer_get = per_call(200_000, || {
        i = (i + 1) % keys.len();
        peer.lock()
            .unwrap()
            .get(black_box(&keys[i]))
            .and_then(Weak::upgrade)
    });
    let mut table = Table::new(&[
        "get, a hit, one thread (median of 7)",
        "WeakValueCache",
        "Mutex<HashMap<K, Weak<V>>>",
        "ratio",
    ]);
    table.row(&[
        &"1000 String keys",
        &ns(keel_get),
        &ns(peer_get),
        &ratio(keel_get, peer_get),
    ]);
    table.print();
    println!("(benches/cache.rs has the figures with 2 threads)");

    let fin = Finalizer::new(|| println!("never printed: detached"));
    println!(
        "Finalizer: alive {} -> detach() {} -> alive {}",
        fin.alive(),
        fin.detach(),
        fin.alive()
    );
}
