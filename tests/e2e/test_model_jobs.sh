#!/usr/bin/env bash
# The example jobs for the linear (regression), softmax (multiclass) and mlp models, through the CLI:
# each learns its data (R² and accuracy well above chance), gives bit-identical weights and equal
# metrics at 2 ranks and as one process, and resumes a crashed run to the uninterrupted weights.
# model.h5 describes itself (type, task, label, features; a softmax's classes). A multiclass
# evaluation writes its confusion matrix. Labels and metrics that do not fit the model stop the
# job with a message naming the column or the metric. Class weights: given ones move recall,
# balanced ones follow the class counts; refused for a regression or an unknown class.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
ROWS=(--set inputs.events.rows=40000)

check_json() {  # check_json FILE PYTHON-EXPRESSION-ON-m MESSAGE
  $PY -c "import json,sys; m=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" ||
    fail "$3: $(cat "$1")"
}

for job in regression multiclass mlp; do
  expect_exit 0 300 "$job-2" 2 run "jobs/$job.yaml" "${ROWS[@]}" --set "workdir=$TMP/$job-2" \
    --set train.checkpoint.every_steps=20
  expect_exit 0 300 "$job-1" 0 run "jobs/$job.yaml" "${ROWS[@]}" --set "workdir=$TMP/$job-1" \
    --set train.checkpoint.every_steps=20
  $PY tests/support/compare_runs.py "$TMP/$job-2" "$TMP/$job-1" --across-ranks ||
    fail "$job: 2 ranks and 1 process differ"
  # Crash rank 1 after step 50 (checkpoints at 20 and 40); --resume auto ends bit-identical.
  SHARDFLOW_INJECT_FAULT="train_step:50@1" expect_exit 1 300 "$job-crashed" 2 run "jobs/$job.yaml" \
    "${ROWS[@]}" --set "workdir=$TMP/$job-crashed" --set train.checkpoint.every_steps=20
  expect_exit 0 300 "$job-resumed" 2 run "jobs/$job.yaml" "${ROWS[@]}" \
    --set "workdir=$TMP/$job-crashed" --set train.checkpoint.every_steps=20 --resume auto
  check_json "$TMP/$job-crashed/metrics.json" "m['train']['resumed_from_step'] == 40" \
    "$job: not resumed from step 40"
  $PY tests/support/compare_runs.py "$TMP/$job-2" "$TMP/$job-crashed" ||
    fail "$job: resumed != uninterrupted"
done

# features.dtype: float32 (the training matrix in float32): bit-identical at 2 ranks and as one
# process, and across a crash and --resume auto (the resumed run assembles float32 again); not
# the float64 run's weights (every value was rounded), but as good a model.
F32=(--set train.features.dtype=float32 --set train.checkpoint.every_steps=20)
expect_exit 0 300 f32-2 2 run jobs/multiclass.yaml "${ROWS[@]}" "${F32[@]}" --set "workdir=$TMP/f32-2"
expect_exit 0 300 f32-1 0 run jobs/multiclass.yaml "${ROWS[@]}" "${F32[@]}" --set "workdir=$TMP/f32-1"
$PY tests/support/compare_runs.py "$TMP/f32-2" "$TMP/f32-1" --across-ranks ||
  fail "float32: 2 ranks and 1 process differ"
check_json "$TMP/f32-2/metrics.json" "m['train']['matrix_type'] == 'float32'" "float32: metrics.json"
check_json "$TMP/multiclass-2/metrics.json" "m['train']['matrix_type'] == 'float64'" "float64: metrics.json"
SHARDFLOW_INJECT_FAULT="train_step:50@1" expect_exit 1 300 f32-crashed 2 run jobs/multiclass.yaml \
  "${ROWS[@]}" "${F32[@]}" --set "workdir=$TMP/f32-crashed"
expect_exit 0 300 f32-resumed 2 run jobs/multiclass.yaml "${ROWS[@]}" "${F32[@]}" \
  --set "workdir=$TMP/f32-crashed" --resume auto
$PY tests/support/compare_runs.py "$TMP/f32-2" "$TMP/f32-crashed" || fail "float32: resumed != uninterrupted"
if $PY tests/support/compare_runs.py "$TMP/multiclass-2" "$TMP/f32-2" >/dev/null 2>&1; then
  fail "float32: the same weights as float64, so the matrix was not float32"
fi
$PY - "$TMP/multiclass-2/metrics.json" "$TMP/f32-2/metrics.json" <<'PY' || fail "float32: a worse model"
import json, sys
a, b = (json.load(open(f))["metrics"] for f in sys.argv[1:])
assert abs(a["accuracy"] - b["accuracy"]) < 0.01 and abs(a["logloss"] - b["logloss"]) < 0.01, (a, b)
PY

check_json "$TMP/mlp-2/metrics.json" \
  "m['train']['model'] == 'mlp' and m['metrics']['auc'] > 0.95 and m['metrics']['accuracy'] > 0.88" \
  "mlp: the model did not learn the circle"
# The same job with a logistic regression cannot (the point of the example).
expect_exit 0 300 mlp-as-logistic 2 run jobs/mlp.yaml "${ROWS[@]}" --set "workdir=$TMP/mlp-logistic" \
  --set 'train.model={type: logistic}'
check_json "$TMP/mlp-logistic/metrics.json" "m['metrics']['auc'] < 0.7" \
  "mlp example: a logistic regression learned the circle, so the example shows nothing"
check_json "$TMP/regression-2/metrics.json" \
  "m['train']['model'] == 'linear' and m['train']['task'] == 'regression' and m['metrics']['r2'] > 0.95 and m['metrics']['rmse'] < 0.5 and m['metrics']['mae'] < m['metrics']['rmse']" \
  "regression: the model did not learn its target"
check_json "$TMP/multiclass-2/metrics.json" \
  "m['train']['model'] == 'softmax' and m['train']['parameters'] == 15 and m['metrics']['accuracy'] > 0.85 and m['metrics']['macro_f1'] > 0.8 and m['metrics']['logloss'] < 0.5" \
  "multiclass: the model did not learn its classes"
# The confusion matrix: classes 0, 1, 2; its counts add up to the evaluation rows, its diagonal to
# the accuracy.
check_json "$TMP/multiclass-2/metrics.json" \
  "(lambda c: c['classes'] == [0, 1, 2] and sum(map(sum, c['counts'])) == m['tables']['test'] and abs(sum(c['counts'][i][i] for i in range(3)) / m['tables']['test'] - m['metrics']['accuracy']) < 1e-12)(m['evaluate']['confusion_matrix'])" \
  "multiclass: confusion matrix"
check_json "$TMP/multiclass-2/metrics.json" "m['evaluate']['seconds'] >= 0 and m['train']['setup_seconds'] >= 0 and len(m['train']['epoch_seconds']) == 4" \
  "multiclass: timings"
$PY - "$TMP/multiclass-2/model.h5" "$TMP/regression-2/model.h5" <<'PY' || fail "model.h5 does not describe itself"
import h5py, json, sys
m = h5py.File(sys.argv[1], "r")
meta = m["meta"].attrs
get = lambda k: meta[k].decode() if isinstance(meta[k], bytes) else str(meta[k])
assert get("model_type") == "softmax" and get("task") == "multiclass classification", dict(meta)
assert get("label") == "tier" and json.loads(get("features")) == ["x1", "x2", "x3", "x4"]
assert list(m["model/classes"][:]) == [0.0, 1.0, 2.0]
assert m["model/weights"].shape == (15,)
r = h5py.File(sys.argv[2], "r")
assert r["meta"].attrs["model_type"] in (b"linear", "linear") and "model/classes" not in r
PY

# The focal loss (focal_gamma): the same weights at 2 ranks and as one process, and it still learns.
for np in 2 0; do
  expect_exit 0 300 "focal-$np" "$np" run jobs/quickstart.yaml --set "workdir=$TMP/focal-$np" \
    --set 'train.model={type: logistic, l2: 1.0e-4, focal_gamma: 2}'
done
$PY tests/support/compare_runs.py "$TMP/focal-2" "$TMP/focal-0" --across-ranks ||
  fail "focal loss: 2 ranks and 1 process differ"
check_json "$TMP/focal-2/metrics.json" "m['metrics']['auc'] > 0.85" "focal loss: the model did not learn"

# ---- labels and metrics that do not fit the model ---------------------------------------------
expect_exit 2 60 metric-task 0 validate jobs/quickstart.yaml --set 'evaluate.metrics=[auc, rmse]' \
  --set register=null  # the quickstart registers by logloss, which these metrics leave out
grep -q "metric 'rmse' is for regression, but the model (type logistic) does binary classification; metrics for binary classification: auc, logloss, accuracy" \
  "$TMP/metric-task.err" || fail "a regression metric on a logistic model: $(cat "$TMP/metric-task.err")"
expect_exit 3 120 binary-on-three 2 run jobs/multiclass.yaml "${ROWS[@]}" \
  --set "workdir=$TMP/binary-on-three" --set 'train.model={type: logistic}' \
  --set 'evaluate.metrics=[accuracy]'
grep -q "label column 'tier' holds 2 at row .* a binary model needs labels 0 or 1 (or bool); for more classes use model type softmax" \
  "$TMP/binary-on-three.err" || fail "three classes on a logistic model: $(cat "$TMP/binary-on-three.err")"
expect_exit 3 120 softmax-on-real 2 run jobs/regression.yaml "${ROWS[@]}" \
  --set "workdir=$TMP/softmax-on-real" --set 'train.model={type: softmax}' \
  --set 'evaluate.metrics=[accuracy]'
grep -q "label column 'target' has more than 1000 distinct values" "$TMP/softmax-on-real.err" ||
  fail "a real target on a softmax model: $(cat "$TMP/softmax-on-real.err")"
# ---- class weights ------------------------------------------------------------------------------
# Given weights: class 1 weighing 4 trades precision for recall of that class.
expect_exit 0 300 unweighted 2 run jobs/quickstart.yaml --set "workdir=$TMP/unweighted" \
  --set 'evaluate.metrics=[recall, precision]' --set register=null
expect_exit 0 300 given 2 run jobs/quickstart.yaml --set "workdir=$TMP/given" \
  --set 'evaluate.metrics=[recall, precision]' --set register=null --set 'train.class_weight={1: 4}'
grep -q "class weights (given): 0: 1, 1: 4" "$TMP/given.err" "$TMP/given.out" ||
  fail "given class weights are not logged"
$PY - "$TMP/unweighted/metrics.json" "$TMP/given/metrics.json" <<'PY' || fail "class 1's weight did not raise its recall"
import json, sys
u, g = (json.load(open(p))["metrics"] for p in sys.argv[1:])
assert g["recall"] > u["recall"] + 0.05 and g["precision"] < u["precision"], (u, g)
PY
# Balanced weights: n / (classes x rows of the class), from the training rows' exact counts (the
# multiclass job's tiers are about 30/40/30%).
expect_exit 0 300 balanced 2 run jobs/multiclass.yaml "${ROWS[@]}" --set "workdir=$TMP/balanced" \
  --set train.class_weight=balanced
line=$(grep -ho "class weights (balanced): .*" "$TMP/balanced.err" "$TMP/balanced.out" | head -1)
$PY - "$line" <<'PY' || fail "balanced class weights: '$line'"
import sys
weights = [float(part.split(": ")[1]) for part in sys.argv[1].split("): ")[1].split(", ")]
assert len(weights) == 3 and weights[1] < 0.9 < 1.05 < weights[0] and weights[2] > 1.05, weights
PY
expect_exit 2 60 weight-on-regression 0 validate jobs/regression.yaml --set train.class_weight=balanced
grep -q "class_weight applies to classification models, but the model (type linear) does regression" \
  "$TMP/weight-on-regression.err" || fail "class_weight on a regression: $(cat "$TMP/weight-on-regression.err")"
expect_exit 2 120 weight-unknown-class 2 run jobs/quickstart.yaml --set "workdir=$TMP/wu" \
  --set 'train.class_weight={7: 2}'
grep -q "class_weight gives a weight to label 7, which is not a class of the training data (classes: 0, 1)" \
  "$TMP/weight-unknown-class.err" || fail "an unknown class's weight: $(cat "$TMP/weight-unknown-class.err")"
pass "regression, multiclass and mlp jobs: learn, bit-identical at 1 and 2 ranks, resume, self-describing model.h5, clear label and metric errors"
