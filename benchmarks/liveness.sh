#!/usr/bin/env bash
# Peak memory per rank of real `shardflow run` jobs, with and without the memory rules of
# docs/architecture.md ("Table liveness"); the peak is the largest peak RSS of any rank, from
# metrics.json. Two cases:
#
#   chain (default): five filters in a chain on 1e7 generated rows, with table liveness (each
#     table freed after its last reader, the default) against without (runtime.table_liveness:
#     false, every table kept to the end). Writes DIR/liveness.md and DIR/liveness.json.
#   split: the training file of train_comparisons.sh (benchmarks/peers/train_data.py synthetic,
#     N x 64 float64, default 2e6 rows) split into 80/20 by one filter with `rest:` (it takes the
#     input over and frees it column by column) against two filters (`id % 5 != 0`, `id % 5 ==
#     0`). Both with runtime.keep_freed_memory=false, so the peak is what is live at once.
#     Writes DIR/liveness-split.md and DIR/liveness-split.json.
#   q10: db-benchmark's q10 (sum v3, count by id1..id6: nearly unique keys, so its rows are
#     shuffled raw) alone on `shardflow gen groupby --rows N` (default 1e7), followed by a count of
#     its rows. With table liveness the group-by is its input's last reader and frees the input once
#     it has copied the rows it shuffles; without (runtime.table_liveness: false) the input stays.
#     Both with runtime.keep_freed_memory=false. Writes DIR/liveness-q10.md and .json.
#
#   benchmarks/liveness.sh [--case chain|split|q10] [--rows N] [--ranks R] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
CASE=chain ROWS="" RANKS=2 OUT=benchmarks/results
while [ $# -gt 0 ]; do
  case "$1" in
    --case) CASE="$2"; shift 2 ;;
    --rows) ROWS=$(python3 -c "print(int(float('$2')))"); shift 2 ;;
    --ranks) RANKS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "liveness.sh: unknown option '$1' (--case chain|split|q10, --rows N, --ranks R, --out DIR)" >&2; exit 2 ;;
  esac
done
case "$CASE" in
  chain) ROWS="${ROWS:-10000000}" ;;
  split) ROWS="${ROWS:-2000000}" ;;
  q10) ROWS="${ROWS:-10000000}" ;;
  *) echo "liveness.sh: unknown case '$CASE' (chain, split or q10)" >&2; exit 2 ;;
esac
BUILD="${SHARDFLOW_BUILD_DIR:-build}"
[ -x "$BUILD/shardflow" ] || { echo "liveness.sh: build shardflow first (bash .ci/build.sh $BUILD)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"

run_peak() {  # JOB LOG [--set ...] -> "peak_bytes seconds" of the run
  local job="$1" log="$2" work
  shift 2
  mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" run "$job" --no-cache "$@" 2>"$log"
  work=$(sed -n 's/^workdir: //p' "$job")
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["memory"]["peak_rss_bytes"], m["seconds"])' "$work/metrics.json"
}

report() {  # NAME TITLE KEY_A LABEL_A KEY_B LABEL_B PEAK_A SECONDS_A PEAK_B SECONDS_B
  python3 - "$OUT" "$ROWS" "$RANKS" "$@" <<'PY'
import json, sys
out, rows, ranks, name, title, key_a, label_a, key_b, label_b, pa, sa, pb, sb = sys.argv[1:]
pa, pb = int(pa), int(pb)
mib = lambda b: b / 2**20
doc = {"case": name, "rows": int(rows), "ranks": int(ranks),
       key_a: {"peak_rss_bytes": pa, "seconds": float(sa)},
       key_b: {"peak_rss_bytes": pb, "seconds": float(sb)},
       "ratio": pb / pa}
json.dump(doc, open(f"{out}/{name}.json", "w"), indent=2)
rows_text = f"{int(rows):.0e}".replace("e+0", "e").replace("e+", "e")
md = (f"| {title}, {rows_text} rows, {ranks} ranks | peak memory per rank | run time |\n"
      f"|---|---|---|\n"
      f"| {label_a} | {mib(pa):.0f} MiB | {float(sa):.2f} s |\n"
      f"| {label_b} | {mib(pb):.0f} MiB | {float(sb):.2f} s |\n"
      f"| ratio | {pb / pa:.2f}x | |\n")
open(f"{out}/{name}.md", "w").write(md)
print(md)
PY
}

if [ "$CASE" = chain ]; then
  WORK="$OUT/liveness-work"
  JOB="$OUT/liveness-job.yaml"
  # Five filters in a chain, each reading the previous step's table: without liveness all six
  # tables (the input and five outputs) are in memory at the end; with it, at most two.
  cat > "$JOB" <<YAML
name: liveness
workdir: $WORK
inputs:
  events: {format: generate, kind: classification, rows: $ROWS}
steps:
  - {op: filter, input: events, where: "amount > -1000000", output: s1}
  - {op: filter, input: s1, where: "x4 < 9.9", output: s2}
  - {op: filter, input: s2, where: "x1 > -5", output: s3}
  - {op: filter, input: s3, where: "x2 < 5", output: s4}
  - {op: filter, input: s4, where: "x3 > -5", output: s5}
outputs:
  - {table: s5, path: s5.h5}
YAML
  # The first run generates the input CSV; both measured runs then read the same file.
  mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" run "$JOB" --no-cache 2>"$OUT/liveness-warmup.log"
  read -r with_peak with_s < <(run_peak "$JOB" "$OUT/liveness-true.log" --set runtime.table_liveness=true)
  read -r without_peak without_s < <(run_peak "$JOB" "$OUT/liveness-false.log" --set runtime.table_liveness=false)
  report liveness "chain of 5 filters" with_liveness "table liveness (default)" \
    without_liveness "every table kept (\`runtime.table_liveness: false\`)" \
    "$with_peak" "$with_s" "$without_peak" "$without_s"
  exit 0
fi

if [ "$CASE" = q10 ]; then
  CSV="$(cd "$OUT" && pwd)/groupby_$ROWS.csv"
  [ -f "$CSV" ] || mpirun -np "$RANKS" --oversubscribe "$BUILD/shardflow" gen groupby --rows "$ROWS" --out "$CSV"
  JOB="$OUT/liveness-q10.yaml"
  cat > "$JOB" <<YAML
name: liveness-q10
workdir: $OUT/liveness-q10-work
inputs:
  x: {format: csv, path: $CSV, schema: {id1: string, id2: string, id3: string, id4: int64, id5: int64, id6: int64, v1: int64, v2: int64, v3: float64}}
steps:
  - {op: group_by, input: x, keys: [id1, id2, id3, id4, id5, id6], aggs: {v3: [sum], "*": [count]}, output: q10}
  - {op: group_by, input: q10, keys: [], aggs: {groups: "count(*)"}, output: q10_rows}
outputs:
  - {table: q10_rows, path: q10_rows.csv}
YAML
  read -r with_peak with_s < <(run_peak "$JOB" "$OUT/liveness-q10-true.log" \
    --set runtime.keep_freed_memory=false --set runtime.table_liveness=true)
  read -r without_peak without_s < <(run_peak "$JOB" "$OUT/liveness-q10-false.log" \
    --set runtime.keep_freed_memory=false --set runtime.table_liveness=false)
  report liveness-q10 "q10 alone" input_freed "input freed by the group-by (default)" \
    input_kept "input kept (\`runtime.table_liveness: false\`)" \
    "$with_peak" "$with_s" "$without_peak" "$without_s"
  exit 0
fi

# split: the same file train_comparisons.sh trains on (written once per row count).
DATA="$(cd "$OUT" && pwd)/train_synthetic_$ROWS.h5"
[ -f "$DATA" ] || "${SHARDFLOW_PYTHON:-/usr/bin/python3}" benchmarks/peers/train_data.py synthetic "$DATA" --rows "$ROWS"
write_split_job() {  # FILE WORKDIR STEPS...
  local file="$1" work="$2"
  shift 2
  {
    echo "name: liveness-split"
    echo "workdir: $work"
    echo "inputs:"
    echo "  data: {format: hdf5, path: $DATA, table: /}"
    echo "steps:"
    for step in "$@"; do echo "  - $step"; done
    echo "outputs:"
    echo "  - {table: train_set, path: train.h5}"
    echo "  - {table: test_set, path: test.h5}"
  } > "$file"
}
REST_JOB="$OUT/liveness-split-rest.yaml"
TWO_JOB="$OUT/liveness-split-two.yaml"
write_split_job "$REST_JOB" "$OUT/liveness-split-rest-work" \
  '{op: filter, input: data, where: "id % 5 != 0", output: train_set, rest: test_set}'
write_split_job "$TWO_JOB" "$OUT/liveness-split-two-work" \
  '{op: filter, input: data, where: "id % 5 != 0", output: train_set}' \
  '{op: filter, input: data, where: "id % 5 == 0", output: test_set}'
read -r rest_peak rest_s < <(run_peak "$REST_JOB" "$OUT/liveness-split-rest.log" --set runtime.keep_freed_memory=false)
read -r two_peak two_s < <(run_peak "$TWO_JOB" "$OUT/liveness-split-two.log" --set runtime.keep_freed_memory=false)
report liveness-split "80/20 split of $(basename "$DATA")" \
  one_filter_with_rest "one filter with \`rest:\`" two_filters "two filters" \
  "$rest_peak" "$rest_s" "$two_peak" "$two_s"
