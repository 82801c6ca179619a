#!/usr/bin/env bash
# sort, dedup and union through `shardflow run` at 1 and 2 ranks: every output (CSV, written in
# global order) is byte-identical at both rank counts, a rerun at 2 ranks that reuses the 1-rank
# stage files (read back split differently) publishes the same bytes, and the CSVs are checked in
# Python: ranked.csv is in the sort order (desc, nulls last, NaN above every number, ties by the
# next keys, nulls last), top.csv is its head, latest.csv has one row per key. A group-by's
# output, sorted, no longer depends on the rank count either.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
$PY - <<'PY'
import random
random.seed(8)
users = ["ann", "bob", "cy", "dee", "", "zed"]
amounts = ["", "nan", "-0.0", "0.0", "inf", "-inf", "1.5", "2.25", "-3"]
def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r[h] for h in header) + "\n")
def rows(n, first):
    out = []
    for i in range(n):
        out.append({"id": str(random.randrange(40)), "user": random.choice(users),
                    "amount": random.choice(amounts) if random.random() < 0.5
                    else repr(round(random.uniform(-100, 100), 3)),
                    "ts": "2024-01-%02d 00:00:%02d" % (random.randrange(1, 28), random.randrange(60)),
                    "note": "n%d" % (first + i)})
    return out
write("events.csv", ["id", "user", "amount", "ts", "note"], rows(3000, 0))
write("more.csv", ["note", "ts", "amount", "user", "id"], rows(1500, 3000))
PY
cat > job.yaml <<YAML
name: sort_e2e
inputs:
  ev: {format: csv, path: $TMP/events.csv, schema: {id: int64, user: string, amount: float64, ts: timestamp, note: string}}
  more: {format: csv, path: $TMP/more.csv, schema: {note: string, ts: timestamp, amount: float64, user: string, id: int64}}
  g: {format: generate, kind: groupby, rows: 30000}
steps:
  - {op: union, inputs: [ev, more], output: all}
  - {op: dedup, input: all, keys: [user, id], keep: last, order_by: ts, output: latest}
  - {op: sort, input: latest, by: [{column: amount, desc: true, nulls: last}, user, id], output: ranked}
  - {op: sort, input: all, by: [{column: amount, desc: true}, user, id, ts, note], limit: 25, output: top}
  - {op: sort, input: g, by: [id4, {column: v3, desc: true}, id3], output: gs}
  - {op: dedup, input: g, keys: [id1], output: gfirst}
  - {op: group_by, input: g, keys: [id2, id4], aggs: {v3: [sum], "*": [count]}, output: groups}
  - {op: sort, input: groups, by: [id2, id4], output: sorted_groups}
outputs:
  - {table: all, path: all.csv, format: csv}
  - {table: latest, path: latest.csv, format: csv}
  - {table: ranked, path: ranked.csv, format: csv}
  - {table: top, path: top.csv, format: csv}
  - {table: gs, path: gs.csv, format: csv}
  - {table: gfirst, path: gfirst.csv, format: csv}
  - {table: sorted_groups, path: sorted_groups.csv, format: csv}
  - {table: ranked, path: ranked.h5}
runtime: {max_dictionary_size: 100, shuffle_round_bytes: 4096}
YAML
expect_exit 0 120 validate 0 validate job.yaml
for np in 0 2; do
  expect_exit 0 300 "run.np$np" "$np" run job.yaml --set "workdir=$TMP/np$np"
done
for f in all latest ranked top gs gfirst sorted_groups; do
  cmp "$TMP/np0/outputs/$f.csv" "$TMP/np2/outputs/$f.csv" || fail "$f.csv differs between 1 and 2 ranks"
done
$PY - "$TMP/np0/outputs/ranked.h5" "$TMP/np2/outputs/ranked.h5" <<'PY' || fail "ranked.h5 differs between 1 and 2 ranks"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["ranked"] for p in sys.argv[1:3])
assert sorted(a.keys()) == sorted(b.keys()), (list(a.keys()), list(b.keys()))
for name in a.keys():
    x, y = a[name][:], b[name][:]
    assert x.shape == y.shape, name
    if name + ".valid" in a:  # a null's value slot is unspecified
        valid = a[name + ".valid"][:].astype(bool)
        x, y = x[valid], y[valid]
    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
print("ranked.h5: datasets equal in order:", sorted(a.keys()))
PY
[ "$(wc -l < "$TMP/np0/outputs/all.csv")" = 4501 ] || fail "union lost or added rows"
head -3001 "$TMP/np0/outputs/all.csv" | tail -n +2 | cut -d, -f5 | sed 's/^n//' | sort -n -c \
  || fail "union: the first input's rows do not come first, in order"

# A rerun at 2 ranks in the 1-rank workdir reuses every stage (the stage files are read back at
# 2 ranks) and publishes the same bytes.
mkdir -p "$TMP/before" && cp "$TMP/np0/outputs/"*.csv "$TMP/before/"
expect_exit 0 300 rerun.np2 2 run job.yaml --set "workdir=$TMP/np0"
grep -q '"reused": true' "$TMP/np0/metrics.json" || fail "the rerun reused no stage"
for f in all latest ranked top gs gfirst sorted_groups; do
  cmp "$TMP/before/$f.csv" "$TMP/np0/outputs/$f.csv" || fail "$f.csv changed when reused at 2 ranks"
done

$PY - "$TMP/np0/outputs" <<'PY' || fail "order check"
import csv, math, sys
d = sys.argv[1]
def read(name):
    with open(f"{d}/{name}.csv") as f:
        return list(csv.DictReader(f))
def amount_key(a):  # desc, nulls last, NaN above every number, -0.0 == 0.0
    if a == "":
        return (2, 0.0)
    v = float(a)
    return (0, 0.0) if math.isnan(v) else (1, -v)
def user_key(u):  # asc, nulls last (an empty CSV field is null)
    return (1, b"") if u == "" else (0, u.encode())
def key(r):
    return (amount_key(r["amount"]), user_key(r["user"]), int(r["id"]))
ranked = read("ranked")
assert len(ranked) > 50, len(ranked)
assert [key(r) for r in ranked] == sorted(key(r) for r in ranked), "ranked.csv is not in order"
latest = read("latest")
assert len({(r["user"], r["id"]) for r in latest}) == len(latest) == len(ranked), "dedup keys"
alls = read("all")
full = sorted(alls, key=lambda r: (key(r), r["ts"], r["note"].encode()))
top = read("top")
assert [key(r) for r in top] == [key(r) for r in full[:25]], "top.csv is not the head"
print("ranked", len(ranked), "rows in order; top 25 is the head of", len(alls))
PY
# Types only known after reading (CSV without schema) that differ: one clear message, exit 2.
printf 'x,y\n1,a\n' > a.csv
printf 'y,x\nb,1.5\n' > b.csv
cat > mismatch.yaml <<YAML
name: mismatch
inputs:
  a: {format: csv, path: $TMP/a.csv}
  b: {format: csv, path: $TMP/b.csv}
steps:
  - {op: union, inputs: [a, b], output: u}
YAML
expect_exit 0 60 mismatch.validate 0 validate mismatch.yaml
expect_exit 2 120 mismatch.np2 2 run mismatch.yaml --set "workdir=$TMP/mismatch"
[ "$(count_lines "column 'x' is int64 in input 1 but float64 in input 2" "$TMP/mismatch.np2.err")" = 1 ] \
  || { cat "$TMP/mismatch.np2.err" >&2; fail "the type mismatch is not reported exactly once"; }
grep -q "mismatch.yaml:6:25: step 1 (union)" "$TMP/mismatch.np2.err" || fail "no location"
! grep -q "MPI_ABORT" "$TMP/mismatch.np2.err" || fail "MPI_ABORT shown to the user"

pass "sort, dedup and union: identical at 1 and 2 ranks and in order"
