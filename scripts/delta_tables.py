#!/usr/bin/env python3
"""Read delegraph's Delta tables with the Python `deltalake` package (PyPI),
independently of delegraph, and print what they hold as JSON.

    delta_tables.py DATA_DIR TABLE:KEY[:COLUMN,...] ...

For each table: its row count and, sorted by KEY, the first rows of the
named columns (times as integer microseconds since the epoch, lists as
lists). The tests compare this with what `delegraph sql` returns.
"""
import json
import os
import sys

import pyarrow as pa
from deltalake import DeltaTable

SAMPLE = 25


def plain(column):
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return column


def main():
    data_dir, specs = sys.argv[1], sys.argv[2:]
    out = {}
    for spec in specs:
        table, key, *rest = spec.split(":")
        columns = rest[0].split(",") if rest else []
        dt = DeltaTable(f"{data_dir}/{table}")
        arrow = dt.to_pyarrow_table()
        entry = {
            "rows": arrow.num_rows,
            "version": dt.version(),
            "partitions": dt.metadata().partition_columns,
            "configuration": dt.metadata().configuration,
        }
        if columns:
            picked = arrow.sort_by(key).select(columns).slice(0, SAMPLE)
            picked = pa.table({c: plain(picked[c]) for c in columns})
            entry["sample"] = picked.to_pylist()
        out[table] = entry
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
    # Leave without the interpreter's teardown: the deltalake package's
    # native threads sometimes abort the process there ("terminate called
    # without an active exception", delta-io/delta-rs#2184) after every
    # table has been read and printed. Errors before this point still
    # raise and exit non-zero.
    sys.stdout.flush()
    os._exit(0)
