#!/usr/bin/env bash
# The join step end to end: `shardflow gen join` writes the db-benchmark join tables (identical
# at 1 and 2 ranks), a job joins them with every `how` and both strategies at 1 and 2 ranks (same
# rows at both, row counts and value sums equal to a Python reference), and `shardflow validate`
# rejects bad join steps with file:line:column before reading any data.
source "$(dirname "$0")/lib.sh"

# ---- gen join -------------------------------------------------------------------------------
sf 0 gen join --rows 1e4 --out "$TMP/d1" 2>/dev/null
sf 2 gen join --rows 1e4 --out "$TMP/d2" 2>/dev/null
for t in x small medium big; do
  cmp -s "$TMP/d1/$t.csv" "$TMP/d2/$t.csv" || fail "gen join: $t.csv differs between 1 and 2 ranks"
done
[ "$(head -1 "$TMP/d1/x.csv")" = "id1,id2,id3,id4,id5,id6,v1" ] || fail "x.csv header"
[ "$(head -1 "$TMP/d1/big.csv")" = "id1,id2,id3,id4,id5,id6,v2" ] || fail "big.csv header"
[ "$(wc -l < "$TMP/d1/x.csv")" = 10001 ] || fail "x.csv rows"
[ "$(wc -l < "$TMP/d1/medium.csv")" = 11 ] || fail "medium.csv rows"
[ "$(wc -l < "$TMP/d1/small.csv")" = 2 ] || fail "small.csv rows"
$PY - "$TMP/d1" <<'PY' || fail "gen join: key shapes"
import csv, sys
d = sys.argv[1]
x = list(csv.DictReader(open(f"{d}/x.csv")))
big = list(csv.DictReader(open(f"{d}/big.csv")))
med = list(csv.DictReader(open(f"{d}/medium.csv")))
assert len({r["id3"] for r in x}) == len(x), "x.id3 is a permutation"
assert len({r["id3"] for r in big}) == len(big), "big.id3 is a permutation"
keys = {r["id3"] for r in big}
share = sum(r["id3"] in keys for r in x) / len(x)
assert abs(share - 0.9) < 0.01, share
assert all(r["id4"] == "id" + r["id1"] and r["id6"] == "id" + r["id3"] for r in x)
assert all(r["id5"] == "id" + r["id2"] for r in med)
PY
pass "gen join"

# ---- a job with joins at 1 and 2 ranks --------------------------------------------------------
job() {  # job NAME WORKDIR
  cat <<YAML
name: $1
workdir: $2
inputs:
  x: {format: csv, path: $TMP/d1/x.csv, schema: {id1: int64, id2: int64, id3: int64, id4: string, id5: string, id6: string, v1: float64}}
  small: {format: csv, path: $TMP/d1/small.csv, schema: {id1: int32, id4: string, v2: float64}}
  medium: {format: csv, path: $TMP/d1/medium.csv}
  big: {format: csv, path: $TMP/d1/big.csv, schema: {id1: int64, id2: int64, id3: int64, id4: string, id5: string, id6: string, v2: float64}}
steps:
  - {op: join, left: x, right: small, on: [id1], output: q1}
  - {op: join, left: x, right: medium, on: {left: [id5], right: [id5]}, how: left, output: q3}
  - {op: join, left: x, right: big, on: [id3], strategy: shuffle, output: q5}
  - {op: join, left: medium, right: x, on: [id2, id5], how: full, suffix: _x, output: full}
  - {op: join, left: x, right: big, on: [id6], how: anti, strategy: broadcast, output: anti}
  - {op: join, left: big, right: medium, on: [id2], how: semi, output: semi}
  - {op: join, left: medium, right: big, on: [id4], how: right, strategy: shuffle, output: right}
outputs:
$(for t in q1 q3 q5 full anti semi right; do echo "  - {table: $t, path: $t.csv}"; done)
YAML
}
job joins "$TMP/w1" > "$TMP/j1.yaml"
job joins "$TMP/w2" > "$TMP/j2.yaml"
expect_exit 0 120 validate 0 validate "$TMP/j1.yaml"
grep -q "table q1 from step 1 (join): id1:int64, id2:int64, id3:int64, id4:string, id5:string, id6:string, v1:float64, id4_right:string, v2:float64" \
  "$TMP/validate.out" || { cat "$TMP/validate.out"; fail "q1 shape"; }
expect_exit 0 300 run1 0 run "$TMP/j1.yaml"
expect_exit 0 300 run2 2 run "$TMP/j2.yaml"
grep -q "join (inner, shuffle): rows joined per rank \[[0-9]*, [0-9]*\]" "$TMP/run2.err" \
  || { cat "$TMP/run2.err"; fail "per-rank rows not logged"; }
grep -q "join (inner, right broadcast): rows joined per rank" "$TMP/run2.err" \
  || { cat "$TMP/run2.err"; fail "q1 (small right side, strategy auto) was not broadcast"; }
# runtime.broadcast_max_bytes reaches the step: with 1 byte, strategy auto shuffles every join
# (only the anti join, which says strategy: broadcast, still broadcasts).
job joins "$TMP/w3" > "$TMP/j3.yaml"
expect_exit 0 300 run3 2 run "$TMP/j3.yaml" --set runtime.broadcast_max_bytes=1
[ "$(count_lines " broadcast)" "$TMP/run3.err")" = 1 ] || { cat "$TMP/run3.err"; fail "broadcast_max_bytes=1 still broadcast"; }
grep -q "join (anti, right broadcast)" "$TMP/run3.err" || fail "strategy: broadcast not kept"
[ "$(count_lines "join (inner, shuffle" "$TMP/run3.err")" = 2 ] || fail "q1 and q5 not shuffled"
for t in q1 q3 q5 full anti semi right; do
  a=$(sort "$TMP/w1/outputs/$t.csv" | md5sum); b=$(sort "$TMP/w2/outputs/$t.csv" | md5sum)
  c=$(sort "$TMP/w3/outputs/$t.csv" | md5sum)
  [ "$a" = "$b" ] || fail "$t differs between 1 and 2 ranks"
  [ "$a" = "$c" ] || fail "$t differs between broadcast and shuffle"
done
$PY - "$TMP/d1" "$TMP/w2/outputs" <<'PY' || fail "join results differ from the reference"
import csv, sys
from collections import Counter
d, out = sys.argv[1], sys.argv[2]
load = lambda p: list(csv.DictReader(open(p)))
x, small, medium, big = (load(f"{d}/{t}.csv") for t in ("x", "small", "medium", "big"))
def count(rows, *keys):
    return Counter(tuple(r[k] for k in keys) for r in rows)
def check(name, rows, total_v=None, col=None):
    got = load(f"{out}/{name}.csv")
    assert len(got) == rows, (name, len(got), rows)
    if col:
        s = sum(float(r[col]) for r in got if r[col] != "")
        assert abs(s - total_v) < 1e-6 * max(1.0, abs(total_v)), (name, s, total_v)
cs = count(small, "id1")
check("q1", sum(cs[(r["id1"],)] for r in x),
      sum(float(r["v1"]) * cs[(r["id1"],)] for r in x), "v1")
cm = count(medium, "id5")
check("q3", sum(max(1, cm[(r["id5"],)]) for r in x),
      sum(float(r["v1"]) * max(1, cm[(r["id5"],)]) for r in x), "v1")
cb = count(big, "id3")
check("q5", sum(cb[(r["id3"],)] for r in x))
cx = count(x, "id2", "id5")
cmm = count(medium, "id2", "id5")
full = sum(max(1, cx[(r["id2"], r["id5"])]) for r in medium) + \
       sum(1 for r in x if cmm[(r["id2"], r["id5"])] == 0)
check("full", full)
b6 = {r["id6"] for r in big}
check("anti", sum(1 for r in x if r["id6"] not in b6))
m2 = {r["id2"] for r in medium}
check("semi", sum(1 for r in big if r["id2"] in m2))
cm4 = count(medium, "id4")
check("right", sum(max(1, cm4[(r["id4"],)]) for r in big))
PY
pass "joins at 1 and 2 ranks match the reference"

# ---- validate rejects bad join steps with file:line:column -------------------------------------
head -8 "$TMP/j1.yaml" | sed "s|$TMP/w1|$TMP/wbad|" > "$TMP/base.yaml"
bad() {  # bad NAME STEP-LINE EXPECTED-LOCATION-AND-MESSAGE (a grep -F pattern)
  { cat "$TMP/base.yaml"; echo "$2"; } > "$TMP/$1.yaml"
  expect_exit 2 60 "$1" 0 validate "$TMP/$1.yaml"
  grep -qF -- "$1.yaml:$3" "$TMP/$1.err" || { cat "$TMP/$1.err"; fail "$1: expected '$3'"; }
}
bad unknown_column '  - {op: join, left: x, right: small, on: [id9], output: q1}' \
  "9:43: step 1 (join): left key 'id9' is not a column of table 'x'; did you mean 'id1'?"
bad unknown_right '  - {op: join, left: x, right: small, on: {left: [id1], right: [v1]}, output: q1}' \
  "9:43: step 1 (join): right key 'v1' is not a column of table 'small'; did you mean 'v2'?"
bad key_count '  - {op: join, left: x, right: small, on: {left: [id1, id2], right: [id1]}, output: q1}' \
  "9:43: steps.0.on has 2 left key(s) (id1, id2) but 1 right key(s) (id1); give one right key per left key"
bad key_types '  - {op: join, left: x, right: small, on: {left: [id1], right: [id4]}, output: q1}' \
  "9:43: step 1 (join): join key 'id1' is int64 in table 'x' but 'id4' is string in table 'small'; these types cannot be compared"
bad how '  - {op: join, left: x, right: small, on: [id1], how: outer, output: q1}' \
  "9:55: steps.0.how must be one of inner, left, right, full, semi, anti, got 'outer'"
bad strategy '  - {op: join, left: x, right: small, on: [id1], strategy: broadcats, output: q1}' \
  "9:60: steps.0.strategy must be one of auto, shuffle, broadcast, got 'broadcats'; did you mean 'broadcast'?"
bad suffix_key '  - {op: join, left: x, right: small, on: [id1], sufix: _s, output: q1}' \
  "9:50: unknown key 'sufix' in steps.0 (a join step); did you mean 'suffix'?"
{ cat "$TMP/base.yaml"
  echo '  - {op: join, left: x, right: small, on: [id1], output: q1}'
  echo '  - {op: join, left: q1, right: small, on: [id1], suffix: _right, output: q2}'; } > "$TMP/taken.yaml"
expect_exit 2 60 taken 0 validate "$TMP/taken.yaml"
grep -qF "taken.yaml:10:59: step 2 (join): right column 'id4' collides with a left column, and 'id4_right' (with the suffix '_right') is taken too; choose another suffix" \
  "$TMP/taken.err" || { cat "$TMP/taken.err"; fail "taken suffix"; }
pass "validate rejects bad join steps"

# ---- key types known only at run time (CSV without a schema) ------------------------------------
# validate cannot know them; at 3 ranks the mismatch must still end the job with exit 2 and one
# message with the step's location, not an MPI_Abort on every rank.
printf 'k,v\n1,a\n2,b\n,c\n' > "$TMP/ints.csv"
printf 'k,w\n1.5,x\n2,y\n' > "$TMP/floats.csv"
cat > "$TMP/late.yaml" <<YAML
name: late
workdir: $TMP/wlate
inputs:
  a: {format: csv, path: $TMP/ints.csv}
  b: {format: csv, path: $TMP/floats.csv}
steps:
  - {op: join, left: a, right: b, on: [k], output: j}
outputs:
  - {table: j, path: j.csv}
YAML
expect_exit 0 60 late_validate 0 validate "$TMP/late.yaml"
expect_exit 2 60 late 3 run "$TMP/late.yaml"
grep -qF "late.yaml:7:39: step 1 (join): join key 'k' is int64 on the left but 'k' is float64 on the right" "$TMP/late.err" \
  || { cat "$TMP/late.err"; fail "late key types: message"; }
[ "$(count_lines "shardflow: configuration error:" "$TMP/late.err")" = 1 ] || { cat "$TMP/late.err"; fail "late key types: not exactly one message"; }
if grep -q "MPI_ABORT" "$TMP/late.err"; then fail "late key types: the job ended through MPI_Abort"; fi
pass "key types that differ only at run time end the job with one message (exit 2)"
