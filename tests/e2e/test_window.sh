#!/usr/bin/env bash
# op: window through a job (issue 9): trailing range and rows frames (exclude current), a
# cumulative frame, lag/lead, row_number/rank/dense_rank, a holistic aggregate, and tumbling
# buckets, run as one process and at 2 ranks: the written CSVs must be byte-identical, and the
# leakage-free 7-day sum, the 7-day count, the cumulative count, lag, lead and the ranks must
# equal a Python reference (math.fsum: the correctly rounded sum, which the exact sums give).
# validate rejects bad features with their file:line:column.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
$PY - "$TMP" <<'PY'
import random, sys
rng = random.Random(5)
with open(f"{sys.argv[1]}/events.csv", "w") as f:
    f.write("user_id,ts,amount,country\n")
    for i in range(600):
        u = "" if rng.random() < 0.05 else str(rng.randrange(12))
        ts = "" if rng.random() < 0.05 else \
            f"2024-01-{rng.randrange(1, 29):02d} {rng.randrange(0, 24, 6):02d}:00:00"
        a = "" if rng.random() < 0.1 else repr(rng.uniform(-100, 100) * 10 ** rng.randrange(-2, 3))
        f.write(f"{u},{ts},{a},{rng.choice(['DE', 'FR', 'US'])}\n")
PY
cat > job.yaml <<YAML
name: window
workdir: $TMP/w
inputs:
  events: {format: csv, path: $TMP/events.csv,
           schema: {user_id: int64, ts: timestamp, amount: float64, country: string}}
steps:
  - {op: window, input: events, partition_by: [user_id], order_by: ts,
     features: {amount_7d: "sum(amount) over range 7d preceding exclude current",
                n_7d: "count(*) over range 7d preceding", prev_amount: "lag(amount, 1)",
                rank: "row_number()", peer_rank: "rank()", dense: "dense_rank()",
                med_3: "median(amount) over rows 3 preceding",
                max_2d: "MAX(amount) over range 2d preceding",
                next_country: "lead(country, 1, 'none')", user_mean: "mean(amount)",
                n_before: "count(*) over rows unbounded preceding exclude current"},
     output: feats}
  - {op: window, input: events, partition_by: [country], order_by: ts, bucket: 1d,
     features: {n: "count(*)", total: "sum(amount)", p90: "quantile(amount, 0.9)"},
     output: daily}
outputs:
  - {table: feats, path: feats.csv}
  - {table: daily, path: daily.csv}
YAML
expect_exit 0 60 validate 0 validate job.yaml
grep -qF "feats from step 1 (window): user_id:int64, ts:timestamp, amount:float64, country:string, amount_7d:float64, n_7d:int64, prev_amount:float64, rank:int64, peer_rank:int64, dense:int64, med_3:float64, max_2d:float64, next_country:string, user_mean:float64, n_before:int64" validate.out \
  || { cat validate.out; fail "validate shows the window's shape"; }
grep -qF "daily from step 2 (window): country:string, ts_bucket:timestamp, n:int64, total:float64, p90:float64" validate.out \
  || { cat validate.out; fail "validate shows the bucket shape"; }
for np in 0 2; do
  expect_exit 0 120 "run.$np" "$np" run job.yaml --no-cache --set "workdir=$TMP/w$np"
done
cmp w0/outputs/feats.csv w2/outputs/feats.csv || fail "feats.csv differs between 1 and 2 ranks"
cmp w0/outputs/daily.csv w2/outputs/daily.csv || fail "daily.csv differs between 1 and 2 ranks"
$PY - events.csv w0/outputs/feats.csv w0/outputs/daily.csv <<'PY' || fail "window features differ from the reference"
import calendar, csv, math, sys
from datetime import datetime
src = list(csv.DictReader(open(sys.argv[1])))
out = list(csv.DictReader(open(sys.argv[2])))
assert len(src) == len(out), (len(src), len(out))
def t(s):
    return None if s == "" else calendar.timegm(datetime.strptime(s, "%Y-%m-%d %H:%M:%S").timetuple())
parts = {}
for i, r in enumerate(src):
    parts.setdefault(r["user_id"], []).append(i)
def key(i):
    v = t(src[i]["ts"])
    return (0, 0, i) if v is None else (1, v, i)
for rows in parts.values():
    rows.sort(key=key)
    for pos, i in enumerate(rows):
        ti = t(src[i]["ts"])
        o = out[i]
        for c in src[i]:
            assert o[c] == src[i][c], (i, c)
        if ti is None:
            frame = [j for j in rows if t(src[j]["ts"]) is None]
        else:
            frame = [j for j in rows if t(src[j]["ts"]) is not None and ti - 7 * 86400 <= t(src[j]["ts"]) <= ti]
        assert int(o["n_7d"]) == len(frame), (i, o["n_7d"], len(frame))
        vals = [float(src[j]["amount"]) for j in frame if j != i and src[j]["amount"] != ""]
        if vals:
            assert float(o["amount_7d"]) == math.fsum(vals), (i, o["amount_7d"], math.fsum(vals))
        else:
            assert o["amount_7d"] == "", (i, o["amount_7d"])
        prev = src[rows[pos - 1]]["amount"] if pos > 0 else ""
        assert o["prev_amount"] == "" if prev == "" else float(o["prev_amount"]) == float(prev), (i, o["prev_amount"], prev)
        assert int(o["rank"]) == pos + 1
        assert int(o["n_before"]) == pos
        peers_before = sum(1 for j in rows if key(j)[:2] < key(i)[:2])
        assert int(o["peer_rank"]) == peers_before + 1, (i, o["peer_rank"], peers_before)
        nxt = src[rows[pos + 1]]["country"] if pos + 1 < len(rows) else "none"
        assert o["next_country"] == nxt
daily = list(csv.DictReader(open(sys.argv[3])))
want = {}
for r in src:
    d = "" if r["ts"] == "" else r["ts"][:10] + " 00:00:00"
    want.setdefault((r["country"], d), []).append(r["amount"])
got = {(r["country"], r["ts_bucket"]): r for r in daily}
assert set(got) == set(want), sorted(set(got) ^ set(want))
for k, amounts in want.items():
    assert int(got[k]["n"]) == len(amounts)
    vals = [float(a) for a in amounts if a != ""]
    assert (got[k]["total"] == "") if not vals else float(got[k]["total"]) == math.fsum(vals), k
assert [(r["country"], r["ts_bucket"]) for r in daily] == sorted(got, key=lambda k: (k[0], k[1] != "", k[1]))
print("window reference: ok")
PY

# validate rejects bad features at their file:line:column, before any data is read.
printf "user_id,ts,amount,country\n" > none.csv
bad() {  # bad NAME FEATURE EXPECTED [ORDER_BY]
  local name="$1" feature="$2" expected="$3" order="${4:-ts}"
  cat > "$name.yaml" <<YAML
name: bad
workdir: $TMP/wb
inputs:
  events: {format: csv, path: $TMP/none.csv,
           schema: {user_id: int64, ts: timestamp, amount: float64, country: string}}
steps:
  - op: window
    input: events
    partition_by: [user_id]
    order_by: $order
    features:
      f: "$feature"
    output: feats
YAML
  expect_exit 2 60 "$name" 0 validate "$name.yaml"
  grep -qF -- "$name.yaml:12:10: " "$TMP/$name.err" && grep -qF -- "$expected" "$TMP/$name.err" \
    || { cat "$TMP/$name.err"; fail "$name: expected '$name.yaml:12:10: ... $expected'"; }
}
bad unknown_fn "summ(amount) over rows 2 preceding" "unknown window function 'summ'; did you mean 'sum'?"
bad unknown_col "sum(amout) over rows 2 preceding" "f: column 'amout' is not a column of table 'events'; did you mean 'amount'?"
bad sum_string "sum(country) over rows 2 preceding" "country"
bad range_string "count(*) over range 3 preceding" "needs order_by 'country' to be a number or a timestamp" country
bad bad_duration "count(*) over range 7x preceding" "expected the range offset"
bad number_on_ts "count(*) over range 7 preceding" "is a plain number but order_by 'ts' is a timestamp"
bad negative_lag "lag(amount, -1)" "lag offset must be >= 0"
bad no_order "rank()" "rank() needs order_by" "null"
bad bad_frame "sum(amount) over rows 2 following" "expected 'preceding'"
bad lag_default "lag(amount, 1, 'x')" "does not fit column 'amount'"
pass "window"
