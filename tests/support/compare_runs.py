#!/usr/bin/python3
"""Compares the results of two runs of the same shardflow job (two workdirs).

    /usr/bin/python3 compare_runs.py WORKDIR_A WORKDIR_B [--ordered TABLE]... [--across-ranks]

Used by the e2e and Slurm tests.

Checks, with h5py only (no shardflow code):
  * outputs/*.h5: the same files, the same shardflow tables in each (groups with a
    `format_version` attribute), the same columns, and the same rows as a multiset (row order may
    legitimately differ between runs that partition differently; dictionary codes are decoded to
    strings so differently numbered dictionaries compare by value). Values compare exactly.
    Tables named with --ordered must also have their rows in the same order.
  * model.h5: dataset /model/weights bit-exactly.
  * metrics.json: job name, rank count (unless --across-ranks), the row counts of the tables both
    runs counted and evaluation metrics exactly; the
    training summary except timing and resume bookkeeping (and epoch_loss unless both runs trained
    from the first step). The wall time ("seconds") and the job
    fingerprint (it covers the workdir, which differs between the two runs) are ignored.
Exit 0 when equal, 1 with a description of every difference otherwise, 2 on unreadable input.
"""
import argparse
import json
import math
import os
import struct
import sys

import h5py
import numpy as np


def fail_input(msg):
    print(f"compare_runs.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def decode(value):
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).rstrip(b"\0").decode("utf-8", "replace")
    return value


def strings(group, name):
    """Strings of `name`: fixed-length (table format 1) or lengths plus `name`.bytes (format 2)."""
    data = group[name][()]
    if data.dtype.kind == "S":
        return [decode(s) for s in data.tolist()]
    ends = np.cumsum(data.astype(np.int64)).tolist()
    raw = group[name + ".bytes"][()].tobytes()
    return [raw[e - n:e].decode("utf-8", "replace") for n, e in zip(data.tolist(), ends)]


def column_values(group, name):
    """Column `name` of a shardflow table group as a list of comparable Python values."""
    ds = group[name]
    encoding = decode(ds.attrs.get("encoding", b""))
    data = ds[()]
    if encoding == "dictionary":
        dictionary = strings(group, name + ".dictionary")
        values = [dictionary[c] if 0 <= c < len(dictionary) else f"<bad code {c}>" for c in data.tolist()]
    elif encoding == "lengths":
        values = strings(group, name)
    elif data.dtype.kind == "S":
        values = [decode(s) for s in data.tolist()]
    elif data.dtype.kind == "f":
        # Compare floats by bit pattern so NaN == NaN and -0.0 != 0.0 (outputs must be identical).
        fmt = "<d" if data.dtype.itemsize == 8 else "<f"
        values = [("f", struct.pack(fmt, v)) for v in data.tolist()]
    else:
        values = data.tolist()
    if name + ".valid" in group:
        valid = group[name + ".valid"][()].tolist()
        values = [v if ok else None for v, ok in zip(values, valid)]
    return values


def show(value):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "f":
        fmt = "<d" if len(value[1]) == 8 else "<f"
        return repr(struct.unpack(fmt, value[1])[0])
    return repr(value)


def table_rows(path, name):
    with h5py.File(path, "r") as f:
        group = f[name]
        columns = [decode(c) for c in group.attrs["columns"]]
        cols = [column_values(group, c) for c in columns]
        n = int(group.attrs["num_rows"])
        schema = decode(group.attrs.get("schema", b""))
    for c, values in zip(columns, cols):
        if len(values) != n:
            fail_input(f"{path}:/{name}/{c} has {len(values)} values but num_rows is {n}")
    rows = list(zip(*cols)) if cols else []
    return columns, rows, schema


def multiset_order(rows):
    return sorted(rows, key=lambda row: tuple((v is None, show(v)) for v in row))


def tables_in(path):
    with h5py.File(path, "r") as f:
        return sorted(k for k in f.keys() if isinstance(f[k], h5py.Group) and "format_version" in f[k].attrs)


def compare_outputs(a, b, ordered, problems):
    da, db = os.path.join(a, "outputs"), os.path.join(b, "outputs")
    for d in (da, db):
        if not os.path.isdir(d):
            fail_input(f"{d} does not exist (did the job write its outputs?)")
    files_a = sorted(f for f in os.listdir(da) if f.endswith(".h5"))
    files_b = sorted(f for f in os.listdir(db) if f.endswith(".h5"))
    if files_a != files_b:
        problems.append(f"output files differ: {files_a} vs {files_b}")
    if not files_a:
        problems.append(f"no outputs/*.h5 in {a}")
    for f in sorted(set(files_a) & set(files_b)):
        pa, pb = os.path.join(da, f), os.path.join(db, f)
        ta, tb = tables_in(pa), tables_in(pb)
        if ta != tb:
            problems.append(f"{f}: tables differ: {ta} vs {tb}")
        if not ta:
            problems.append(f"{f}: no shardflow table in it")
        for t in sorted(set(ta) & set(tb)):
            cols_a, rows_a, schema_a = table_rows(pa, t)
            cols_b, rows_b, schema_b = table_rows(pb, t)
            where = f"{f}:/{t}"
            if schema_a != schema_b or cols_a != cols_b:
                problems.append(f"{where}: schema differs: {schema_a} vs {schema_b}")
                continue
            if len(rows_a) != len(rows_b):
                problems.append(f"{where}: {len(rows_a)} rows vs {len(rows_b)} rows")
                continue
            how = "in order" if t in ordered else "as multisets"
            if t not in ordered:
                rows_a, rows_b = multiset_order(rows_a), multiset_order(rows_b)
            diff = [(x, y) for x, y in zip(rows_a, rows_b) if x != y]
            if diff:
                x, y = diff[0]
                problems.append(f"{where}: {len(diff)} of {len(rows_a)} rows differ ({how}); first: "
                                f"({', '.join(map(show, x))}) vs ({', '.join(map(show, y))})")
            else:
                print(f"ok: {where}: {len(rows_a)} rows equal {how} ({', '.join(cols_a)})")


def compare_weights(a, b, problems):
    pa, pb = os.path.join(a, "model.h5"), os.path.join(b, "model.h5")
    for p in (pa, pb):
        if not os.path.isfile(p):
            fail_input(f"{p} does not exist (did training finish?)")
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        for p, f in ((pa, fa), (pb, fb)):
            if "model/weights" not in f:
                fail_input(f"{p} has no dataset /model/weights")
        wa, wb = fa["model/weights"][()], fb["model/weights"][()]
    if wa.dtype != wb.dtype or wa.shape != wb.shape or wa.tobytes() != wb.tobytes():
        problems.append(f"/model/weights differ: {wa.dtype}{wa.shape} {wa.tolist()} vs {wb.dtype}{wb.shape} {wb.tolist()}")
    else:
        print(f"ok: /model/weights bit-identical ({wa.size} values)")


IGNORED_TRAIN_KEYS = ("seconds", "resum", "time", "reused", "per_rank")


def compare_metrics(a, b, across_ranks, problems):
    docs = []
    for d in (a, b):
        p = os.path.join(d, "metrics.json")
        try:
            with open(p) as f:
                docs.append(json.load(f))
        except (OSError, ValueError) as e:
            fail_input(f"cannot read {p}: {e}")
    ma, mb = docs
    # "fingerprint" is the job's (it covers the workdir, which differs between the runs compared) and
    # "seconds" the wall time; "ranks" is compared because both runs must use the same rank count.
    keys = ("job", "metrics") if across_ranks else ("job", "ranks", "metrics")
    for key in keys:
        if ma.get(key) != mb.get(key):
            problems.append(f"metrics.json '{key}' differs: {ma.get(key)!r} vs {mb.get(key)!r}")
    # A run that reuses cached stages does not read the inputs it no longer needs, so it knows
    # fewer row counts: compare the tables both runs counted, and require the step outputs.
    tables_a, tables_b = ma.get("tables") or {}, mb.get("tables") or {}
    for name in sorted(set(tables_a) & set(tables_b)):
        if tables_a[name] != tables_b[name]:
            problems.append(f"metrics.json table '{name}' rows differ: {tables_a[name]} vs {tables_b[name]}")
    for doc, other in ((ma, b), (mb, a)):
        for step in doc.get("steps") or []:
            for name in step.get("rows", {}):
                if name not in (tables_a if doc is ma else tables_b):
                    problems.append(f"metrics.json of the run compared with {other} lacks the rows of step output '{name}'")
    ta, tb = ma.get("train"), mb.get("train")
    if isinstance(ta, dict) and isinstance(tb, dict):
        # epoch_loss is what a run's own steps saw: partial after a resume, empty when reused;
        # between two runs that each trained from the start it must be identical.
        whole = all(t.get("resumed_from_step", -1) < 0 and not t.get("reused") for t in (ta, tb))
        keep = lambda t: {k: v for k, v in t.items()
                          if not any(s in k for s in IGNORED_TRAIN_KEYS) and (whole or k != "epoch_loss")}
        ta, tb = keep(ta), keep(tb)
    if ta != tb:
        problems.append(f"metrics.json 'train' differs: {ta!r} vs {tb!r}")
    if not ma.get("metrics"):
        problems.append(f"{a}/metrics.json has no evaluation metrics")
    bad = [k for k, v in (ma.get("metrics") or {}).items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        problems.append(f"metrics.json has non-finite metrics: {bad}")
    if not any(p.startswith("metrics.json") for p in problems):
        print(f"ok: metrics.json equal (metrics {ma.get('metrics')})")


def main():
    parser = argparse.ArgumentParser(description="Compare two shardflow run directories.")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--ordered", action="append", default=[],
                        help="a table whose row order must match too (repeatable)")
    parser.add_argument("--across-ranks", action="store_true",
                        help="the runs used different rank counts; do not compare 'ranks'")
    args = parser.parse_args()
    a, b = args.a, args.b
    problems = []
    compare_outputs(a, b, set(args.ordered), problems)
    compare_weights(a, b, problems)
    compare_metrics(a, b, args.across_ranks, problems)
    if problems:
        print(f"FAIL: {a} and {b} differ:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {a} and {b} hold the same results")


if __name__ == "__main__":
    main()
