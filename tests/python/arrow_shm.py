"""Opens the shared-memory segment keel wrote an Arrow IPC file into (tests/arrow.rs) and reads
the columns in place with pyarrow.

usage: arrow_shm.py SEGMENT_NAME LENGTH
Prints the row count, the sum of `timestamp` and whether the column's buffer lies inside the
segment's memory (no copy).
"""

import sys
from multiprocessing import resource_tracker, shared_memory

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc


def main():
    name, length = sys.argv[1], int(sys.argv[2])
    try:
        shm = shared_memory.SharedMemory(name=name, track=False)  # Python >= 3.13
    except TypeError:
        shm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(shm._name, "shared_memory")  # Python < 3.13
    view = shm.buf[:length]
    source = pa.py_buffer(view)
    table = pa.ipc.open_file(source).read_all()
    column = table["timestamp"].chunks[0]
    data = column.buffers()[1]
    inside = source.address <= data.address < source.address + source.size
    print("rows", table.num_rows)
    print("timestamp_sum", pc.sum(table["timestamp"]).as_py())
    print("in_place", inside)
    del column, data, table, source
    view.release()
    shm.close()


if __name__ == "__main__":
    main()
