#!/usr/bin/env python3
"""pandas peer of benchmarks/groupby_comparisons.sh (same output as groupby_duckdb.mjs; one thread):
    python3 peers/groupby_pandas.py FILE.csv [repeats]
The questions as db-benchmark's pandas/groupby-pandas.py asks them (id1-id3 as categories,
groupby(..., sort=False, observed=True, dropna=False)); q9 is each group's v1.corr(v2) squared."""
import json
import math
import os
import resource
import sys
import time

import pandas as pd

QUESTIONS = [("q1", ["v1"]), ("q2", ["v1"]), ("q3", ["v1", "v3"]), ("q4", ["v1", "v2", "v3"]),
             ("q5", ["v1", "v2", "v3"]), ("q6", ["median_v3", "sd_v3"]), ("q7", ["range_v1_v2"]),
             ("q8", ["largest2_v3"]), ("q9", ["r2"]), ("q10", ["v3", "count"])]
DTYPES = {"id1": "category", "id2": "category", "id3": "category", "id4": "int64", "id5": "int64",
          "id6": "int64", "v1": "int64", "v2": "int64", "v3": "float64"}


def group(x, keys):
    return x.groupby(keys, as_index=False, sort=False, observed=True, dropna=False)


def q6(x):
    ans = group(x, ["id4", "id5"]).agg(median_v3=("v3", "median"), sd_v3=("v3", "std"))
    return ans


def q7(x):
    ans = group(x, "id3").agg({"v1": "max", "v2": "min"})
    return ans.assign(range_v1_v2=ans["v1"] - ans["v2"])[["id3", "range_v1_v2"]]


def q8(x):
    ans = x[~x["v3"].isna()][["id6", "v3"]].sort_values("v3", ascending=False)
    ans = ans.groupby("id6", sort=False, observed=True, dropna=False).head(2).reset_index(drop=True)
    return ans.rename(columns={"v3": "largest2_v3"})


def q9(x):
    r = x[["id2", "id4", "v1", "v2"]].groupby(["id2", "id4"], sort=False, observed=True, dropna=False)
    return r.apply(lambda g: g["v1"].corr(g["v2"]) ** 2).rename("r2").reset_index()


QUERY = {
    "q1": lambda x: group(x, "id1").agg({"v1": "sum"}),
    "q2": lambda x: group(x, ["id1", "id2"]).agg({"v1": "sum"}),
    "q3": lambda x: group(x, "id3").agg({"v1": "sum", "v3": "mean"}),
    "q4": lambda x: group(x, "id4").agg({"v1": "mean", "v2": "mean", "v3": "mean"}),
    "q5": lambda x: group(x, "id6").agg({"v1": "sum", "v2": "sum", "v3": "sum"}),
    "q6": q6,
    "q7": q7,
    "q8": q8,
    "q9": q9,
    "q10": lambda x: group(x, ["id1", "id2", "id3", "id4", "id5", "id6"]).agg(v3=("v3", "sum"), count=("v1", "size")),
}


def json_number(v):
    """NaN and infinities as strings (as groupby_common.mjs's jsonNumber); None for a missing value."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")


if len(sys.argv) < 2 or not os.path.exists(sys.argv[1]):
    sys.exit("usage: groupby_pandas.py FILE.csv [repeats]  (FILE: written by `shardflow gen groupby --rows N --out FILE`)")
path, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
t0 = time.perf_counter()
x = pd.read_csv(path, engine="c", dtype=DTYPES)
print(json.dumps({"bench": "groupby_load", "impl": "pandas", "threads": 1, "seconds": time.perf_counter() - t0}), flush=True)
for q, chk_columns in QUESTIONS:
    times = []
    for _ in range(repeats):
        ans = None
        t = time.perf_counter()
        ans = QUERY[q](x)
        times.append(time.perf_counter() - t)
    # pandas has no null floats: NaN is "missing" (skipped, as SQL's sum skips NULL), except in r2,
    # where it is corr's NaN for a constant column, a value the other engines' sums propagate.
    chk = {c: json_number(ans[c].sum(skipna=c != "r2")) for c in chk_columns}
    print(json.dumps({"bench": f"groupby_{q}", "impl": "pandas", "threads": 1, "first": times[0], "best": min(times),
                      "rows": len(ans), "chk": chk}), flush=True)
print(json.dumps({"bench": "groupby_peak_memory", "impl": "pandas", "threads": 1,
                  "bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
