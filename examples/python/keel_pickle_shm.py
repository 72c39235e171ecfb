"""Python's half of keel::pickle::shm: pickle protocol 5 whose out-of-band buffers live in
shared memory, so large numpy arrays cross between Python and Rust without a copy.

    obj, handles = load(name)             # what keel's `export` (or `dump` here) published
    manifest, copied = dump(obj, regions) # publish; keel reads it with `import(name)`

`load` returns the mappings the buffers live in: keep them (and close them only after
dropping every array/view of them; `close` refuses while views exist). The manifest layout is
documented in keel's `pickle::shm` module.

Segments are opened with `shm_open` + `mmap` directly (the `Mapping` class below), not with
`multiprocessing.shared_memory.SharedMemory`: before Python 3.13 every `SharedMemory` open
registers the name with the resource tracker process (and would unlink it at exit, the pitfall
keel::shm documents) and every unlink unregisters it, each a message over a pipe. Those
messages were most of a publish/load round trip's cost (BENCHMARKS.md, issue 28). So nothing
here involves the tracker: a manifest `dump` creates is the caller's to `unlink` (as before),
and a process that dies before unlinking leaves the name in /dev/shm.
"""
import ctypes
import mmap
import os
import pickle
import secrets
import struct

import _posixshmem  # CPython's shm_open/shm_unlink, what SharedMemory itself uses (POSIX)

MAGIC = b"KEELPK5\0"
VERSION = 1
HEADER = struct.Struct("<8sIIIIQ")
ENTRY = struct.Struct("<IIQQ")
SELF = 0xFFFFFFFF
ALIGN = 64


class Mapping:
    """A POSIX shared-memory segment mapped read-write: `name` (no leading slash, as keel and
    `SharedMemory.name` spell it), `size`, `buf` (a memoryview), `close()`, `unlink()`."""

    __slots__ = ("name", "size", "buf", "_mmap")

    def __init__(self, name, create=False, size=0):
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            else:
                size = os.fstat(fd).st_size
            self._mmap = mmap.mmap(fd, size)
        except OSError:
            if create:
                _posixshmem.shm_unlink("/" + name)
            raise
        finally:
            os.close(fd)  # the mapping keeps the memory; the descriptor is not needed
        self.name, self.size, self.buf = name, size, memoryview(self._mmap)

    @classmethod
    def create(cls, size):
        """A new segment of `size` bytes under a random name like SharedMemory's."""
        while True:
            try:
                return cls("psm_" + secrets.token_hex(8), create=True, size=size)
            except FileExistsError:
                continue

    def close(self):
        """Unmaps the segment; raises BufferError while arrays or views of it exist."""
        if self.buf is not None:
            self.buf.release()
            self.buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None

    def unlink(self):
        """Removes the name (processes that mapped it keep their mapping)."""
        _posixshmem.shm_unlink("/" + self.name)

    def __repr__(self):
        return f"Mapping({self.name!r}, size={self.size})"


def attach(name):
    """Maps an existing segment (keel's or another process's) without the resource tracker."""
    return Mapping(name)


def load(name):
    """Loads the pickle published under `name`: returns (obj, {segment name: Mapping})."""
    manifest = attach(name)
    buf = manifest.buf
    magic, version, nseg, count, names_len, inband_len = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"{name!r} is not a keel pickle manifest (version {VERSION})")
    names = bytes(buf[HEADER.size:HEADER.size + names_len]).decode().split("\n")[:nseg]
    handles = {name: manifest}
    segments = []
    for n in names:
        handles[n] = attach(n)
        segments.append(handles[n])
    table = (HEADER.size + names_len + 7) // 8 * 8
    buffers = []
    for i in range(count):
        seg, flags, offset, length = ENTRY.unpack_from(buf, table + i * ENTRY.size)
        source = manifest if seg == SELF else segments[seg]
        view = source.buf[offset:offset + length]
        buffers.append(view.toreadonly() if flags & 1 else view)
    at = table + count * ENTRY.size
    obj = pickle.loads(buf[at:at + inband_len], buffers=buffers)
    return obj, handles


def address(view):
    """The address of a contiguous buffer's first byte."""
    view = memoryview(view).cast("B")
    if view.nbytes == 0:
        return None
    if not view.readonly:
        return ctypes.addressof(ctypes.c_char.from_buffer(view))
    import numpy  # read-only buffers: numpy knows their address
    return numpy.frombuffer(view, numpy.uint8).ctypes.data


def dump(obj, regions=()):
    """Pickles `obj` (protocol 5) into a new manifest segment. Out-of-band buffers that lie in
    one of `regions` (Mapping or SharedMemory objects, e.g. the one an array was built in) are referred
    to where they are; others are copied into the manifest. Returns (manifest, copied bytes);
    the caller keeps `manifest` (and the regions) open until the consumer has mapped them,
    then closes and unlinks it."""
    raw = []
    inband = pickle.dumps(obj, protocol=5, buffer_callback=raw.append)
    spans = [(r, address(r.buf), r.size) for r in regions]
    used, places, spills = [], [], []
    for pb in raw:
        view = pb.raw()
        at, place = address(view), None
        for region, base, size in spans:
            if at is not None and base <= at and at + view.nbytes <= base + size:
                if region not in used:
                    used.append(region)
                place = (used.index(region), at - base)
                break
        if place is None:
            spills.append(view)
            place = (SELF, None)
        places.append((place, view.readonly, view.nbytes))
    names = "".join(r.name + "\n" for r in used).encode()
    table = (HEADER.size + len(names) + 7) // 8 * 8
    end = table + len(raw) * ENTRY.size + len(inband)
    resolved, copied = [], 0
    for (seg, offset), readonly, nbytes in places:
        if seg == SELF:
            offset = (end + ALIGN - 1) // ALIGN * ALIGN
            end = offset + nbytes
            copied += nbytes
        resolved.append((seg, offset, readonly, nbytes))
    manifest = Mapping.create(max(end, 1))
    buf = manifest.buf
    HEADER.pack_into(buf, 0, MAGIC, VERSION, len(used), len(raw), len(names), len(inband))
    buf[HEADER.size:HEADER.size + len(names)] = names
    for i, (seg, offset, readonly, nbytes) in enumerate(resolved):
        ENTRY.pack_into(buf, table + i * ENTRY.size, seg, 1 if readonly else 0, offset, nbytes)
    at = table + len(raw) * ENTRY.size
    buf[at:at + len(inband)] = inband
    spilled = iter(spills)
    for seg, offset, _, nbytes in resolved:
        if seg == SELF:
            buf[offset:offset + nbytes] = next(spilled)
    del buf
    return manifest, copied
