#!/usr/bin/env python3
"""Turns join_comparisons.sh's JSON lines into a Markdown table with the checks and targets:
    join_report.py RESULTS.json OUT.md ROWS"""
import json
import math
import sys

results, out_md, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
records = [json.loads(line) for line in open(results) if line.startswith("{")]
questions = ["q1", "q2", "q3", "q4", "q5"]
load = {r["bench"]: r["value"] for r in records if r["bench"].startswith("load_average")}

# engine label -> question -> (first, best, rows, sum_v1, sum_v2)
engines = {}
for r in records:
    if not r["bench"].startswith("join_q"):
        continue
    q = r["bench"][5:]
    if r["impl"] == "shardflow":
        label = f"shardflow {r['ranks']} rank{'s' if r['ranks'] > 1 else ''}"
        e = engines.setdefault(label, {})
        first, best = e.get(q, (None, math.inf))[:2]
        e[q] = (r["seconds"] if r["run"] == 1 else first, min(best, r["seconds"]), r["rows"], r["sum_v1"], r["sum_v2"])
    else:
        label = f"{r['impl']} {r['threads']} thread{'s' if r['threads'] > 1 else ''}"
        engines.setdefault(label, {})[q] = (r["first"], r["best"], r["rows"], r["sum_v1"], r["sum_v2"])

reference = next((v for k, v in engines.items() if k.startswith("duckdb")), None)
problems = []
if reference:
    for label, e in engines.items():
        for q in questions:
            if q not in e or q not in reference:
                problems.append(f"{label}: no answer to {q}")
                continue
            _, _, n, s1, s2 = e[q]
            _, _, rn, r1, r2 = reference[q]
            close = lambda a, b: (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(b))
            if n != rn or not close(s1, r1) or not close(s2, r2):
                problems.append(f"{label} {q}: {n} rows, sums {s1!r} {s2!r}; DuckDB: {rn} rows, sums {r1!r} {r2!r}")

lines = [f"Join questions q1-q5 on `shardflow gen join --rows {rows}` (seconds: first run / best of runs)", "",
         "| engine | " + " | ".join(questions) + " | total (first) |", "|---|" + "---|" * (len(questions) + 1)]
for label, e in engines.items():
    cells = [f"{e[q][0]:.3f} / {e[q][1]:.3f}" if q in e else "-" for q in questions]
    total = sum(e[q][0] for q in questions if q in e)
    lines.append(f"| {label} | " + " | ".join(cells) + f" | {total:.3f} |")
lines.append("")
lines.append("Answers (rows): " + ", ".join(f"{q} {reference[q][2]}" for q in questions) if reference else "No DuckDB reference.")
lines.append("Checks against DuckDB (row count, sum of v1, sum of v2): " + ("all equal" if not problems else "; ".join(problems)))
# Targets: 2 ranks against the 2-thread peers.
two = engines.get("shardflow 2 ranks")
peers2 = {k: v for k, v in engines.items() if not k.startswith("shardflow") and ("2 threads" in k or k.startswith("pandas"))}
if two and peers2:
    lines.append("")
    lines.append("Targets (shardflow 2 ranks, first run, against the 2-thread peers):")
    for q in questions:
        fastest = min((v[q][0], k) for k, v in peers2.items() if q in v)
        ok = two[q][0] <= fastest[0]
        lines.append(f"- {q}: {two[q][0]:.3f} s vs fastest peer {fastest[1]} {fastest[0]:.3f} s: {'met' if ok else 'NOT met'}")
    duck = next((v for k, v in peers2.items() if k.startswith("duckdb")), None)
    if duck:
        total, dtotal = sum(two[q][0] for q in questions), sum(duck[q][0] for q in questions)
        lines.append(f"- q1-q5 total {total:.3f} s vs half of DuckDB's {dtotal / 2:.3f} s: {'met' if total <= dtotal / 2 else 'NOT met'}")
stage = {}
for r in records:
    if r.get("impl") == "shardflow" and r["bench"].startswith("join_q") and r["run"] == 1:
        stage.setdefault(r["ranks"], []).append(r.get("stage_seconds", 0.0))
for ranks, values in sorted(stage.items()):
    lines.append(f"shardflow {ranks} rank(s) also wrote each answer's stage file (for reruns) in {sum(values):.3f} s over q1-q5 (not in the times above).")
lines.append("")
lines.append(f"Load average at start / end: {load.get('load_average_start', '?')} / {load.get('load_average_end', '?')}")
open(out_md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if problems else 0)
