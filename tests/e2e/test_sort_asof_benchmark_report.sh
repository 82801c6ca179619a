#!/usr/bin/env bash
# benchmarks/sort_asof_report.py: the table has both sort shapes (7 columns, 2 columns) and the
# as-of join for every engine; the answer check against DuckDB catches a wrong row count, sum or
# sorted head in either sort shape and a wrong as-of match count, naming the engine and shape, and
# exits 1; the target verdicts compare shardflow's first run at 2 ranks with DuckDB's at 2 threads.
# Fast: no build, no data, no peers.
source "$(dirname "$0")/lib.sh"
REPORT=$SRC/benchmarks/sort_asof_report.py

# results NAME EDIT: a results file where every engine agrees with DuckDB, then EDIT (python, on
# `recs`, the list of records) applied.
results() {
  "$PY" - "$TMP/$1.json" "$2" <<'PY'
import json, sys
path, edit = sys.argv[1], sys.argv[2]
head = [[1, 0.00005], [1, 0.000131], [1, 0.00019]]
def sort(bench, **kw): return dict(bench=bench, rows=100, sum_v1=5000.25, head=[list(h) for h in head], **kw)
def asof(**kw): return dict(bench="asof", rows=100, matched=90, sum_f1=3.5, **kw)
recs = [dict(bench="load_average_start", value="1 1 1")]
for run, secs in ((1, 2.0), (2, 1.5)):
    for np in (1, 2):
        recs += [sort("sort7", impl="shardflow", ranks=np, run=run, seconds=secs + np),
                 sort("sort2", impl="shardflow", ranks=np, run=run, seconds=secs / np),
                 asof(impl="shardflow", ranks=np, run=run, seconds=secs)]
for impl, first in (("duckdb", 2.5), ("polars", 9.0)):
    recs += [sort("sort7", impl=impl, threads=2, first=first, best=first),
             sort("sort2", impl=impl, threads=2, first=first, best=first / 2),
             asof(impl=impl, threads=2, first=first, best=first)]
recs.append(dict(bench="load_average_end", value="2 2 2"))
exec(edit)
with open(path, "w") as out:
    for r in recs: out.write(json.dumps(r) + "\n")
PY
}

results good ""
"$PY" "$REPORT" "$TMP/good.json" "$TMP/good.md" 100 >"$TMP/good.out" || { cat "$TMP/good.out"; fail "agreeing answers: report exited non-zero"; }
grep -qF "| engine | sort, 7 columns | sort, 2 columns | as-of join |" "$TMP/good.md" || { cat "$TMP/good.md"; fail "no column per sort shape"; }
# shardflow 2 ranks: sort7 first 4.0 (run 1), best 3.5; sort2 first 1.0, best 0.75.
grep -qF "| shardflow 2 ranks | 4.000 / 3.500 | 1.000 / 0.750 | 2.000 / 1.500 |" "$TMP/good.md" || { cat "$TMP/good.md"; fail "shardflow's first / best cells"; }
grep -qF "| duckdb 2 threads | 2.500 / 2.500 | 2.500 / 1.250 | 2.500 / 2.500 |" "$TMP/good.md" || { cat "$TMP/good.md"; fail "DuckDB's cells"; }
grep -qF "all equal" "$TMP/good.md" || fail "agreeing answers not reported equal"
grep -qF -- "- sort7: 4.000 s vs 2.500 s: NOT met" "$TMP/good.md" || { cat "$TMP/good.md"; fail "sort7 verdict"; }
grep -qF -- "- sort2: 1.000 s vs 2.500 s: met" "$TMP/good.md" || { cat "$TMP/good.md"; fail "sort2 verdict"; }
grep -qF -- "- asof: 2.000 s vs 2.500 s: met" "$TMP/good.md" || { cat "$TMP/good.md"; fail "asof verdict"; }
pass "both sort shapes and the as-of join are reported, with first / best and the target verdicts"

# expect_mismatch NAME EDIT TEXT: the report exits 1 and its check line names TEXT.
expect_mismatch() {
  local rc=0
  results "$1" "$2"
  "$PY" "$REPORT" "$TMP/$1.json" "$TMP/$1.md" 100 >"$TMP/$1.out" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { cat "$TMP/$1.out"; fail "$1: exit $rc, expected 1"; }
  grep -qF -- "$3" "$TMP/$1.md" || { cat "$TMP/$1.md"; fail "$1: the check does not name '$3'"; }
}
expect_mismatch sort2_head 'next(r for r in recs if r["bench"] == "sort2" and r["impl"] == "polars")["head"][2][1] = 0.5' "polars 2 threads sort2:"
expect_mismatch sort7_rows 'next(r for r in recs if r["bench"] == "sort7" and r.get("ranks") == 2)["rows"] = 99' "shardflow 2 ranks sort7:"
expect_mismatch sort2_sum 'next(r for r in recs if r["bench"] == "sort2" and r.get("ranks") == 1)["sum_v1"] = 5000.5' "shardflow 1 rank sort2:"
expect_mismatch asof_matched 'next(r for r in recs if r["bench"] == "asof" and r["impl"] == "polars")["matched"] = 89' "polars 2 threads asof:"
pass "a wrong row count, sum or sorted head in either sort shape, or a wrong as-of match count, fails the report naming engine and shape"
echo "PASS test_sort_asof_benchmark_report"
