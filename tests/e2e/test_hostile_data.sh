#!/usr/bin/env bash
# Data that used to give silently wrong answers now ends with a clear error (issue 7):
#   - an int64 sum past the int64 range is exit 3 naming the step and the exact sum, never a
#     wrapped number (INT64_MAX + 1 once summed to INT64_MIN);
#   - floats with a leading '+' or past double's range were rejected as malformed.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
printf 'k,v\n1,9223372036854775807\n2,5\n1,1\n2,-5\n' > "$TMP/overflow.csv"
cat > "$TMP/overflow.yaml" <<YAML
name: overflow
workdir: $TMP/w
inputs:
  t: {format: csv, path: $TMP/overflow.csv, schema: {k: int64, v: int64}}
steps:
  - {op: group_by, input: t, keys: [k], aggs: {v: [sum]}, output: sums}
outputs:
  - {table: sums, path: sums.csv}
YAML
for np in 1 2 3; do
  expect_exit 3 60 "overflow$np" "$np" run "$TMP/overflow.yaml"
  grep -q "overflow.yaml:6:[0-9]*: step 1 (group_by): .*sum of column 'v' overflows int64: a group's exact sum is 9223372036854775808" \
    "$TMP/overflow$np.err" || { cat "$TMP/overflow$np.err"; fail "overflow message at $np rank(s)"; }
  [ "$(count_lines "overflows int64" "$TMP/overflow$np.err")" = 1 ] || fail "overflow reported more than once"
  [ -e "$TMP/w/outputs/sums.csv" ] && fail "an output was written although the sum overflowed"
done
pass "int64 sum overflow: exit 3 with the exact sum, at 1-3 ranks"
# Floats written with a leading '+' or beyond double's range read as pandas, DuckDB and strtod
# read them (1e-400 -> 0, 1e400 -> inf), with the schema given and with inferred types.
printf 'k,x\n1,+1.5\n1,1e-400\n1,-2\n2,1e400\n2,+.25e1\n' > "$TMP/floats.csv"
for schema in "schema: {k: int64, x: float64}" ""; do
  cat > "$TMP/floats.yaml" <<YAML
name: floats
workdir: $TMP/wf
inputs:
  t: {format: csv, path: $TMP/floats.csv${schema:+, $schema}}
steps:
  - {op: group_by, input: t, keys: [k], aggs: {x: [sum]}, output: sums}
outputs:
  - {table: sums, path: sums.csv}
YAML
  expect_exit 0 60 floats 2 run "$TMP/floats.yaml" --no-cache
  sort "$TMP/wf/outputs/sums.csv" > "$TMP/sums.sorted"
  printf '1,-0.5\n2,inf\nk,x_sum\n' | cmp - "$TMP/sums.sorted" \
    || { cat "$TMP/wf/outputs/sums.csv"; fail "float parsing (${schema:-inferred types})"; }
done
pass "+1.5, 1e-400 and 1e400 read like pandas and DuckDB read them"
# A metric undefined on the evaluation data (AUC with one class) is reported as not computable,
# once, and the other metrics and metrics.json are still written.
expect_exit 0 300 oneclass 2 run jobs/quickstart.yaml --set "workdir=$TMP/oneclass" \
  --set 'steps.2.where=id % 5 == 0 and label = 1'
[ "$(count_lines "auc is not computable: roc_auc: the evaluation data has" "$TMP/oneclass.err")" = 1 ] \
  || { cat "$TMP/oneclass.err"; fail "one-class AUC warning (exactly once)"; }
$PY -c '
import json, sys
m = json.load(open(sys.argv[1] + "/metrics.json"))
assert m["metrics"]["auc"] is None and m["metrics_not_computable"] == ["auc"], m["metrics"]
assert 0 < m["metrics"]["accuracy"] <= 1 and m["metrics"]["logloss"] > 0, m["metrics"]' "$TMP/oneclass" \
  || fail "metrics.json after a not-computable metric"
pass "AUC on a one-class test set: a warning, null in metrics.json, the other metrics kept"
# Training whose loss explodes (unscaled features, a large learning rate: batch loss 11225 and
# AUC 0.5 once ended with exit 0) stops with exit 1 and says what to change.
expect_exit 1 300 diverged 2 run jobs/quickstart.yaml --set "workdir=$TMP/diverged" \
  --set 'train.transforms=[]' --set train.optimizer.lr=100 --set train.optimizer.momentum=0.99
grep -q "training diverged at step [0-9]*: the batch loss is .*; lower train.optimizer.lr (now 100) or scale the features" \
  "$TMP/diverged.err" || { cat "$TMP/diverged.err"; fail "divergence message"; }
[ "$(count_lines "training diverged" "$TMP/diverged.err")" = 1 ] || fail "divergence reported more than once"
[ -e "$TMP/diverged/metrics.json" ] && fail "a diverged training wrote metrics.json"
pass "an exploding loss stops training with exit 1"
echo "1 passed, 0 failed"
