#!/usr/bin/env python3
"""pandas peer of benchmarks/join_comparisons.sh (same output as join_duckdb.mjs; one thread):
    python3 peers/join_pandas.py DIR [repeats]"""
import json
import os
import sys
import time

import pandas as pd

QUESTIONS = [("q1", "small", "id1", "inner"), ("q2", "medium", "id2", "inner"),
             ("q3", "medium", "id2", "left"), ("q4", "medium", "id5", "inner"),
             ("q5", "big", "id3", "inner")]
if len(sys.argv) < 2 or not all(os.path.exists(f"{sys.argv[1]}/{t}.csv") for t in ("x", "small", "medium", "big")):
    sys.exit("usage: join_pandas.py DIR [repeats]  (DIR: written by `shardflow gen join --rows N --out DIR`)")
d, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
t0 = time.perf_counter()
frames = {t: pd.read_csv(f"{d}/{t}.csv", engine="c") for t in ("x", "small", "medium", "big")}
print(json.dumps({"bench": "join_load", "impl": "pandas", "threads": 1, "seconds": time.perf_counter() - t0}))
for q, right, key, how in QUESTIONS:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        ans = frames["x"].merge(frames[right], on=key, how=how, suffixes=("", "_right"))
        times.append(time.perf_counter() - t)
    print(json.dumps({"bench": f"join_{q}", "impl": "pandas", "threads": 1, "first": times[0], "best": min(times),
                      "rows": len(ans), "sum_v1": float(ans["v1"].sum()), "sum_v2": float(ans["v2"].sum())}), flush=True)
