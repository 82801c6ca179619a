#!/usr/bin/python3
"""Compares two shardflow run directories: the trained weights bit for bit, every output table
(row multisets, and row order where the table has one), and the evaluation metrics. Reads the
HDF5 files with h5py only, as a user would. Exit 0 if equal, 1 with a description otherwise.

usage: compare_runs.py RUN_A RUN_B [--ordered TABLE]... [--unordered TABLE]...
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np


def read_table(path, name):
    """Reads /<name> as a dict column -> list of Python values (None for nulls)."""
    with h5py.File(path, "r") as f:
        g = f[name]
        if int(g.attrs.get("complete", 0)) != 1:
            raise SystemExit(f"{path}:/{name} is not marked complete")
        columns = [c.decode() if isinstance(c, bytes) else str(c) for c in g.attrs["columns"]] \
            if "columns" in g.attrs else [k for k in g.keys() if "." not in k]
        out = {}
        for c in columns:
            values = g[c][:]
            if c + ".dictionary" in g:
                dictionary = [v.decode() if isinstance(v, bytes) else v for v in g[c + ".dictionary"][:]]
                values = [dictionary[int(v)] for v in values]
            elif values.dtype.kind == "S":
                values = [v.decode() for v in values]
            else:
                values = values.tolist()
            if c + ".valid" in g:
                valid = g[c + ".valid"][:]
                values = [v if ok else None for v, ok in zip(values, valid)]
            out[c] = values
        return columns, out


def rows(columns, table):
    n = len(table[columns[0]]) if columns else 0
    return [tuple(table[c][i] for c in columns) for i in range(n)]


def main():
    a, b = Path(sys.argv[1]), Path(sys.argv[2])
    ordered, unordered = [], []
    args = sys.argv[3:]
    for flag, value in zip(args[::2], args[1::2]):
        (ordered if flag == "--ordered" else unordered).append(value)
    problems = []
    with h5py.File(a / "model.h5", "r") as fa, h5py.File(b / "model.h5", "r") as fb:
        wa, wb = fa["model/weights"][:], fb["model/weights"][:]
        if wa.dtype != np.float64 or wa.shape != wb.shape or wa.tobytes() != wb.tobytes():
            problems.append(f"weights differ:\n  {wa!r}\n  {wb!r}")
    for name in ordered + unordered:
        ca, ta = read_table(a / "outputs" / f"{name}.h5", name)
        cb, tb = read_table(b / "outputs" / f"{name}.h5", name)
        if ca != cb:
            problems.append(f"table {name}: columns {ca} != {cb}")
            continue
        ra, rb = rows(ca, ta), rows(cb, tb)
        if name in unordered:
            ra, rb = sorted(ra, key=repr), sorted(rb, key=repr)
        if ra != rb:
            diff = next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), min(len(ra), len(rb)))
            problems.append(f"table {name}: {len(ra)} vs {len(rb)} rows; first difference at row {diff}: "
                            f"{ra[diff] if diff < len(ra) else None} vs {rb[diff] if diff < len(rb) else None}")
    ma = json.loads((a / "metrics.json").read_text())["metrics"]
    mb = json.loads((b / "metrics.json").read_text())["metrics"]
    if ma != mb:
        problems.append(f"metrics differ: {ma} vs {mb}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"equal: {a} and {b} (weights {len(wa)} values, tables {ordered + unordered}, metrics {ma})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
