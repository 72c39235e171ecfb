"""Writes SensorReading rows as Parquet with pandas and with polars, for keel to read back
(tests/arrow.rs).

usage: arrow_write.py PANDAS_PATH POLARS_PATH ROWS BAD_ROW
Rows follow the test's `reading(i)`; BAD_ROW >= 0 puts celsius 151 (above the field's
`-50..=150`) in that row of both files. pandas writes every integer column as int64 and
Snappy-compresses (its default); polars is asked for Snappy too.
"""

import sys

import numpy as np
import pandas as pd
import polars as pl


def main():
    pandas_path, polars_path = sys.argv[1], sys.argv[2]
    n, bad_row = int(sys.argv[3]), int(sys.argv[4])
    i = np.arange(n, dtype=np.int64)
    celsius = i % 120 - 20
    if bad_row >= 0:
        celsius[bad_row] = 151
    columns = {
        "timestamp": 1_719_000_000 + i,
        "celsius": celsius,
        "value": 42.5 + (i % 1000) * 0.01,
        "unit": np.array(["°C", "°F", "K"], dtype=object)[i % 3],
        "active": i % 7 != 0,
    }
    pd.DataFrame(columns).to_parquet(pandas_path)
    pl.DataFrame(columns).write_parquet(polars_path, compression="snappy")


if __name__ == "__main__":
    main()
