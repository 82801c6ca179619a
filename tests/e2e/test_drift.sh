#!/usr/bin/env bash
# Drift (ops/drift.hpp; `shardflow drift` and `op: drift`): with one feature shifted, exactly that
# feature is flagged; PSI and KS equal a numpy reference (quantile edges of the reference, shares
# floored at 1e-4; the exact two-sample KS statistic) and are the same at 1, 2 and 3 ranks;
# --fail-on-drift exits 4; the HTML page parses and has a row and two bars per feature; bad
# settings fail before any work, naming the problem.
source "$(dirname "$0")/lib.sh"
cd "$TMP"

$PY - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
def write(path, n, shift):
    x1 = rng.normal(0, 1, n); x2 = rng.uniform(0, 1, n) + shift; x3 = np.round(rng.normal(5, 2, n), 1)
    x4 = rng.integers(0, 20, n)
    with open(path, "w") as f:
        f.write("id,x1,x2,x3,x4,empty\n")
        for i in range(n):
            v1 = "" if i % 97 == 0 else repr(x1[i])
            f.write(f"{i},{v1},{x2[i]!r},{x3[i]!r},{x4[i]},{'' if path == 'cur.csv' else 1.5}\n")
write("ref.csv", 20000, 0.0)
write("cur.csv", 15000, 0.2)   # x2 shifted by a fifth of its range: the only drift
PY

for np in 1 2 3; do
  expect_exit 0 300 "drift$np" "$np" drift --reference ref.csv --current cur.csv --features x1 --features x2 \
    --features x3 --features x4 --output "d$np.csv" --workdir "w$np"
done
cmp -s d1.csv d2.csv && cmp -s d1.csv d3.csv || fail "the report differs between 1, 2 and 3 ranks"
pass "the same report at 1, 2 and 3 ranks"

$PY - d1.csv <<'PY' || fail "the report does not match the numpy reference"
import csv, sys
import numpy as np
import pandas as pd
r = pd.read_csv("ref.csv"); c = pd.read_csv("cur.csv")
rows = {row["feature"]: row for row in csv.DictReader(open(sys.argv[1]))}
assert list(rows) == ["x1", "x2", "x3", "x4"], list(rows)
for f, row in rows.items():
    a = np.sort(r[f].dropna().to_numpy(float)); b = np.sort(c[f].dropna().to_numpy(float))
    n, bins = len(a), 10
    edges = np.array([a[(i * n) // bins] for i in range(1, bins)])
    share = lambda x: np.maximum(np.bincount(np.searchsorted(edges, x, side="right"), minlength=bins) / len(x), 1e-4)
    ra, cb = share(a), share(b)
    psi = float(np.sum((cb - ra) * np.log(cb / ra)))
    pooled = np.concatenate([a, b])
    ks = float(np.max(np.abs(np.searchsorted(a, pooled, side="right") / len(a) - np.searchsorted(b, pooled, side="right") / len(b))))
    assert abs(float(row["psi"]) - psi) <= 1e-12 * max(1, psi), (f, row["psi"], psi)
    assert abs(float(row["ks"]) - ks) <= 1e-15, (f, row["ks"], ks)
    assert int(row["reference_rows"]) == len(a) and int(row["current_rows"]) == len(b), f
    assert int(row["reference_missing"]) == r[f].isna().sum() and int(row["current_missing"]) == c[f].isna().sum(), f
    assert (row["drifted"] == "true") == (f == "x2"), (f, row)
    print(f"ok: {f}: psi {psi:.6f}, ks {ks:.6f}, drifted {row['drifted']}")
PY
grep -q "1 of 4 feature(s) drifted" drift2.err || { cat drift2.err; fail "the log does not count the drifted features"; }
grep -q "feature 'x2': psi .* DRIFTED" drift2.err || fail "the log does not flag x2"
pass "exactly the shifted feature is flagged; PSI and KS equal numpy's"

$PY - d1.html <<'PY' || fail "the HTML report"
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []; self.rows = 0; self.drifted = 0; self.bars = 0; self.svgs = 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr": self.rows += 1; self.drifted += a.get("class") == "drifted"
        if tag == "svg": self.svgs += 1
        if tag == "rect" and a.get("class") == "bar": self.bars += 1
        if tag in ("script", "link", "img"): raise SystemExit(f"external or scripted content: <{tag}>")
p = P(); p.feed(open(sys.argv[1]).read())
assert p.rows == 5 and p.drifted == 1 and p.svgs == 2 and p.bars == 8, (p.rows, p.drifted, p.svgs, p.bars)
print("ok: html: 4 feature rows (1 drifted), 2 charts, 8 bars")
PY
expect_exit 4 120 fail-on 2 drift --reference ref.csv --current cur.csv --features x2 --output f.csv --fail-on-drift --workdir wf
grep -q "drift found: 1 feature(s) over the thresholds" fail-on.err || fail "--fail-on-drift message"
expect_exit 0 120 no-drift 1 drift --reference ref.csv --current cur.csv --features x1 --features x3 --output n.csv --fail-on-drift --workdir wn
pass "--fail-on-drift exits 4 only when a feature drifted; the HTML page has every feature"

# op: drift in a job, default features (every numeric column of both: id drifts too, by design).
cat >job.yaml <<YAML
name: drift_job
inputs:
  ref: {format: csv, path: $TMP/ref.csv, schema: {id: int64, x1: float64, x2: float64, x3: float64, x4: int64, empty: float64}}
  cur: {format: csv, path: $TMP/cur.csv, schema: {id: int64, x1: float64, x2: float64, x3: float64, x4: int64, empty: float64}}
steps:
  - {op: drift, reference: ref, current: cur, features: [x1, x2, x3, x4], output: report}
outputs:
  - {table: report, path: report.csv}
YAML
expect_exit 0 120 job 2 run job.yaml --set workdir=wj
cmp -s wj/outputs/report.csv d1.csv || fail "op: drift and shardflow drift disagree"
expect_exit 2 60 unknown 0 validate job.yaml --set 'steps.0.features=[x1, x9]'
grep -q "steps.0.features: step 1 (drift): drift feature 'x9' is not a column of table 'ref'" unknown.err || { cat unknown.err; fail "unknown feature"; }
expect_exit 2 60 bins 0 validate job.yaml --set steps.0.bins=1
grep -q "steps.0.bins" bins.err || { cat bins.err; fail "bins 1"; }
expect_exit 3 120 all-null 2 run job.yaml --set workdir=wn2 --set 'steps.0.features=[empty]'
grep -q "drift of 'empty': the current table has no value of it" all-null.err || { cat all-null.err; fail "a feature without values"; }
pass "op: drift gives the same report; unknown features, bad bins and an empty feature are clear errors"
echo "PASS test_drift"
