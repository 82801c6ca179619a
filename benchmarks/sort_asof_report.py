#!/usr/bin/env python3
"""Turns sort_asof_comparisons.sh's JSON lines into a Markdown table with checks and targets:
    sort_asof_report.py RESULTS.json OUT.md ROWS"""
import json
import math
import sys

results, out_md, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
# bench -> column title; "sort7" moves all 7 columns of x, "sort2" only the two keys.
BENCHES = {"sort7": "sort, 7 columns", "sort2": "sort, 2 columns", "asof": "as-of join"}
records = [json.loads(line) for line in open(results) if line.startswith("{")]
load = {r["bench"]: r["value"] for r in records if r["bench"].startswith("load_average")}
engines = {}  # label -> bench -> record with first/best
for r in records:
    if r["bench"] not in BENCHES:
        continue
    if r["impl"] == "shardflow":
        label = f"shardflow {r['ranks']} rank{'s' if r['ranks'] > 1 else ''}"
        e = engines.setdefault(label, {}).setdefault(r["bench"], dict(r, first=None, best=math.inf))
        if r["run"] == 1:
            e["first"] = r["seconds"]
        e["best"] = min(e["best"], r["seconds"])
    else:
        label = f"{r['impl']} {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
        engines.setdefault(label, {})[r["bench"]] = r

close = lambda a, b: abs(a - b) <= 1e-9 * max(1.0, abs(b))
ref = next((v for k, v in engines.items() if k.startswith("duckdb")), None)
problems = []
for label, e in engines.items():
    if not ref:
        break
    for b in ("sort7", "sort2"):
        s, rs = e.get(b), ref.get(b)
        if s and rs and (s["rows"] != rs["rows"] or not close(s["sum_v1"], rs["sum_v1"]) or
                         any(a[0] != b_[0] or not close(a[1], b_[1]) for a, b_ in zip(s["head"], rs["head"]))):
            problems.append(f"{label} {b}: {s['rows']} rows, sum {s['sum_v1']}, head {s['head'][:3]}; DuckDB {rs['rows']}, {rs['sum_v1']}, {rs['head'][:3]}")
    a, ra = e.get("asof"), ref.get("asof")
    if a and ra and (a["rows"] != ra["rows"] or a["matched"] != ra["matched"] or not close(a["sum_f1"], ra["sum_f1"])):
        problems.append(f"{label} asof: {a['rows']} rows, {a['matched']} matched, sum f1 {a['sum_f1']}; DuckDB {ra['rows']}, {ra['matched']}, {ra['sum_f1']}")

lines = [f"Sort of {rows} rows by (id1 int64, v1 float64), all 7 columns of x and only the 2 keys, and as-of join of {rows} by {rows} rows (seconds: first run / best)", "",
         "| engine | " + " | ".join(BENCHES.values()) + " |", "|---|" + "---|" * len(BENCHES)]
for label, e in engines.items():
    cell = lambda b: f"{e[b]['first']:.3f} / {e[b]['best']:.3f}" if b in e else "-"
    lines.append(f"| {label} | " + " | ".join(cell(b) for b in BENCHES) + " |")
lines.append("")
lines.append("Checks against DuckDB (rows, sums, first 10 sorted rows, matched as-of rows): " + ("all equal" if not problems else "; ".join(problems)))
two, duck = engines.get("shardflow 2 ranks"), engines.get("duckdb 2 threads")
if two and duck:
    lines.append("")
    lines.append("Targets (shardflow 2 ranks, first run, at or below DuckDB 2 threads):")
    for b in BENCHES:
        if b in two and b in duck:
            ok = two[b]["first"] <= duck[b]["first"]
            lines.append(f"- {b}: {two[b]['first']:.3f} s vs {duck[b]['first']:.3f} s: {'met' if ok else 'NOT met'}")
lines.append("")
lines.append(f"Load average at start / end: {load.get('load_average_start', '?')} / {load.get('load_average_end', '?')}")
open(out_md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if problems else 0)
