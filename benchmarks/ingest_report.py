#!/usr/bin/env python3
"""Report of benchmarks/ingest_comparisons.sh: ingest_report.py RESULTS.json OUT.md ROWS [TARGET]

One row per round (each engine's first load in a fresh process, seconds), the median and best
of each engine, and per shardflow configuration against each peer the peer's time over
shardflow's in every round, their median and lowest. TARGET (default 3): the ratio against
Polars that issue 9 asks for; the verdict line says whether the median and the lowest round
reach it. Exits 1 (naming the engine) when an engine read a different number of rows or a
round lacks an engine, 2 on a results file without any load.
"""
import json
import statistics
import sys


def main() -> int:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.strip().splitlines()[0])
    results, out_path, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    target = float(sys.argv[4]) if len(sys.argv) == 5 else 3.0
    lines = [json.loads(l) for l in open(results) if l.strip()]
    loads = [l for l in lines if l.get("bench") == "csv_ingest_first"]
    if not loads:
        print(f"{results}: no csv_ingest_first lines", file=sys.stderr)
        return 2

    def engine(l):
        if l["impl"] == "shardflow":
            return f"shardflow {l['ranks']} rank(s)"
        return f"{l['impl']} {l['threads']} thread(s)"

    problems = [f"{engine(l)} round {l['round']} read {l['rows']} rows, expected {rows}"
                for l in loads if l["rows"] != rows]
    engines = list(dict.fromkeys(engine(l) for l in loads))
    by_round = {}
    for l in loads:
        by_round.setdefault(l["round"], {})[engine(l)] = l["seconds"]
    for r, seen in sorted(by_round.items()):
        problems += [f"round {r}: no load by {e}" for e in engines if e not in seen]
    load_avg = {l["bench"]: l["value"] for l in lines if l.get("bench", "").startswith("load_average")}

    out = []
    out.append(f"CSV ingest, {rows} rows: each engine's first load in a fresh process, seconds "
               f"(load average {load_avg.get('load_average_start', '?')} at the start, "
               f"{load_avg.get('load_average_end', '?')} at the end)")
    out.append("")
    out.append("| round | " + " | ".join(engines) + " |")
    out.append("|---|" + "---|" * len(engines))
    for r in sorted(by_round):
        out.append(f"| {r} | " + " | ".join(
            f"{by_round[r][e]:.3f}" if e in by_round[r] else "-" for e in engines) + " |")
    med = {e: statistics.median(by_round[r][e] for r in by_round if e in by_round[r]) for e in engines}
    best = {e: min(by_round[r][e] for r in by_round if e in by_round[r]) for e in engines}
    out.append("| median | " + " | ".join(f"{med[e]:.3f}" for e in engines) + " |")
    out.append("| best | " + " | ".join(f"{best[e]:.3f}" for e in engines) + " |")
    out.append("")
    for s in [e for e in engines if e.startswith("shardflow")]:
        for p in [e for e in engines if not e.startswith("shardflow")]:
            ratios = [by_round[r][p] / by_round[r][s] for r in sorted(by_round)
                      if s in by_round[r] and p in by_round[r]]
            if not ratios:
                continue
            median, lowest = statistics.median(ratios), min(ratios)
            line = (f"- {s} against {p}: {p.split()[0]}'s time over shardflow's per round "
                    f"{', '.join(f'{x:.2f}' for x in ratios)}; median {median:.2f}x, lowest {lowest:.2f}x")
            if p.startswith("polars"):
                verdict = ("met in every round" if lowest >= target else
                           "met by the median, not in every round" if median >= target else "not met")
                line += f"; target {target:g}x Polars: {verdict}"
            out.append(line)
    if problems:
        out.append("")
        out += [f"- PROBLEM: {p}" for p in problems]
    text = "\n".join(out) + "\n"
    open(out_path, "w").write(text)
    sys.stdout.write(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
