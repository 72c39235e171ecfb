"""Bytes per object of the Python original: SensorReading with __slots__ (and without), measured
with tracemalloc the way the keel benchmarks measure SensorReadingVec.memory_bytes().

Usage: python3 benches/python/slots_memory.py [ROWS]   (default 1_000_000)
Prints one line per class: `python <class> rows=<n> bytes=<total> bytes_per_row=<x>`.
"""

import sys
import tracemalloc


class SensorReading:
    def __init__(self, timestamp, value, unit):
        self.timestamp = timestamp
        self.value = value
        self.unit = unit


class SensorReadingSlotted:
    __slots__ = ("timestamp", "value", "unit")

    def __init__(self, timestamp, value, unit):
        self.timestamp = timestamp
        self.value = value
        self.unit = unit


def measure(cls, rows):
    unit = "°C"  # one distinct unit string, shared by every object (as in the Rust benchmark)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    objects = [cls(1_719_000_000 + i, i * 0.5, unit) for i in range(rows)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(objects) == rows
    total = after - before
    print(
        f"python {cls.__name__} rows={rows} bytes={total} bytes_per_row={total / rows:.1f}",
        flush=True,
    )


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"python version={sys.version.split()[0]}", flush=True)
    measure(SensorReadingSlotted, rows)
    measure(SensorReading, rows)


if __name__ == "__main__":
    main()
