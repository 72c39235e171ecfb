"""CPython's weakref.WeakValueDictionary on the workload of benches/cache.rs.

    python3 benches/python/weak_value_dict.py

1000 short string keys; ns per operation (best of 5 rounds):
  get_hit              d.get(key) for a live value
  get_or_insert_hit    the cache idiom `v = d.get(k); if v is None: v = make(); d[k] = v`, value alive
  get_or_insert_miss   the same when the value has died, so it is made and stored again
  *_2threads           two threads, each on its own keys; wall time per operation per thread
"""

import sys
import threading
import time
import weakref

KEYS = 1000
OPS = 1_000_000


class Value:
    __slots__ = ("n", "__weakref__")

    def __init__(self, n):
        self.n = n


def keys(prefix):
    return [f"{prefix}-{i}" for i in range(KEYS)]


def get_or_insert(d, key, make):
    v = d.get(key)
    if v is None:
        v = make()
        d[key] = v
    return v


def run_get(d, ks, ops):
    get = d.get
    for i in range(ops):
        get(ks[i % KEYS])


def run_get_or_insert_hit(d, ks, ops):
    for i in range(ops):
        get_or_insert(d, ks[i % KEYS], None)


def run_get_or_insert_miss(d, ks, ops):
    for i in range(ops):
        get_or_insert(d, ks[i % KEYS], lambda: Value(i))  # dies right away


def best_ns_per_op(fn, ops):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        fn(ops)
        best = min(best, (time.perf_counter_ns() - start) / ops)
    return best


def two_threads(fn, d, ops):
    def once(_ops):
        threads = [threading.Thread(target=fn, args=(d, ks, ops)) for ks in (keys("left"), keys("right"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return best_ns_per_op(once, ops)


def main():
    ks = keys("key")
    d = weakref.WeakValueDictionary()
    alive = [Value(i) for i in range(KEYS)]
    for k, v in zip(ks, alive):
        d[k] = v
    print(f"CPython {sys.version.split()[0]}, weakref.WeakValueDictionary, {KEYS} keys, ns/op")
    print(f"get_hit                    {best_ns_per_op(lambda n: run_get(d, ks, n), OPS):8.1f}")
    print(f"get_or_insert_hit          {best_ns_per_op(lambda n: run_get_or_insert_hit(d, ks, n), OPS):8.1f}")
    miss = weakref.WeakValueDictionary()
    print(f"get_or_insert_miss         {best_ns_per_op(lambda n: run_get_or_insert_miss(miss, ks, n), OPS):8.1f}")

    d2 = weakref.WeakValueDictionary()
    alive2 = []
    for prefix in ("left", "right"):
        for i, k in enumerate(keys(prefix)):
            v = Value(i)
            alive2.append(v)
            d2[k] = v
    print(f"get_hit_2threads           {two_threads(run_get, d2, OPS // 2):8.1f}")
    print(f"get_or_insert_hit_2threads {two_threads(run_get_or_insert_hit, d2, OPS // 2):8.1f}")
    del alive, alive2


if __name__ == "__main__":
    main()
