#!/usr/bin/env bash
# The aggregate registry through a job (issue 9): variances and standard deviations (sample and
# population), any/all, beside sum/count/mean/min/max, in the list form (aggs: {v: [var_samp]})
# and the named form (aggs: {sd: "stddev(v)"}), with nulls, a group of one row, a group of only
# nulls and a group far from zero (1e9 + small: the textbook formula in doubles fails there).
# An expression over aggregates (max(v) - min(v)), median and count_distinct beside them.
# Run as one process and at 2 and 3 ranks: every variance must be the correctly rounded exact
# value (Python Fractions), every standard deviation its square root, and all runs identical.
source "$(dirname "$0")/lib.sh"
$PY - "$TMP" <<'PY'
import random, sys
tmp = sys.argv[1]
rng = random.Random(11)
rows = []
for g in range(40):
    n = 1 if g == 0 else rng.randrange(2, 60)
    offset = 1e9 if g % 5 == 1 else 0.0
    for _ in range(n):
        if g == 2 or rng.random() < 0.1:
            v = ""  # null
        else:
            v = repr(offset + rng.uniform(-50, 50) * (10.0 ** rng.randrange(-3, 3)))
        b = "" if rng.random() < 0.1 else rng.choice(["true", "false"]) if g % 3 else "true"
        rows.append((f"k{g}", v, b))
rng.shuffle(rows)
with open(f"{tmp}/t.csv", "w") as f:
    f.write("k,v,b\n")
    for r in rows:
        f.write(",".join(r) + "\n")
PY
cat > "$TMP/job.yaml" <<YAML
name: group_by_functions
workdir: $TMP/w
inputs:
  t: {format: csv, path: $TMP/t.csv, schema: {k: string, v: float64, b: bool}}
steps:
  - op: group_by
    input: t
    keys: [k]
    aggs: {v: [var_samp, var_pop, count], sd: "stddev(v)", sd_pop: "STDDEV_POP(v)",
           any_b: "any(b)", all_b: "bool_and(b)", n: "count(*)", spread: "max(v) - MIN(v)",
           med: "median(v)", distinct_b: "count_distinct(b)"}
    output: stats
  - {op: group_by, input: t, keys: [k], aggs: {top2: "top_k(v, 2)"}, output: top}
outputs:
  - {table: stats, path: stats.csv}
  - {table: top, path: top.csv}
YAML
expect_exit 0 60 validate 0 validate "$TMP/job.yaml"
runs=()
for np in 0 2 3; do
  expect_exit 0 120 "run.$np" "$np" run "$TMP/job.yaml" --no-cache --set "workdir=$TMP/w$np"
  sort "$TMP/w$np/outputs/stats.csv" > "$TMP/stats.$np"
  runs+=("$TMP/stats.$np")
  sort "$TMP/w$np/outputs/top.csv" > "$TMP/top.$np"
done
head -1 "$TMP/w0/outputs/stats.csv" | grep -qx "k,v_var_samp,v_var_pop,v_count,sd,sd_pop,any_b,all_b,n,spread,med,distinct_b" ||
  fail "unexpected header: $(head -1 "$TMP/w0/outputs/stats.csv")"
$PY - "$TMP/t.csv" "${runs[@]}" <<'PY' || fail "aggregates differ from the exact reference"
import csv, math, sys
from fractions import Fraction
groups = {}
for row in csv.DictReader(open(sys.argv[1])):
    g = groups.setdefault(row["k"], {"v": [], "b": [], "rows": 0})
    g["rows"] += 1
    if row["v"] != "":
        g["v"].append(float(row["v"]))
    if row["b"] != "":
        g["b"].append(row["b"] == "true")
def variance(v, sample):
    n = len(v)
    if n < (2 if sample else 1):
        return None
    xs = [Fraction(x) for x in v]
    d = n * sum(x * x for x in xs) - sum(xs) ** 2
    return float(d / (n * (n - 1) if sample else n * n))
def same(got, want):
    if want is None:
        return got == ""
    if isinstance(want, bool):
        return got == ("true" if want else "false")
    return got != "" and float(got).hex() == float(want).hex()
bad = 0
cols = ["k", "v_var_samp", "v_var_pop", "v_count", "sd", "sd_pop", "any_b", "all_b", "n",
        "spread", "med", "distinct_b"]
def median(v):
    if not v:
        return None
    s = sorted(v)
    m = len(s) // 2
    return s[m] if len(s) % 2 else float((Fraction(s[m - 1]) + Fraction(s[m])) / 2)
for path in sys.argv[2:]:
    seen = set()
    for line in open(path):
        if line.startswith("k,"):
            continue
        got = dict(zip(cols, line.rstrip("\n").split(",")))
        g = groups[got["k"]]
        seen.add(got["k"])
        vs, vp = variance(g["v"], True), variance(g["v"], False)
        want = {
            "v_var_samp": vs, "v_var_pop": vp, "v_count": len(g["v"]),
            "sd": None if vs is None else math.sqrt(vs),
            "sd_pop": None if vp is None else math.sqrt(vp),
            "any_b": any(g["b"]) if g["b"] else None, "all_b": all(g["b"]) if g["b"] else None,
            "n": g["rows"],
            "spread": (max(g["v"]) - min(g["v"])) if g["v"] else None,
            "med": median(g["v"]),
            "distinct_b": len(set(g["b"])),
        }
        for c, w in want.items():
            ok = same(got[c], w) if not isinstance(w, int) or isinstance(w, bool) else got[c] == str(w)
            if not ok:
                bad += 1
                print(f"{path}: {c} of {got['k']}: got {got[c]!r}, want {w!r}")
    if seen != set(groups):
        bad += 1
        print(f"{path}: groups missing: {sorted(set(groups) - seen)}")
print(f"{len(sys.argv) - 2} runs x {len(groups)} groups checked, {bad} wrong")
sys.exit(1 if bad else 0)
PY
# top_k: the two greatest non-null values of each group, one row each; none for a group of nulls.
$PY - "$TMP/t.csv" "$TMP/top.0" <<'PY' || fail "top_k differs from the reference"
import csv, sys
want = {}
for row in csv.DictReader(open(sys.argv[1])):
    if row["v"] != "":
        want.setdefault(row["k"], []).append(float(row["v"]))
expected = sorted(f"{k},{v!r}" for k, vs in want.items() for v in sorted(vs, reverse=True)[:2])
got = sorted(line.strip() for line in open(sys.argv[2]) if not line.startswith("k,"))
got = sorted(f"{k},{float(v)!r}" for k, v in (g.split(",") for g in got))
if got != expected:
    print("got", got[:6], "want", expected[:6])
    sys.exit(1)
print(f"top_k: {len(got)} rows as expected")
PY
for np in 2 3; do
  cmp "$TMP/top.0" "$TMP/top.$np" || fail "top_k at $np ranks differs from one process"
done
for r in "${runs[@]:1}"; do
  cmp "${runs[0]}" "$r" || fail "$(basename "$r") differs from $(basename "${runs[0]}")"
done
# validate names an unknown function and a type the function does not take, with the YAML line.
sed 's/"stddev(v)"/"stdev(v)"/' "$TMP/job.yaml" > "$TMP/bad1.yaml"
expect_exit 2 60 bad1 0 validate "$TMP/bad1.yaml"
grep -q "bad1.yaml:9:.*unknown aggregate function 'stdev'; did you mean 'stddev'?" "$TMP/bad1.err" ||
  fail "bad1: $(cat "$TMP/bad1.err")"
sed 's/"any(b)"/"any(v)"/' "$TMP/job.yaml" > "$TMP/bad2.yaml"
expect_exit 2 60 bad2 0 validate "$TMP/bad2.yaml"
grep -q "bad2.yaml:10:12: .*cannot compute any of float64 column 'v'; any needs a bool column" "$TMP/bad2.err" ||
  fail "bad2: $(cat "$TMP/bad2.err")"
pass "variances, standard deviations, any/all exact and identical at 1-3 ranks, list and named forms"
