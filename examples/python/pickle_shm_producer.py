"""Producer of the pickle_shm_consumer example: builds a float64 array in shared memory and
publishes it for Rust with keel_pickle_shm.dump, then waits for Rust's reply to unlink.

    python3 pickle_shm_producer.py MIB
"""
import sys
from multiprocessing import shared_memory

import numpy as np

import keel_pickle_shm

mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
rows = mib * 1024 * 1024 // 8 // 1024
region = shared_memory.SharedMemory(create=True, size=rows * 1024 * 8)
weights = np.ndarray((rows, 1024), dtype=np.float64, buffer=region.buf)
weights[:] = np.arange(weights.size, dtype=np.float64).reshape(weights.shape)
manifest, copied = keel_pickle_shm.dump({"name": "weights", "step": 7, "weights": weights}, [region])
assert copied == 0, copied  # the array stays where it was built
print(manifest.name, flush=True)
sys.stdin.readline()  # Rust has read it
del weights
for s in (manifest, region):
    s.close()
    s.unlink()
