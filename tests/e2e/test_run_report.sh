#!/usr/bin/env bash
# The run report (track/run_report.hpp): a small quickstart-like job at 2 ranks (generated data,
# a CSV input with a bad row and nulls, early stopping, binary evaluation, tracking) writes
# <workdir>/report.html. Parsed with html.parser, every chart has data and agrees with
# metrics.json: loss/epoch/validation points, 2 timeline lanes whose compute + comm + io bars add
# up to each rank's step seconds, rows in and out, the input profiles (against a pandas
# reference), a ROC curve monotone from (0,0) to (1,1) with the exact AUC, a confusion matrix
# summing to the evaluated rows; no external URL; the tracked run holds the same bytes as an
# artifact. A rerun (every step and the training reused) replaces the charts without data by
# notes. Headless Chromium renders the page to a PNG of the window size that is not blank.
source "$(dirname "$0")/lib.sh"
cd "$TMP"

$PY - <<'PY'
# extra.csv: a timestamp, a float with 3 nulls, a low-cardinality string, and one bad row.
import random
random.seed(3)
with open("extra.csv", "w") as f:
    f.write("ts,v,city\n")
    for i in range(300):
        v = "" if i in (5, 50, 250) else repr(round(random.uniform(-10, 90), 3))
        f.write(f"2024-03-{1 + i % 28:02d} 12:00:00,{v},{random.choice(['oslo', 'rome', 'lima', 'kyiv'])}\n")
        if i == 100:
            f.write("2024-03-01 12:00:00,not-a-number,oslo\n")   # rejected (bad_rows: skip)
PY
cat > job.yaml <<'YAML'
name: report
seed: 42
workdir: w
inputs:
  events: {format: generate, kind: classification, rows: 20000}
  extra: {format: csv, path: extra.csv, bad_rows: skip,
          schema: {ts: timestamp, v: float64, city: string}}
steps:
  - {op: filter, input: events, where: "amount > 0", output: clean}
  - {op: filter, input: clean, where: "id % 5 > 1", output: train_set}
  - {op: filter, input: clean, where: "id % 5 == 1", output: valid}
  - {op: filter, input: clean, where: "id % 5 == 0", output: test_set}
  - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum], "*": [count]}, output: by_segment}
  - {op: filter, input: extra, where: "v > 0", output: extra_pos}
outputs:
  - {table: extra_pos, path: extra_pos.h5}
train:
  input: train_set
  label: label
  features: {numeric: [x1, x2, x3, x4]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-4}
  optimizer: {type: sgd, lr: 0.1, batch_size: 512, epochs: 4, momentum: 0.9}
  early_stopping: {input: valid, metric: logloss, patience: 3}
  checkpoint: {every_steps: 50, keep: 2}
evaluate: {input: test_set, metrics: [auc, logloss, accuracy]}
track: {store: mlruns}
YAML

expect_exit 0 120 run1 2 run job.yaml
[ -f w/report.html ] || fail "no w/report.html after a successful run"

# The checker: html.parser over the page, metrics.json beside it. MODE first|rerun.
cat > check_report.py <<'PY'
import html.parser, json, math, os, re, sys
import pandas as pd

mode, page, metrics_path = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(page, encoding="utf-8").read()
record = json.load(open(metrics_path))
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts, self.notes, self.tables, self.parts, self.bars, self.lines = {}, {}, [], [], [], {}
        self.chart = None
        self.table = None
        self.cell = None
        self.auc = None
        self.tags = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "svg":
            check(a.get("class") == "chart", f"svg without class chart: {a}")
            self.chart = a["data-chart"]
            check(self.chart not in self.charts, f"chart {self.chart} twice")
            self.charts[self.chart] = a
        elif tag == "polyline" and self.chart:
            self.lines[self.chart] = [tuple(map(float, p.split(","))) for p in a["data-values"].split()]
            check(int(a["data-points"]) == len(self.lines[self.chart]), f"{self.chart}: data-points")
        elif tag == "rect" and "data-part" in a:
            self.parts.append(a)
        elif tag == "rect" and "data-kind" in a:
            self.bars.append(a)
        elif tag == "p" and a.get("class") == "note":
            self.notes[a["data-note"]] = a
        elif tag == "p" and "data-auc" in a:
            self.auc = float(a["data-auc"])
        elif tag == "table":
            self.table = {"attrs": a, "rows": []}
            self.tables.append(self.table)
        elif tag == "tr" and self.table is not None:
            self.table["rows"].append([])
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []
    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None
        elif tag in ("td", "th") and self.cell is not None:
            self.table["rows"][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None
    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

p = Parser()
p.feed(text)
check(re.search(r"https?://", text) is None, "the page references an external URL (http:// or https://)")
check("<script" not in text.lower(), "the page has a script")
close = lambda a, b, tol=1e-5: abs(a - b) <= tol * max(1.0, abs(b))

steps = record["steps"]
ranks = record["ranks"]
# ---- timeline: one lane per rank, three bars per step and rank, adding up to metrics.json, ------
# then training and evaluation as "(train)" and "(evaluate)" with their own per-rank split
t = p.charts.get("timeline")
phases = [dict(record[k], name=f"({k})") for k in ("train", "evaluate") if isinstance(record.get(k), dict)]
check(all("per_rank" in ph for ph in phases), "train or evaluate without per_rank times")
if mode == "first":
    check([ph["name"] for ph in phases] == ["(train)", "(evaluate)"], f"timeline phases {[ph['name'] for ph in phases]}")
    for ph in phases:
        pr = ph["per_rank"]
        check(len(pr["seconds"]) == ranks and all(v >= 0 for v in pr["seconds"]), f"{ph['name']}: per_rank seconds {pr['seconds']}")
        check(abs(pr["seconds"][0] - ph["seconds"]) <= 0.05 + 0.05 * ph["seconds"], f"{ph['name']}: rank 0 {pr['seconds'][0]} s against {ph['seconds']} s")
    check(sum(phases[0]["per_rank"]["comm_seconds"]) > 0, "training spent no time communicating at 2 ranks")
    check(sum(phases[0]["per_rank"]["io_seconds"]) > 0, "training spent no time on I/O (checkpoints)")
lanes = steps + phases
check(t is not None and int(t["data-steps"]) == len(lanes), "timeline steps")
check(len(p.parts) == 3 * ranks * len(lanes), f"{len(p.parts)} timeline bars for {len(lanes)} steps x {ranks} ranks x 3")
for s in lanes:
    pr = s["per_rank"]
    if s in steps:
        check(pr["seconds"][0] == s["seconds"], f"{s['name']}: per_rank seconds[0] != seconds")
        check(pr["comm_seconds"][0] == s["comm_seconds"] and pr["io_seconds"][0] == s["io_seconds"], f"{s['name']}: rank 0's split")
    for r in range(ranks):
        got = {a["data-part"]: float(a["data-seconds"]) for a in p.parts if a["data-step"] == s["name"] and int(a["data-rank"]) == r}
        check(set(got) == {"compute", "comm", "io"}, f"{s['name']} rank {r}: bars {sorted(got)}")
        if set(got) != {"compute", "comm", "io"}:
            continue
        check(close(got["comm"], pr["comm_seconds"][r]) and close(got["io"], pr["io_seconds"][r]) and close(got["compute"], pr["compute_seconds"][r]),
              f"{s['name']} rank {r}: bars {got} != metrics.json {pr}")
        check(all(v >= 0 for v in got.values()), f"{s['name']} rank {r}: a negative part {got}")
        check(abs(sum(got.values()) - pr["seconds"][r]) <= 1e-4 + 1e-4 * pr["seconds"][r], f"{s['name']} rank {r}: compute + comm + io = {sum(got.values())}, seconds {pr['seconds'][r]}")
# ---- rows in and out ---------------------------------------------------------------------------
check("rows" in p.charts and int(p.charts["rows"]["data-bars"]) == len(p.bars) > 0, "rows chart bars")
for s in steps:
    out = [float(a["data-rows"]) for a in p.bars if a["data-step"] == s["name"] and a["data-kind"] == "out"]
    check(out == [sum(s["rows"].values())], f"{s['name']}: rows out {out}, metrics.json {s['rows']}")
    ins = [float(a["data-rows"]) for a in p.bars if a["data-step"] == s["name"] and a["data-kind"] == "in"]
    known = all(v is not None for v in s["rows_in"].values())
    check(ins == ([sum(s["rows_in"].values())] if known else []), f"{s['name']}: rows in {ins}, metrics.json {s['rows_in']}")
# ---- evaluation ------------------------------------------------------------------------------
ev = record["evaluate"]
metrics_table = [tb for tb in p.tables if tb["attrs"].get("data-table") == "metrics"]
check(len(metrics_table) == 1 and {r[0] for r in metrics_table[0]["rows"][1:]} == set(record["metrics"]), "final metrics table")
conf = [tb for tb in p.tables if tb["attrs"].get("data-table") == "confusion"]
check(len(conf) == 1, "one confusion matrix")
if conf:
    cells = [int(c.replace("\u2009", "")) for row in conf[0]["rows"][1:] for c in row[1:]]
    check(int(conf[0]["attrs"]["data-total"]) == sum(cells) == ev["rows"] == record["tables"]["test_set"],
          f"confusion matrix sums to {sum(cells)}, data-total {conf[0]['attrs']['data-total']}, evaluated {ev['rows']}")
    check(cells == [n for row in ev["confusion_matrix"]["counts"] for n in row], "confusion cells != metrics.json")
roc = p.lines.get("roc", [])
check(len(roc) == ev["roc"]["bins"] + 1 == 201, f"ROC points {len(roc)}")
check(roc and roc[0] == (0.0, 0.0) and roc[-1] == (1.0, 1.0), f"ROC from {roc[:1]} to {roc[-1:]}")
check(all(b[0] >= a[0] and b[1] >= a[1] for a, b in zip(roc, roc[1:])), "ROC points not monotone")
check(all(close(x, f, 1e-5) and close(y, tp, 1e-5) for (x, y), f, tp in zip(roc, ev["roc"]["fpr"], ev["roc"]["tpr"])), "ROC points != metrics.json")
check(p.auc is not None and p.auc == record["metrics"]["auc"] == ev["roc"]["auc"], f"AUC {p.auc}, metrics.json {record['metrics']['auc']}")
area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(roc, roc[1:]))
check(abs(area - p.auc) < 0.01, f"the area under the drawn ROC, {area}, is far from the exact AUC {p.auc}")
# ---- inputs --------------------------------------------------------------------------------------
inputs = record["inputs"]
tables = {tb["attrs"]["data-input"]: tb for tb in p.tables if tb["attrs"].get("data-table") == "input"}
if mode == "first":
    check(inputs["extra"]["rejected_rows"] == 1 and "1 rows rejected" in text, f"rejected rows {inputs['extra']['rejected_rows']}")
    check(inputs["events"]["rejected_rows"] is None, "a generated input reports rejected rows")
    ref = pd.read_csv("extra.csv", on_bad_lines="skip")
    ref = ref[pd.to_numeric(ref["v"], errors="coerce").notna() | ref["v"].isna()]
    v = pd.to_numeric(ref["v"])
    cols = {c["name"]: c for c in inputs["extra"]["profile"]["columns"]}
    check(inputs["extra"]["profile"]["rows"] == len(ref) == 300, f"extra rows {inputs['extra']['profile']['rows']}")
    check(cols["v"]["nulls"] == 3 and cols["v"]["min"] == v.min() and cols["v"]["max"] == v.max(), f"profile of v: {cols['v']}")
    check(abs(cols["v"]["distinct"] - v.nunique()) <= 0.1 * v.nunique() and not cols["v"]["distinct_exact"], f"distinct v {cols['v']}, pandas {v.nunique()}")
    check(cols["city"]["distinct"] == 4 and cols["city"]["distinct_exact"] and cols["city"]["nulls"] == 0, f"profile of city: {cols['city']}")
    check(cols["ts"]["min"] == 1709294400000000 and cols["ts"]["max"] == 1711627200000000, f"profile of ts: {cols['ts']}")
    rows = {r[0]: r for r in tables["extra"]["rows"][1:]}
    check(rows["ts"][3] == "2024-03-01 12:00:00" and rows["ts"][4] == "2024-03-28 12:00:00", f"ts range shown {rows['ts']}")
    check(rows["v"][5].endswith("approx.") and rows["city"][5] == "4", f"distinct shown {rows['v']} {rows['city']}")
    for name in ("events", "extra"):
        check(name in tables and int(tables[name]["attrs"]["data-columns"]) == len(inputs[name]["profile"]["columns"]) > 0, f"input table {name}")
    # ---- training curves --------------------------------------------------------------------
    train = record["train"]
    check(int(p.charts["loss"]["data-points"]) == train["steps"] > 0, f"loss points {p.charts['loss']['data-points']}, steps {train['steps']}")
    check(p.lines["loss"][-1] == (train["steps"], float(f"{train['last_batch_loss']:.6g}")), f"the last loss point {p.lines['loss'][-1]}")
    check([y for _, y in p.lines["epochs"]] == [float(f"{v:.6g}") for v in train["epoch_loss"]], "epoch losses")
    hist = train["early_stopping"]["history"]
    check(len(hist) > 0 and [y for _, y in p.lines["validation"]] == [float(f"{v:.6g}") for v in hist], f"validation {p.lines.get('validation')}, history {hist}")
    check(not p.notes, f"notes on a run with every chart's data: {sorted(p.notes)}")
else:
    # Everything reused: no training step, no input read, so notes instead of those charts.
    check(record["train"]["reused"], "the rerun trained again")
    for name in ("loss", "epochs", "input-events", "input-extra"):
        check(name in p.notes, f"no note '{name}' on the rerun (notes: {sorted(p.notes)})")
        check(name not in p.charts, f"a chart '{name}' without data on the rerun")
    check("validation" in p.charts, "the validation history (from the checkpoint) is gone on the rerun")
for name in ("timeline", "rows", "roc"):
    check(name in p.charts, f"no chart '{name}'")
for name, a in p.charts.items():
    n = a.get("data-points") or a.get("data-bars") or a.get("data-lanes")
    check(n is not None and int(n) > 0, f"chart {name} has no data ({a})")
if errors:
    print("\n".join("FAIL: " + e for e in errors))
    sys.exit(1)
print(f"ok: {mode}: charts {sorted(p.charts)}, notes {sorted(p.notes)}, {len(p.parts)} timeline bars")
PY
$PY check_report.py first w/report.html w/metrics.json || fail "report.html of the first run"
pass "every chart of the first run has data and agrees with metrics.json"

art=$(ls mlruns/*/*/artifacts/report.html 2>/dev/null | head -1)
[ -n "$art" ] && cmp -s "$art" w/report.html || fail "the tracked run has no report.html artifact equal to w/report.html"
pass "the tracked run holds report.html as an artifact"

# ---- the run log: <workdir>/run.log (rank 0's lines) and the tracked run's run.log artifact -------
grep -q "\[r0\] \[info\] job 'report' on 2 rank(s)" w/run.log || { cat w/run.log; fail "w/run.log lacks the run's first line"; }
grep -q "training finished at step" w/run.log || fail "w/run.log lacks the training lines"
grep -q "\[r1\]" w/run.log && fail "w/run.log holds another rank's lines"
log_art=$(ls mlruns/*/*/artifacts/run.log 2>/dev/null | head -1)
[ -n "$log_art" ] || fail "the tracked run has no run.log artifact"
# The artifact is copied as the run finishes; the file goes on for the last lines.
cmp -s "$log_art" <(head -c "$(stat -c %s "$log_art")" w/run.log) || fail "the run.log artifact is not the start of w/run.log"
grep -q "registry\|tracking: run" "$log_art" || grep -q "evaluate on 'test_set'" "$log_art" || fail "the run.log artifact stops early"
pass "rank 0's log is in w/run.log and a run.log artifact"

# A run that fails ends its log with the error, and the failed run keeps that log as an artifact.
printf 'ts,v,city\n2024-03-01 12:00:00,1.5,oslo\n2024-03-02 12:00:00,oops,rome\n' >bad.csv
expect_exit 3 120 failed 2 run job.yaml --set workdir=wf --set inputs.extra.path=bad.csv --set inputs.extra.bad_rows=fail
tail -1 wf/run.log | grep -q "\[error\] run failed: input data error: .*bad.csv.*oops" || { tail -3 wf/run.log; fail "the failed run's log does not end with its error"; }
failed_log=$(grep -l "run failed: .*bad.csv" mlruns/*/*/artifacts/run.log 2>/dev/null | head -1)
[ -n "$failed_log" ] && grep -q "status: 4" "$(dirname "$(dirname "$failed_log")")/meta.yaml" || fail "no FAILED run with the failed log as its run.log artifact"
pass "a failed run's log ends with its error, also as the run's artifact"

# ---- headless Chromium: the page renders to a full-size, non-blank screenshot ---------------------
shot="$TMP/report.png"
timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$shot" \
  --window-size=1400,3000 "file://$TMP/w/report.html" >chromium.out 2>&1 || { cat chromium.out; fail "chromium failed"; }
$PY - "$shot" <<'PY' || fail "the screenshot"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
assert im.size == (1400, 3000), im.size
colors = im.getcolors(maxcolors=1 << 20)
assert colors is not None and len(colors) > 50, f"{0 if colors is None else len(colors)} distinct colours: blank?"
# The timeline's compute, communication and I/O colours are on the page (its legend at least;
# how wide each part is depends on the timings), and together they fill the lanes: the longest
# lane spans the 810 px timeline, 26 px high, and the other lane about as much.
count = {c: n for n, c in colors}
parts = {"compute": (0x4c, 0x78, 0xa8), "comm": (0xf5, 0x85, 0x18), "io": (0x54, 0xa2, 0x4b)}
for name, rgb in parts.items():
    assert count.get(rgb, 0) >= 50, f"no {name} colour {rgb} in the screenshot"
bars = sum(count.get(rgb, 0) for rgb in parts.values())
assert bars > 20000, f"{bars} pixels of timeline bars"
non_white = sum(n for n, c in colors if c != (255, 255, 255))
assert non_white > 0.02 * 1400 * 3000, f"only {non_white} non-white pixels"
print(f"ok: screenshot {im.size}, {len(colors)} colours, {non_white} non-white pixels")
PY
pass "headless Chromium renders the report"

# ---- a rerun reuses everything: notes replace the charts without data --------------------------
expect_exit 0 120 run2 2 run job.yaml
$PY check_report.py rerun w/report.html w/metrics.json || fail "report.html of the rerun"
pass "the rerun's report has notes where this run has no data"
