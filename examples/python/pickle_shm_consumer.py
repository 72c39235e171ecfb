"""Consumer of the pickle_shm_producer example: loads what Rust published in shared memory.

    python3 pickle_shm_consumer.py MANIFEST_NAME
"""
import sys
import time

import numpy as np

import keel_pickle_shm

start = time.perf_counter()
batch, handles = keel_pickle_shm.load(sys.argv[1])
elapsed = time.perf_counter() - start
weights = batch["weights"]
shared = any(np.shares_memory(weights, np.frombuffer(h.buf, np.uint8)) for h in handles.values())
print(f"python: {batch['name']} step {batch['step']}: {weights.dtype} {weights.shape}, "
      f"loaded in {elapsed * 1e6:.0f} us, shares memory with the segment: {shared}")
assert shared and not weights.flags.writeable
assert weights[-1, -1] == weights.size - 1
del weights, batch  # release the views before closing the mappings
for h in handles.values():
    h.close()
