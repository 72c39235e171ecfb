"""CPython's side of tests/pickle.rs: loads what keel wrote, dumps what keel reads.

    python3 pickle_interop.py load DIR   # DIR/cases: one "name<TAB>expected expression" a line
    python3 pickle_interop.py dump DIR   # DIR/cases: one "name<TAB>protocol<TAB>expression" a line

Each case lives in DIR/<name>/: inband.bin and buf0.bin, buf1.bin, ... (out-of-band buffers).
`load` prints "ok <name>" or "FAIL <name>: <loaded> != <expected>" per case; `dump` writes them.
"""
import math
import os
import pickle
import sys

try:
    import numpy as np
except ImportError:  # the numpy cases are skipped by the Rust side
    np = None


def canon(obj):
    """A comparable, printable form: arrays and buffers with their type, order and bytes."""
    if np is not None and isinstance(obj, np.ndarray):
        return ("ndarray", obj.dtype.str, obj.shape, obj.flags.f_contiguous and not obj.flags.c_contiguous,
                [canon(x) for x in obj.ravel(order="K").tolist()])
    if isinstance(obj, (memoryview, pickle.PickleBuffer)):
        m = memoryview(obj)
        return ("buffer", m.readonly, m.tobytes())
    if isinstance(obj, dict):
        return ("dict", sorted((repr(canon(k)), canon(v)) for k, v in obj.items()))
    if isinstance(obj, list):
        return ("list", [canon(x) for x in obj])
    if isinstance(obj, tuple):
        return ("tuple", [canon(x) for x in obj])
    if isinstance(obj, (set, frozenset)):
        return (type(obj).__name__, sorted(repr(canon(x)) for x in obj))
    if isinstance(obj, float) and math.isnan(obj):
        return ("float", "nan")
    return (type(obj).__name__, obj)


def cases(directory):
    with open(os.path.join(directory, "cases"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line.rstrip("\n").split("\t")


def read_case(path):
    with open(os.path.join(path, "inband.bin"), "rb") as f:
        inband = f.read()
    buffers = []
    while os.path.exists(os.path.join(path, f"buf{len(buffers)}.bin")):
        with open(os.path.join(path, f"buf{len(buffers)}.bin"), "rb") as f:
            buffers.append(bytearray(f.read()))
    return inband, buffers


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    env = {"np": np, "pickle": pickle, "math": math}
    failed = 0
    if mode == "load":
        for name, expected in cases(directory):
            inband, buffers = read_case(os.path.join(directory, name))
            try:
                got = canon(pickle.loads(inband, buffers=buffers))
            except Exception as e:  # reported, not raised: the other cases still run
                print(f"FAIL {name}: {type(e).__name__}: {e}")
                failed += 1
                continue
            want = canon(eval(expected, env))
            if got == want:
                print(f"ok {name}")
            else:
                print(f"FAIL {name}: {got!r} != {want!r}")
                failed += 1
    elif mode == "dump":
        for name, protocol, expression in cases(directory):
            obj = eval(expression, env)
            buffers = []
            protocol = int(protocol)
            callback = buffers.append if protocol >= 5 else None
            data = pickle.dumps(obj, protocol=protocol, buffer_callback=callback)
            path = os.path.join(directory, name)
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "inband.bin"), "wb") as f:
                f.write(data)
            for i, b in enumerate(buffers):
                with open(os.path.join(path, f"buf{i}.bin"), "wb") as f:
                    f.write(b.raw())
            print(f"ok {name}")
    else:
        sys.exit(f"unknown mode {mode}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
