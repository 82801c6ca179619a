#!/usr/bin/env bash
# jobs/point_in_time.yaml as a single process and under mpirun -np 2: both succeed with the same
# outputs, weights and metrics; the training table is leakage-free (every joined event is at or
# before its label's time and at most 7 days older, and it is the user's latest such event, checked
# against `shardflow gen events` files with pandas); the model learns the label.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
# validate rejects a bad asof_join with the value's file:line:column, before any data is read.
expect_exit 2 30 pit.bad_direction 0 validate jobs/point_in_time.yaml --set workdir="$TMP/bad" \
  --set steps.0.direction=backwards
grep -qF "steps.0.direction must be one of backward, forward, nearest, got 'backwards'" \
  "$TMP/pit.bad_direction.err" || fail "no direction error"
sed 's/    right_time: ts$/    right_time: t/' jobs/point_in_time.yaml >"$TMP/bad.yaml"
expect_exit 2 30 pit.bad_column 0 validate "$TMP/bad.yaml" --set workdir="$TMP/bad"
grep -qF "$TMP/bad.yaml:29:17: step 1 (asof_join): right_time column 't' is not a column of table 'events'" \
  "$TMP/pit.bad_column.err" || { cat "$TMP/pit.bad_column.err" >&2; fail "no unknown-column error"; }
[ ! -e "$TMP/bad/data" ] || fail "validate generated data"
for np in 0 2; do
  expect_exit 0 120 "pit.np$np" "$np" run jobs/point_in_time.yaml --set "workdir=$TMP/np$np"
done
$PY tests/support/compare_runs.py "$TMP/np0" "$TMP/np2" --ordered test_set --across-ranks \
  || fail "single process and 2 ranks differ"
expect_exit 0 60 gen 0 gen events --rows 200000 --out "$TMP/gen" --seed 42
$PY - "$TMP/np0" "$TMP/gen" <<'PY' || fail "point-in-time correctness or model quality"
import json, sys
import h5py, numpy as np, pandas as pd
run, gen = sys.argv[1], sys.argv[2]
m = json.load(open(f"{run}/metrics.json"))["metrics"]
assert m["auc"] > 0.85, m
g = h5py.File(f"{run}/outputs/test_set.h5", "r")["test_set"]
t = pd.DataFrame({c: g[c][:] for c in ["label_id", "user_id", "label_ts", "event_id", "ts"]})
assert len(t) > 3000, len(t)
# Brute force from the generated files: the latest event of the user at or before label_ts.
ev = pd.read_csv(f"{gen}/events.csv", parse_dates=["ts"])
lb = pd.read_csv(f"{gen}/labels.csv", parse_dates=["label_ts"])
us = lambda s: (s.astype("int64") // (1000 if s.dtype == "datetime64[ns]" else 1)).to_numpy()
ev["t"], lb["t"] = us(ev["ts"]), us(lb["label_ts"])
want = {}
by_user = {u: (grp["t"].to_numpy(), grp["event_id"].to_numpy())
           for u, grp in ev.sort_values(["user_id", "t", "event_id"]).groupby("user_id")}
for lid, u, lt in zip(lb["label_id"], lb["user_id"], lb["t"]):
    times, ids = by_user.get(u, (np.array([], "int64"), np.array([], "int64")))
    i = np.searchsorted(times, lt, side="right") - 1
    want[lid] = int(ids[i]) if i >= 0 and lt - times[i] <= 7 * 86400 * 10**6 else None
for lid, eid, lt, et in zip(t["label_id"], t["event_id"], t["label_ts"], t["ts"]):
    assert et <= lt and lt - et <= 7 * 86400 * 10**6, (lid, eid, lt, et)
    assert want[lid] == eid, (lid, eid, want[lid])
assert sum(v is not None for v in want.values()) == json.load(open(f"{run}/metrics.json"))["tables"]["with_features"]
print("auc", m["auc"], "test rows", len(t))
PY
pass "point_in_time identical at 1 and 2 ranks, leakage-free, learnable"
