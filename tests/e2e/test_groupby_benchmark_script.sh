#!/usr/bin/env bash
# benchmarks/groupby_comparisons.sh refuses bad options before building or generating anything, and
# its report (benchmarks/groupby_report.py) checks every engine's answers against DuckDB's: row
# counts and integer checksums exactly, float checksums within a relative 1e-9, NaN only equal to
# NaN and a null only to a null. Fast: no build, no data, no peers.
source "$(dirname "$0")/lib.sh"
SCRIPT=$SRC/benchmarks/groupby_comparisons.sh
REPORT=$SRC/benchmarks/groupby_report.py

expect_help '--peers "duckdb polars pandas dask"'

expect_error unknown_option "unknown option '--bogus' (options: --rows N --out DIR --repeats R --ranks LIST --peer-threads LIST --peers LIST)" --bogus 1
expect_error unknown_peer "unknown peer 'spark' (peers: duckdb polars pandas dask)" --peers "duckdb spark"
expect_error bad_rows "--rows must be a non-negative number" --rows lots
expect_error bad_repeats "--repeats must be a positive integer, got '0'" --repeats 0
# A Python without dask: dask named in --peers is an error; by default it is left out with a note.
mkdir -p "$TMP/nodask/dask"
echo 'raise ImportError("no dask here")' >"$TMP/nodask/dask/__init__.py"
printf '#!/bin/sh\nPYTHONPATH=%s exec /usr/bin/python3 "$@"\n' "$TMP/nodask" >"$TMP/python-nodask"
chmod +x "$TMP/python-nodask"
SHARDFLOW_PYTHON=$TMP/python-nodask expect_error dask_missing "dask is missing for $TMP/python-nodask: install it with 'apt-get install python3-dask'" --peers "duckdb dask"
pass "bad options are refused before any build, naming the problem"

# ---- the report's answer check --------------------------------------------------------------
# results LABEL EDIT: a results file with DuckDB's answers, shardflow's at 2 ranks (run 1 and 2)
# and Polars', where EDIT (python, on the dicts `ref` of DuckDB's and shardflow's answers and `a`
# of Polars', per question: (rows, checksums)) changes them.
results() {
  "$PY" - "$TMP/$1.json" "$2" <<'PY'
import copy, json, sys
path, edit = sys.argv[1], sys.argv[2]
ref = {"q1": (100, {"v1": 3000095}), "q2": (10000, {"v1": 3000095}), "q3": (10000, {"v1": 3000095, "v3": 499693.4244497}),
       "q4": (100, {"v1": 300.00865076386066, "v2": 800.2957795096336, "v3": 4996.6256820826475}),
       "q5": (10000, {"v1": 3000095, "v2": 8002921, "v3": 49965973.01552009}),
       "q6": (10000, {"median_v3": 499255.4546410001, "sd_v3": 288330.10857361497}), "q7": (10000, {"range_v1_v2": 39990}),
       "q8": (20000, {"largest2_v3": 1969765.1346440096}), "q9": (10000, {"r2": "NaN"}), "q10": (1000000, {"v3": None, "count": 1000000})}
a = copy.deepcopy(ref)
# Polars: floats a few ulps away (summation order), integers exact.
a["q3"][1]["v3"] = 499693.42444970284
a["q10"][1]["v3"] = None
exec(edit)
out = open(path, "w")
def line(**r): out.write(json.dumps(r) + "\n")
line(bench="load_average_start", value="1 1 1")
for impl, answers in (("duckdb", ref), ("polars", a)):
    line(bench="groupby_load", impl=impl, threads=2, seconds=0.5)
    for q, (rows, chk) in answers.items():
        line(bench=f"groupby_{q}", impl=impl, threads=2, first=0.2, best=0.1, rows=rows, chk=chk)
    line(bench="groupby_peak_memory", impl=impl, threads=2, bytes=2**30)
for run in (1, 2):
    line(bench="groupby_load", impl="shardflow", ranks=2, run=run, seconds=0.3)
    for q, (rows, chk) in ref.items():
        line(bench=f"groupby_{q}", impl="shardflow", ranks=2, run=run, seconds=0.05 * run, stage_seconds=0.01,
             peak_bytes=2**27 * (2 if q == "q10" else 1), rows=rows, chk=chk)
    line(bench="groupby_peak_memory", impl="shardflow", ranks=2, run=run, bytes=2**28)
line(bench="load_average_end", value="1 1 1")
PY
}
# report NAME CODE: runs the report on $TMP/NAME.json, requires exit CODE.
report() {
  local rc=0
  "$PY" "$REPORT" "$TMP/$1.json" "$TMP/$1.md" 1000000 >"$TMP/$1.out" 2>&1 || rc=$?
  [ "$rc" = "$2" ] || { cat "$TMP/$1.out"; fail "$1: report exit $rc, expected $2"; }
}

results equal ''
report equal 0
grep -q "Checks against DuckDB (row count, sum of each answer column): all equal" "$TMP/equal.md" || fail "equal: $(cat "$TMP/equal.md")"
grep -qF "| shardflow 2 ranks | 0.300 / 0.300 | 0.050 / 0.050 |" "$TMP/equal.md" || fail "equal: first/best of shardflow's runs: $(cat "$TMP/equal.md")"
grep -qF "shardflow 2 ranks: peak memory per rank 256 MiB, reached by q10 (first run)." "$TMP/equal.md" || fail "equal: peak: $(cat "$TMP/equal.md")"
grep -qF -- "- q1: 0.050 s vs fastest peer duckdb 2 threads 0.200 s: met" "$TMP/equal.md" || fail "equal: targets: $(cat "$TMP/equal.md")"
pass "answers equal up to summation order, NaN = NaN, null = null: accepted"

results rows 'a["q8"] = (19999, a["q8"][1])'
report rows 1
grep -qF "polars 2 threads q8: 19999 rows" "$TMP/rows.md" || fail "rows: $(cat "$TMP/rows.md")"
results int 'a["q7"][1]["range_v1_v2"] = 39991'
report int 1
grep -qF "polars 2 threads q7:" "$TMP/int.md" || fail "int: $(cat "$TMP/int.md")"
# An integer checksum is exact even where 1e-9 relative would let it pass (a sum near 1e13).
results bigint 'ref["q5"][1]["v2"] = 8002921000000; a["q5"][1]["v2"] = 8002921000001'
report bigint 1
grep -qF "polars 2 threads q5:" "$TMP/bigint.md" || fail "bigint: $(cat "$TMP/bigint.md")"
results float 'a["q6"][1]["sd_v3"] *= 1 + 1e-8'
report float 1
grep -qF "polars 2 threads q6:" "$TMP/float.md" || fail "float: $(cat "$TMP/float.md")"
results nan 'a["q9"][1]["r2"] = 100.1'
report nan 1
results null 'a["q10"][1]["v3"] = 0.0'
report null 1
results missing 'del a["q4"]'
report missing 1
grep -qF "polars 2 threads: no answer to q4" "$TMP/missing.md" || fail "missing: $(cat "$TMP/missing.md")"
pass "a different row count, integer checksum, float checksum beyond 1e-9, NaN, null or a missing answer: refused, named"

# A peer that failed (the script records why: Polars is killed for memory at 1e8 rows here) is
# reported as failed with what it answered; its missing answers fail no check, and the targets
# are taken against the peers that answered.
results failed 'for q in ["q4", "q5", "q6", "q7", "q8", "q9", "q10"]: del a[q]'
echo '{"bench":"groupby_failed","impl":"polars","threads":2,"reason":"killed by signal 9 (SIGKILL)"}' >>"$TMP/failed.json"
echo '{"bench":"groupby_failed","impl":"dask","threads":2,"reason":"exit status 1"}' >>"$TMP/failed.json"
report failed 0
grep -qF "polars 2 threads failed: killed by signal 9 (SIGKILL); its missing answers are left out" "$TMP/failed.md" || fail "failed: $(cat "$TMP/failed.md")"
grep -qF "| dask 2 workers | - | - |" "$TMP/failed.md" || fail "failed: no row for dask: $(cat "$TMP/failed.md")"
grep -qF "| polars 2 threads | 0.500 / 0.500 | 0.200 / 0.100 |" "$TMP/failed.md" || fail "failed: polars' answers: $(cat "$TMP/failed.md")"
grep -qF "| - (no q4, q5, q6, q7, q8, q9, q10) | 1024 MiB |" "$TMP/failed.md" || fail "failed: a total over some questions: $(cat "$TMP/failed.md")"
grep -qF -- "- q4: 0.050 s vs fastest peer duckdb 2 threads 0.200 s: met" "$TMP/failed.md" || fail "failed: targets: $(cat "$TMP/failed.md")"
# A wrong answer given before failing is still refused.
results failed_wrong 'a["q2"] = (9999, a["q2"][1]); del a["q10"]'
echo '{"bench":"groupby_failed","impl":"polars","threads":2,"reason":"exit status 1"}' >>"$TMP/failed_wrong.json"
report failed_wrong 1
grep -qF "polars 2 threads q2: 9999 rows" "$TMP/failed_wrong.md" || fail "failed_wrong: $(cat "$TMP/failed_wrong.md")"
pass "a failed peer is reported with its reason; the answers it gave are checked, the missing ones are not"
echo "5 passed, 0 failed"
