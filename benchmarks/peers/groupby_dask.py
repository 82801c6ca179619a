#!/usr/bin/env python3
"""Dask peer of benchmarks/groupby_comparisons.sh (same output as groupby_duckdb.mjs):
    python3 peers/groupby_dask.py FILE.csv [repeats] [workers]
A local cluster of `workers` (default 2) single-threaded worker processes (dask.distributed); the
CSV is read into the workers' memory (persist, timed apart: groupby_load) and each question is
computed into a pandas DataFrame in this process, as db-benchmark's dask/groupby-dask.py does
(id1-id3 categorical; the many-group questions q3, q5, q7, q10 with split_out; q6 with a
shuffle-based aggregation, which median needs), except q8 and q9, written as reductions (see
there) because db-benchmark's groupby.apply takes minutes per run from 1e7 rows on. Peak
memory: the sum of the peaks of this process and of every worker process."""
import json
import logging
import math
import os
import resource
import sys
import time
import warnings

import dask.dataframe as dd
import numpy as np
from dask.distributed import Client, LocalCluster

QUESTIONS = [("q1", ["v1"]), ("q2", ["v1"]), ("q3", ["v1", "v3"]), ("q4", ["v1", "v2", "v3"]),
             ("q5", ["v1", "v2", "v3"]), ("q6", ["median_v3", "sd_v3"]), ("q7", ["range_v1_v2"]),
             ("q8", ["largest2_v3"]), ("q9", ["r2"]), ("q10", ["v3", "count"])]
DTYPES = {"id1": "category", "id2": "category", "id3": "category", "id4": "int64", "id5": "int64",
          "id6": "int64", "v1": "int64", "v2": "int64", "v3": "float64"}
KEYS6 = ["id1", "id2", "id3", "id4", "id5", "id6"]


def group(x, keys):
    return x.groupby(keys, dropna=False, observed=True)


def q6(x):
    # dask computes median only by gathering each group whole (a shuffle), as db-benchmark's does.
    ans = group(x, ["id4", "id5"]).agg({"v3": ["median", "std"]}, shuffle="tasks").compute()
    ans.columns = ["median_v3", "sd_v3"]
    return ans.reset_index()


def q7(x):
    ans = group(x, "id3").agg({"v1": "max", "v2": "min"}, split_out=x.npartitions).compute()
    return ans.assign(range_v1_v2=ans["v1"] - ans["v2"])[["range_v1_v2"]].reset_index()


def q8(x):
    # A two-level reduction: each partition's largest two per group, then the largest two of those.
    # (db-benchmark's groupby("id6").apply(nlargest) shuffles every row into pandas groups and takes
    # about 15 s at 1e6 rows here, far more at 1e7-1e8.)
    top2 = lambda d: d.sort_values("v3", ascending=False).groupby("id6", sort=False).head(2)
    parts = x[~x["v3"].isna()][["id6", "v3"]].map_partitions(top2, meta={"id6": "int64", "v3": "float64"}).compute()
    return top2(parts).rename(columns={"v3": "largest2_v3"}).reset_index(drop=True)


def q9(x):
    # corr from per-group sums (v1 and v2 are integers, so the sums are exact in float64); the
    # groupby.apply(corr) of db-benchmark takes about 10 s at 1e6 rows here.
    m = x[["id2", "id4", "v1", "v2"]].assign(v11=x["v1"] * x["v1"], v22=x["v2"] * x["v2"], v12=x["v1"] * x["v2"])
    s = group(m, ["id2", "id4"]).agg({"v1": ["count", "sum"], "v2": "sum", "v11": "sum", "v22": "sum", "v12": "sum"}).compute()
    n, s1, s2 = s[("v1", "count")].astype("float64"), s[("v1", "sum")].astype("float64"), s[("v2", "sum")].astype("float64")
    cov = n * s[("v12", "sum")] - s1 * s2
    var1, var2 = n * s[("v11", "sum")] - s1 * s1, n * s[("v22", "sum")] - s2 * s2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = (cov * cov) / (var1 * var2)  # NaN for a constant column, as corr
    return r2.rename("r2").reset_index()


QUERY = {
    "q1": lambda x: group(x, "id1").agg({"v1": "sum"}).compute(),
    "q2": lambda x: group(x, ["id1", "id2"]).agg({"v1": "sum"}).compute(),
    "q3": lambda x: group(x, "id3").agg({"v1": "sum", "v3": "mean"}, split_out=x.npartitions).compute(),
    "q4": lambda x: group(x, "id4").agg({"v1": "mean", "v2": "mean", "v3": "mean"}).compute(),
    "q5": lambda x: group(x, "id6").agg({"v1": "sum", "v2": "sum", "v3": "sum"}, split_out=x.npartitions).compute(),
    "q6": q6,
    "q7": q7,
    "q8": q8,
    "q9": q9,
    "q10": lambda x: group(x, KEYS6).agg({"v3": "sum", "v1": "size"}, split_out=x.npartitions).compute().rename(columns={"v1": "count"}),
}


def json_number(v):
    """NaN and infinities as strings (as groupby_common.mjs's jsonNumber); None for a missing value."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else str(v).replace("nan", "NaN").replace("inf", "Infinity")


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    if len(sys.argv) < 2 or not os.path.exists(sys.argv[1]):
        sys.exit("usage: groupby_dask.py FILE.csv [repeats] [workers]  (FILE: written by `shardflow gen groupby --rows N --out FILE`)")
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    warnings.filterwarnings("ignore")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    t0 = time.perf_counter()
    x = dd.read_csv(path, dtype=DTYPES, blocksize="64MB").persist()
    rows = len(x)  # waits for the persist
    print(json.dumps({"bench": "groupby_load", "impl": "dask", "threads": workers, "seconds": time.perf_counter() - t0,
                      "rows": rows}), flush=True)
    for q, chk_columns in QUESTIONS:
        times = []
        for _ in range(repeats):
            ans = None
            t = time.perf_counter()
            ans = QUERY[q](x)
            times.append(time.perf_counter() - t)
        # As in groupby_pandas.py: NaN is "missing" except in r2.
        chk = {c: json_number(ans[c].sum(skipna=c != "r2")) for c in chk_columns}
        print(json.dumps({"bench": f"groupby_{q}", "impl": "dask", "threads": workers, "first": times[0], "best": min(times),
                          "rows": len(ans), "chk": chk}), flush=True)
    worker_peaks = client.run(peak_rss)
    print(json.dumps({"bench": "groupby_peak_memory", "impl": "dask", "threads": workers,
                      "bytes": peak_rss() + sum(worker_peaks.values())}), flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
