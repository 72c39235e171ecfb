"""Reads the Arrow IPC and Parquet files keel wrote (tests/arrow.rs) with pyarrow and polars.

usage: arrow_read.py IPC_PATH PARQUET_PATH ROW,ROW,...
Prints one JSON object: for each reader, the row count, the column types, the field metadata,
column sums and the values of the requested rows.
"""

import json
import sys

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq


def with_pyarrow(table, rows):
    schema = table.schema
    return {
        "num_rows": table.num_rows,
        "types": {f.name: str(f.type) for f in schema},
        "nullable": {f.name: f.nullable for f in schema},
        "metadata": {
            f.name: {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
            for f in schema
        },
        "sums": {
            "timestamp": pc.sum(table["timestamp"]).as_py(),
            "celsius": pc.sum(table["celsius"]).as_py(),
            "value": pc.sum(table["value"]).as_py(),
            "active": pc.sum(pc.cast(table["active"], pa.int64())).as_py(),
            "kelvin": pc.sum(
                pc.cast(pc.equal(pc.cast(table["unit"], pa.string()), "K"), pa.int64())
            ).as_py(),
        },
        "rows": [
            [table[c][r].as_py() for c in ("timestamp", "celsius", "value", "unit", "active")]
            for r in rows
        ],
    }


def with_polars(df, rows):
    return {
        "num_rows": df.height,
        "types": {name: str(dtype) for name, dtype in df.schema.items()},
        "sums": {
            "timestamp": int(df["timestamp"].sum()),
            "celsius": int(df["celsius"].sum()),
            "value": float(df["value"].sum()),
            "active": int(df["active"].sum()),
            "kelvin": int((df["unit"].cast(pl.String) == "K").sum()),
        },
        "rows": [list(df.row(r)) for r in rows],
    }


def main():
    ipc_path, parquet_path, rows = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = [int(r) for r in rows.split(",")]
    with pa.memory_map(ipc_path) as source:
        ipc_table = pa.ipc.open_file(source).read_all()
        out = {
            "pyarrow_ipc": with_pyarrow(ipc_table, rows),
            "pyarrow_parquet": with_pyarrow(pq.read_table(parquet_path), rows),
            "polars_ipc": with_polars(pl.read_ipc(ipc_path), rows),
            "polars_parquet": with_polars(pl.read_parquet(parquet_path), rows),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
