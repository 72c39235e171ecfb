"""CPython's side of benches/pickle.rs, run by the bench in the same sitting.

    python3 benches/python/pickle_bench.py [MB] [array|records|all]

Prints one line per figure: "name<TAB>median seconds<TAB>runs". Same data as the Rust side:
a 100 MB float64 array, and 10,000 records {id, name, score, tags: [2 str], active, parent}.
"""
import gc
import os
import pickle
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python"))
import keel_pickle_shm  # noqa: E402
from multiprocessing import shared_memory  # noqa: E402


def median_time(fn, runs, min_runs=5):
    times = []
    for _ in range(max(runs, min_runs)):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def report(name, fn, runs):
    t, n = median_time(fn, runs)
    print(f"{name}\t{t:.9f}\t{n}", flush=True)


def records(n):
    return [
        {
            "id": i,
            "name": f"record-{i}",
            "score": i * 0.5,
            "tags": ["alpha", f"t{i % 7}"],
            "active": i % 2 == 0,
            "parent": None if i % 3 else i // 3,
        }
        for i in range(n)
    ]


def main():
    mb = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    part = sys.argv[2] if len(sys.argv) > 2 else "all"
    if part in ("array", "all"):
        array(mb)
    if part in ("records", "all"):
        nested()


def array(mb):
    n = mb * 1000 * 1000 // 8
    arr = np.arange(n, dtype=np.float64)

    # In band: the whole array copied into the pickle and out of it again.
    report("python_in_band_round_trip", lambda: pickle.loads(pickle.dumps(arr, protocol=5)), 5)
    # Python's own out-of-band protocol 5, in one process.
    def oob():
        buffers = []
        data = pickle.dumps(arr, protocol=5, buffer_callback=buffers.append)
        return pickle.loads(data, buffers=buffers)
    report("python_oob_round_trip", oob, 50)

    # Through shared memory: the array lives in a region; dump publishes, load maps.
    region = shared_memory.SharedMemory(create=True, size=n * 8)
    try:
        shared = np.ndarray((n,), dtype=np.float64, buffer=region.buf)
        shared[:] = arr

        def shm_round_trip():
            manifest, copied = keel_pickle_shm.dump(shared, [region])
            assert copied == 0
            back, handles = keel_pickle_shm.load(manifest.name)
            assert back.shape == shared.shape
            del back
            for h in handles.values():
                h.close()
            manifest.close()
            manifest.unlink()
        report("python_shm_dump_load", shm_round_trip, 50)

        # What the Python half used to spend its time on: opening a segment through
        # multiprocessing's SharedMemory (before 3.13 it registers the name with the resource
        # tracker, and keel_pickle_shm then unregisters it: a message over a pipe each) against
        # keel_pickle_shm's shm_open + mmap (its Mapping).
        from multiprocessing import resource_tracker

        probe = keel_pickle_shm.Mapping.create(4096)  # untracked, so the pairs balance
        try:
            def attach_shared_memory():
                h = shared_memory.SharedMemory(name=probe.name)
                resource_tracker.unregister(h._name, "shared_memory")
                h.close()
            report("python_attach_sharedmemory", attach_shared_memory, 200)
            report("python_attach_mapping", lambda: keel_pickle_shm.attach(probe.name).close(), 200)
        finally:
            probe.close()
            probe.unlink()
        del shared
    finally:
        region.close()
        region.unlink()



def nested():
    # The 10,000-record nested structure, CPython's C pickler (protocol 5).
    data = records(10_000)
    blob = pickle.dumps(data, protocol=5)
    print(f"records_pickle_bytes\t{len(blob)}\t1", flush=True)
    report("python_records_dumps", lambda: pickle.dumps(data, protocol=5), 50)
    report("python_records_loads", lambda: pickle.loads(blob), 50)


if __name__ == "__main__":
    main()
