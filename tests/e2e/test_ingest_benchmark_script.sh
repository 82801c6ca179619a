#!/usr/bin/env bash
# benchmarks/ingest_comparisons.sh refuses bad options before building or generating anything, and
# its report (benchmarks/ingest_report.py) gives each round's loads, the per-round ratios and the
# verdict on issue 9's target (3x Polars) from the rounds, refusing results where an engine read
# a different row count or a round lacks an engine. Fast: no build, no data, no peers.
source "$(dirname "$0")/lib.sh"
SCRIPT=$SRC/benchmarks/ingest_comparisons.sh
REPORT=$SRC/benchmarks/ingest_report.py

expect_help '--peers "polars duckdb"'

expect_error unknown_option "unknown option '--bogus' (options: --rows N --out DIR --repeats ROUNDS --ranks LIST --peer-threads LIST --peers LIST --idle S)" --bogus 1
expect_error unknown_peer "unknown peer 'spark' (peers: polars duckdb)" --peers "polars spark"
expect_error bad_idle "--idle must be a whole number of seconds, got 'soon'" --idle soon
expect_error bad_rows "--rows must be a non-negative number" --rows lots
pass "bad options are refused before any build, naming the problem"

# results NAME SHARDFLOW POLARS DUCKDB [ROWS_OF_POLARS]: a results file, one round per value of
# the space-separated lists (a "-" leaves that engine out of the round).
results() {
  "$PY" - "$TMP/$1.json" "$2" "$3" "$4" "${5:-1000}" <<'PY'
import json, sys
path, sf, pl, dd, pl_rows = sys.argv[1], *[s.split() for s in sys.argv[2:5]], int(sys.argv[5])
out = open(path, "w")
def line(**r): out.write(json.dumps(r) + "\n")
line(bench="load_average_start", value="0.5 0.5 0.5")
for i, (a, b, c) in enumerate(zip(sf, pl, dd), start=1):
    if a != "-": line(bench="csv_ingest_first", impl="shardflow", ranks=2, round=i, rows=1000, seconds=float(a))
    if b != "-": line(bench="csv_ingest_first", impl="polars", threads=2, rows=pl_rows, seconds=float(b), round=i)
    if c != "-": line(bench="csv_ingest_first", impl="duckdb", threads=2, rows=1000, seconds=float(c), round=i)
line(bench="load_average_end", value="0.6 0.6 0.6")
PY
}
# report NAME CODE: runs the report on $TMP/NAME.json, requires exit CODE.
report() {
  local rc=0
  "$PY" "$REPORT" "$TMP/$1.json" "$TMP/$1.md" 1000 >"$TMP/$1.out" 2>&1 || rc=$?
  [ "$rc" = "$2" ] || { cat "$TMP/$1.out"; fail "$1: report exit $rc, expected $2"; }
}

results every "0.5 0.4 0.6" "1.6 1.3 2.1" "2.0 1.9 2.2"
report every 0
grep -qF "| 2 | 0.400 | 1.300 | 1.900 |" "$TMP/every.md" || fail "every: round row: $(cat "$TMP/every.md")"
grep -qF "| median | 0.500 | 1.600 | 2.000 |" "$TMP/every.md" || fail "every: median: $(cat "$TMP/every.md")"
grep -qF "| best | 0.400 | 1.300 | 1.900 |" "$TMP/every.md" || fail "every: best: $(cat "$TMP/every.md")"
grep -qF "per round 3.20, 3.25, 3.50; median 3.25x, lowest 3.20x; target 3x Polars: met in every round" "$TMP/every.md" ||
  fail "every: verdict: $(cat "$TMP/every.md")"
pass "every round at 3x Polars or more: met in every round, with the rounds, median and best"

results median "0.5 0.5 0.5" "1.6 1.4 1.7" "1 1 1"
report median 0
grep -qF "median 3.20x, lowest 2.80x; target 3x Polars: met by the median, not in every round" "$TMP/median.md" ||
  fail "median: $(cat "$TMP/median.md")"
results short "0.6 0.6" "1.2 1.3" "1 1"
report short 0
grep -qF "target 3x Polars: not met" "$TMP/short.md" || fail "short: $(cat "$TMP/short.md")"
pass "one round short: met by the median only; every round short: not met"

results rows "0.5 0.5" "1.6 1.6" "1 1" 999
report rows 1
grep -qF "PROBLEM: polars 2 thread(s) round 1 read 999 rows, expected 1000" "$TMP/rows.md" || fail "rows: $(cat "$TMP/rows.md")"
results missing "0.5 0.5" "1.6 -" "1 1"
report missing 1
grep -qF "PROBLEM: round 2: no load by polars 2 thread(s)" "$TMP/missing.md" || fail "missing: $(cat "$TMP/missing.md")"
printf '{"bench":"load_average_start","value":"1 1 1"}\n' >"$TMP/empty.json"
report empty 2
pass "a different row count or a missing load: refused, named; no loads at all: exit 2"
