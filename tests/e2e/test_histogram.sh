#!/usr/bin/env bash
# The histogram aggregate through a job (issue 9): histogram(v, n) (equal width over each group's
# finite values) and histogram(v, [edges]) (explicit edges), per key and without keys, over a
# float column with nulls, NaN, +-inf, -0.0/0.0, values on the edges, a group of only nulls, a
# group of one repeated value, a group of tenths (0.3 lies below linspace's 3 * 0.1, so numpy
# corrects its index), and an int64 column (one value above 2^53), with count(*) and
# mean repeating on the bin rows. Run as one process and at 2 ranks: the (sorted) outputs must be
# byte-identical, and every count and every edge must equal numpy.histogram's on the same CSV
# (edges compared exactly, as hex). Then `shardflow validate` must reject bad arguments with the
# aggregate's file:line:column.
source "$(dirname "$0")/lib.sh"
$PY - "$TMP" <<'PY'
import random, sys
tmp = sys.argv[1]
rng = random.Random(9)
rows = []
for g in range(30):
    n = rng.randrange(1, 80)
    for _ in range(n):
        r = rng.random()
        if g == 0 or r < 0.08:
            v = ""                      # null; group k0 has only nulls
        elif r < 0.11:
            v = rng.choice(["nan", "inf", "-inf"])
        elif g == 1:
            v = "3.75"                  # one repeated value: [3.25, 4.25]
        elif g == 2:
            v = rng.choice(["-0.0", "0.0"])
        elif g == 3:
            v = repr(rng.randrange(0, 11) / 10)  # 0.3 is below linspace's 3 * 0.1: index corrected
        elif r < 0.5:
            v = repr(rng.randrange(-24, 48) * 0.25)   # on many bin edges
        else:
            v = repr(rng.uniform(-6, 12) * 10.0 ** rng.randrange(-2, 2))
        i = "" if rng.random() < 0.1 else str(rng.randrange(-1000, 1000))
        if g == 5 and rng.random() < 0.2:
            i = "9007199254740993"       # 2^53 + 1: not a double
        rows.append((f"k{g}", v, i))
rows += [("k3", "0.0", ""), ("k3", "1.0", ""), ("k3", "0.3", "")]
rng.shuffle(rows)
with open(f"{tmp}/t.csv", "w") as f:
    f.write("k,v,i\n")
    for r in rows:
        f.write(",".join(r) + "\n")
PY
cat > "$TMP/job.yaml" <<YAML
name: histogram
workdir: $TMP/w
inputs:
  t: {format: csv, path: $TMP/t.csv, schema: {k: string, v: float64, i: int64}}
steps:
  - op: group_by
    input: t
    keys: [k]
    aggs: {n: "count(*)", h: "histogram(v, 7)", m: "mean(i)"}
    output: eq
  - op: group_by
    input: t
    keys: [k]
    aggs: {h: "histogram(v, [-5, -1, 0, 0.5, 2.25, 10])", n: "count(v)"}
    output: ed
  - {op: group_by, input: t, keys: [k], aggs: {h: "histogram(v, 10)"}, output: eq10}
  - {op: sort, input: eq10, by: [k, h_lower], output: eq10_sorted}
  - {op: group_by, input: t, keys: [], aggs: {h: "histogram(i, 4)"}, output: ieq}
  - {op: group_by, input: t, keys: [], aggs: {h: "histogram(v, [0, 1e-3, 3.75, 50])"}, output: ied}
  - {op: sort, input: eq, by: [k, h_lower], output: eq_sorted}
  - {op: sort, input: ed, by: [k, h_lower], output: ed_sorted}
outputs:
  - {table: eq_sorted, path: eq.csv}
  - {table: ed_sorted, path: ed.csv}
  - {table: eq10_sorted, path: eq10.csv}
  - {table: ieq, path: ieq.csv}
  - {table: ied, path: ied.csv}
YAML
expect_exit 0 60 validate 0 validate "$TMP/job.yaml"
grep -q "table eq from step 1 (group_by): k:string, n:int64, h_lower:float64, h_upper:float64, h:int64, m:float64" "$TMP/validate.out" ||
  fail "validate does not show the histogram's columns: $(cat "$TMP/validate.out")"
for np in 0 2; do
  expect_exit 0 120 "run.$np" "$np" run "$TMP/job.yaml" --no-cache --set "workdir=$TMP/w$np"
done
for t in eq ed eq10 ieq ied; do
  cmp "$TMP/w0/outputs/$t.csv" "$TMP/w2/outputs/$t.csv" || fail "$t at 2 ranks differs from one process"
done
$PY - "$TMP/t.csv" "$TMP/w0/outputs" <<'PY' || fail "histograms differ from numpy.histogram"
import csv, math, sys
import numpy as np
groups, v_all, i_all = {}, [], []
for row in csv.DictReader(open(sys.argv[1])):
    g = groups.setdefault(row["k"], {"v": [], "i": [], "rows": 0})
    g["rows"] += 1
    if row["v"] != "":
        g["v"].append(float(row["v"]))
        v_all.append(float(row["v"]))
    if row["i"] != "":
        g["i"].append(int(row["i"]))
        i_all.append(int(row["i"]))
bad = 0
def check(path, key_cols, want_rows):
    """want_rows: {key: [(lower, upper, count, *extras)]}; extras compared as text."""
    global bad
    got = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        # h_lower, h_upper, h first, then the other aggregates in their order.
        order = [header.index(c) for c in ("h_lower", "h_upper", "h")]
        order += [j for j in range(key_cols, len(header)) if j not in order]
        for line in f:
            cells = line.rstrip("\n").split(",")
            got.setdefault(tuple(cells[:key_cols]), []).append([cells[j] for j in order])
    if set(got) != set(want_rows):
        bad += 1
        print(f"{path}: groups {sorted(got)[:5]} != {sorted(want_rows)[:5]}")
        return
    for key, want in want_rows.items():
        rows = got[key]
        if len(rows) != len(want):
            bad += 1
            print(f"{path} {key}: {len(rows)} rows, want {len(want)}")
            continue
        for r, (cells, w) in enumerate(zip(rows, want)):
            lower, upper, count = float(cells[0]).hex(), float(cells[1]).hex(), int(cells[2])
            if (lower, upper, count) != (w[0].hex(), w[1].hex(), int(w[2])) or cells[3:] != list(w[3:]):
                bad += 1
                print(f"{path} {key} bin {r}: got {cells}, want {w}")
    print(f"{path}: {sum(len(w) for w in want_rows.values())} rows checked")
def numpy_bins(values, bins):
    counts, edges = np.histogram(values, bins)
    return [(float(edges[j]), float(edges[j + 1]), int(counts[j])) for j in range(len(counts))]
finite = lambda vs: np.array([x for x in vs if math.isfinite(x)], dtype=np.float64)
def mean_text(vs):  # the job's mean(i): the correctly rounded mean of exact integers
    if not vs:
        return ""
    from fractions import Fraction
    return repr(float(Fraction(sum(vs), len(vs))))
out = sys.argv[2]
# Equal width per group over the finite values (numpy rejects NaN/inf for autodetected ranges).
check(f"{out}/eq.csv", 1, {(k,): [b + (str(g["rows"]), mean_text(g["i"]))
                                  for b in numpy_bins(finite(g["v"]), 7)]
                           for k, g in groups.items()})
check(f"{out}/eq10.csv", 1, {(k,): numpy_bins(finite(g["v"]), 10) for k, g in groups.items()})
# Explicit edges per group, over every non-null value (numpy itself leaves NaN/inf out).
edges = np.array([-5, -1, 0, 0.5, 2.25, 10], dtype=np.float64)
check(f"{out}/ed.csv", 1, {(k,): [b + (str(len(g["v"])),)
                                  for b in numpy_bins(np.array(g["v"], dtype=np.float64), edges)]
                           for k, g in groups.items()})
check(f"{out}/ieq.csv", 0, {(): numpy_bins(np.array(i_all, dtype=np.int64), 4)})
check(f"{out}/ied.csv", 0, {(): numpy_bins(np.array(v_all, dtype=np.float64),
                                           np.array([0, 1e-3, 3.75, 50], dtype=np.float64))})
print(f"{bad} wrong")
sys.exit(1 if bad else 0)
PY
# Bad arguments: rejected by validate with the position of the aggregate (line 9: the aggs line).
bad_job() {  # NAME AGGS EXPECTED-MESSAGE-PART
  sed "s|aggs: {n: \"count(\*)\", h: \"histogram(v, 7)\", m: \"mean(i)\"}|aggs: $2|" "$TMP/job.yaml" > "$TMP/$1.yaml"
  expect_exit 2 60 "$1" 0 validate "$TMP/$1.yaml"
  grep -qE -- "^shardflow: configuration error: $TMP/$1.yaml:9:[0-9]+: " "$TMP/$1.err" || fail "$1: no file:line:column: $(cat "$TMP/$1.err")"
  grep -qF -- "$3" "$TMP/$1.err" || fail "$1: expected '$3' in: $(cat "$TMP/$1.err")"
}
bad_job zero_bins '{h: "histogram(v, 0)"}' "the number of bins must be a whole number from 1 to 10000, got 0"
bad_job many_bins '{h: "histogram(v, 10001)"}' "from 1 to 10000, got 10001"
bad_job unsorted '{h: "histogram(v, [0, 2, 1])"}' "bin edges must be strictly increasing: edge 3 (1) is not greater than edge 2 (2)"
bad_job duplicate '{h: "histogram(v, [0, 1, 1])"}' "edge 3 (1) is not greater than edge 2 (1)"
bad_job one_edge '{h: "histogram(v, [1])"}' "a list of bin edges needs 2 to 10001 edges, got 1"
bad_job string '{h: "histogram(k, 5)"}' "cannot compute histogram of string column 'k'"
bad_job two '{h: "histogram(v, 5)", t: "top_k(v, 2)"}' "one aggregate that gives several rows per group (top_k or histogram), not two"
bad_job list_form '{v: [histogram]}' "histogram in steps.0.aggs.v needs arguments"
bad_job in_expression '{h: "histogram(v, 5) * 2"}' "histogram(v, 5) gives each bin's edges as columns of their own (h_lower, h_upper), so it cannot be part of an expression"
cat > "$TMP/window.yaml" <<YAML
name: histogram_window
workdir: $TMP/ww
inputs:
  t: {format: csv, path: $TMP/t.csv, schema: {k: string, v: float64, i: int64}}
steps:
  - op: window
    input: t
    partition_by: [k]
    order_by: i
    features: {h: "histogram(v, 5) over rows 2 preceding"}
    output: f
outputs:
  - {table: f, path: f.csv}
YAML
expect_exit 2 60 window 0 validate "$TMP/window.yaml"
grep -qE -- "^shardflow: configuration error: $TMP/window.yaml:10:[0-9]+: " "$TMP/window.err" || fail "window: no file:line:column: $(cat "$TMP/window.err")"
grep -qF -- "not top_k or histogram" "$TMP/window.err" || fail "window: $(cat "$TMP/window.err")"
pass "histogram matches numpy.histogram at 1 and 2 ranks; bad arguments rejected"
