#!/usr/bin/env python3
"""Turns groupby_comparisons.sh's JSON lines into a Markdown table with the checks and targets:
    groupby_report.py RESULTS.json OUT.md ROWS
Exits 1 when an answer differs from DuckDB's: row counts and integer checksums exactly, float
checksums within a relative 1e-9 (summation order); NaN only equals NaN, a null only a null."""
import json
import math
import sys

results, out_md, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = [json.loads(line) for line in open(results) if line.startswith("{")]
questions = [f"q{i}" for i in range(1, 11)]
# Checksums that are sums of integers (int64 in every engine but pandas' float sums of them): exact.
EXACT = {("q1", "v1"), ("q2", "v1"), ("q3", "v1"), ("q5", "v1"), ("q5", "v2"), ("q7", "range_v1_v2"), ("q10", "count")}
load_average = {r["bench"]: r["value"] for r in records if r["bench"].startswith("load_average")}


def label_of(r):
    if r["impl"] == "shardflow":
        return f"shardflow {r['ranks']} rank{'s' if r['ranks'] > 1 else ''}"
    unit = "worker" if r["impl"] == "dask" else "thread"  # Dask: single-threaded worker processes
    return f"{r['impl']} {r['threads']} {unit}{'s' if r['threads'] > 1 else ''}"


def value(v):
    return float(v) if isinstance(v, str) else v  # "NaN", "Infinity", "-Infinity" as JSON strings


# engine label -> question (or "load") -> {"first", "best", "rows", "chk"}; label -> peak bytes
engines, peak, peak_step, failed = {}, {}, {}, {}
for r in records:
    b = r["bench"]
    if b == "groupby_failed":
        failed[label_of(r)] = r["reason"]
        continue
    if b == "groupby_peak_memory":
        peak[label_of(r)] = max(peak.get(label_of(r), 0), r["bytes"])
        continue
    if not (b.startswith("groupby_q") or b == "groupby_load"):
        continue
    q = "load" if b == "groupby_load" else b[len("groupby_"):]
    e = engines.setdefault(label_of(r), {})
    if r["impl"] == "shardflow":
        seconds = r["seconds"]
        old = e.get(q, {"first": None, "best": math.inf})
        e[q] = {"first": seconds if r["run"] == 1 else old["first"], "best": min(old["best"], seconds),
                "rows": r.get("rows"), "chk": r.get("chk")}
        if r["run"] == 1 and q != "load":
            peak_step.setdefault(label_of(r), []).append((r["peak_bytes"], q))
    elif q == "load":
        e[q] = {"first": r["seconds"], "best": r["seconds"]}
    else:
        e[q] = {"first": r["first"], "best": r["best"], "rows": r["rows"], "chk": r["chk"]}


def same(q, column, a, b):
    a, b = value(a), value(b)
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if (q, column) in EXACT or math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


reference = next((v for k, v in engines.items() if k.startswith("duckdb")), None)
problems = []
if reference:
    for label, e in engines.items():
        for q in questions:
            if q not in e and label in failed:
                continue  # reported as failed below; the answers it gave are checked
            if q not in e or q not in reference:
                problems.append(f"{label}: no answer to {q}")
                continue
            a, ref = e[q], reference[q]
            bad = [c for c in ref["chk"] if not same(q, c, a["chk"].get(c), ref["chk"][c])]
            if a["rows"] != ref["rows"] or bad:
                problems.append(f"{label} {q}: {a['rows']} rows, checksums {a['chk']}; DuckDB: {ref['rows']} rows, {ref['chk']}")


def cell(e, q):
    return f"{e[q]['first']:.3f} / {e[q]['best']:.3f}" if q in e and e[q]["first"] is not None else "-"


columns = ["load"] + questions
lines = [f"db-benchmark group-by q1-q10 on `shardflow gen groupby --rows {rows}` (K = 100; seconds: first run / best of runs; "
         "load: reading the CSV into memory)", "",
         "| engine | " + " | ".join(columns) + " | total q1-q10 (first) | peak memory |",
         "|---|" + "---|" * (len(columns) + 2)]
for label, e in engines.items():
    missing = [q for q in questions if q not in e or e[q]["first"] is None]
    total = f"{sum(e[q]['first'] for q in questions):.3f}" if not missing else f"- (no {', '.join(missing)})"
    memory = f"{peak[label] / 2**20:.0f} MiB{' per rank' if label.startswith('shardflow') else ''}" if label in peak else "-"
    lines.append(f"| {label} | " + " | ".join(cell(e, q) for q in columns) + f" | {total} | {memory} |")
for label, reason in failed.items():
    if label not in engines:
        lines.append(f"| {label} | " + " | ".join("-" for _ in columns) + " | failed | - |")
lines.append("")
for label, reason in failed.items():
    lines.append(f"{label} failed: {reason}; its missing answers are left out of the checks and targets.")
lines.append("Answers (rows): " + ", ".join(f"{q} {reference[q]['rows']}" for q in questions if q in reference)
             if reference else "No DuckDB reference.")
lines.append("Checks against DuckDB (row count, sum of each answer column): " + ("all equal" if not problems else "; ".join(problems)))
for label, steps in peak_step.items():
    top, q = max(steps)
    lines.append(f"{label}: peak memory per rank {top / 2**20:.0f} MiB, reached by {q} (first run).")

# Targets: 2 ranks against the 2-thread peers (pandas: one thread; Dask: 2 workers).
two = engines.get("shardflow 2 ranks")
peers2 = {k: v for k, v in engines.items() if not k.startswith("shardflow") and (k.endswith((" 2 threads", " 2 workers")) or k.startswith("pandas"))}
if two and peers2:
    lines.append("")
    lines.append("Targets (shardflow 2 ranks, first run, against the 2-thread peers):")
    for q in questions:
        timed = [(v[q]["first"], k) for k, v in peers2.items() if q in v]
        if q in two and timed:
            fastest = min(timed)
            ok = two[q]["first"] <= fastest[0]
            lines.append(f"- {q}: {two[q]['first']:.3f} s vs fastest peer {fastest[1]} {fastest[0]:.3f} s: {'met' if ok else 'NOT met'}")
    duck = next((v for k, v in peers2.items() if k.startswith("duckdb")), None)
    if duck and all(q in two and q in duck for q in questions):
        total, dtotal = sum(two[q]["first"] for q in questions), sum(duck[q]["first"] for q in questions)
        lines.append(f"- q1-q10 total {total:.3f} s vs half of DuckDB's {dtotal / 2:.3f} s: {'met' if total <= dtotal / 2 else 'NOT met'}")
    polars = next((v for k, v in peers2.items() if k.startswith("polars")), None)
    polars_failed = next((reason for k, reason in failed.items() if k.startswith("polars")), None)
    if polars_failed and not (polars and "load" in polars):
        lines.append(f"- CSV load {two['load']['first']:.2f} s vs Polars': Polars failed ({polars_failed})")
    elif polars and "load" in two and "load" in polars:
        ratio = polars["load"]["first"] / two["load"]["first"] if two["load"]["first"] > 0 else math.inf
        lines.append(f"- CSV load {two['load']['first']:.2f} s vs Polars' {polars['load']['first']:.3f} s: {ratio:.1f}x, "
                     f"target 3x: {'met' if ratio >= 3 else 'NOT met'}")
stage = {}
for r in records:
    if r.get("impl") == "shardflow" and r["bench"].startswith("groupby_q") and r["run"] == 1:
        stage.setdefault(r["ranks"], []).append(r.get("stage_seconds", 0.0))
for ranks, values in sorted(stage.items()):
    lines.append(f"shardflow {ranks} rank(s) also wrote each answer's stage file (for reruns) in {sum(values):.3f} s over q1-q10 "
                 "(not in the times above).")
lines.append("")
lines.append(f"Load average at start / end: {load_average.get('load_average_start', '?')} / {load_average.get('load_average_end', '?')}")
open(out_md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if problems else 0)
