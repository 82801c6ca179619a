#!/usr/bin/env bash
# train.early_stopping: the metric on a validation table after every epoch; training stops once
# `patience` epochs have not improved on the best by more than min_delta and keeps the best
# epoch's weights. With a min_delta no later epoch can beat, the run stops after 1 + patience
# epochs and its model is bit-identical to a one-epoch run's. Same results at 1 and 2 ranks; a
# crashed run resumes to the same decision and weights; a rerun reuses the finished model;
# validate rejects a metric that does not fit the model and an unknown table.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

cat >"$TMP/job.yaml" <<YAML
name: early
seed: 9
workdir: $TMP/run
inputs:
  events: {format: generate, kind: classification, rows: 30000}
steps:
  - {op: split, input: events, fractions: {train: 0.6, valid: 0.2, test: 0.2}}
outputs:
  - {table: test, path: test.h5}
train:
  input: train
  label: label
  features: {numeric: [x1, x2, x3, x4], categorical: [segment]}
  transforms: [{one_hot: [segment]}, {scale: standard}]
  model: {type: logistic}
  optimizer: {type: adam, lr: 0.01, batch_size: 512, epochs: 8}
  checkpoint: {every_steps: 16, keep: 2}
  early_stopping: {input: valid, metric: logloss, patience: 2, min_delta: 1.0e9}
evaluate: {input: valid, metrics: [logloss, auc]}
YAML

expect_exit 0 300 stop-2 2 run "$TMP/job.yaml" --set "workdir=$TMP/stop-2" --log-level debug
# Training frees its input table once the matrix is assembled, but not the early-stopping table,
# which it reads after every epoch (nor, in the run with train as both below, the training table).
grep -q "freed table 'train' early" "$TMP/stop-2.err" || fail "the training table was not freed"
! grep -q "freed table 'valid' early" "$TMP/stop-2.err" || fail "the validation table was freed"
grep -q "early stopping after epoch 3: keeping the weights of epoch 1" "$TMP/stop-2.err" ||
  fail "no early stop after epoch 3: $(grep -i epoch "$TMP/stop-2.err")"
expect_exit 0 300 stop-1 0 run "$TMP/job.yaml" --set "workdir=$TMP/stop-1"
$PY tests/support/compare_runs.py "$TMP/stop-2" "$TMP/stop-1" --across-ranks ||
  fail "2 ranks and 1 process differ"
# The kept model is the one-epoch model, bit for bit, and the evaluation on the validation table
# repeats the first epoch's value.
expect_exit 0 300 one-epoch 2 run "$TMP/job.yaml" --set "workdir=$TMP/one-epoch" \
  --set 'train.early_stopping=' --set train.optimizer.epochs=1
$PY - "$TMP/stop-2" "$TMP/one-epoch" <<'PY' || fail "the kept model is not epoch 1's"
import json, sys
import h5py, numpy as np
stop, one = sys.argv[1:]
a = h5py.File(f"{stop}/model.h5", "r")["model/weights"][:]
b = h5py.File(f"{one}/model.h5", "r")["model/weights"][:]
assert a.tobytes() == b.tobytes(), (a, b)
m = json.load(open(f"{stop}/metrics.json"))
es = m["train"]["early_stopping"]
assert es["stopped"] and es["best_epoch"] == 1 and len(es["history"]) == 3, es
assert es["history"][0] == es["best_value"] == m["metrics"]["logloss"], (es, m["metrics"])
assert m["train"]["steps"] < 8 * 36, m["train"]
assert json.load(open(f"{one}/metrics.json"))["metrics"]["logloss"] == es["history"][0]
PY

# A rerun reuses the finished (early-stopped) model; a crash in epoch 3 resumes to the same end.
expect_exit 0 300 rerun 2 run "$TMP/job.yaml" --set "workdir=$TMP/stop-2"
grep -q "training: reused the finished model" "$TMP/rerun.err" ||
  fail "the early-stopped model was not reused: $(cat "$TMP/rerun.err")"
SHARDFLOW_INJECT_FAULT="train_step:90@1" expect_exit 1 300 crashed 2 run "$TMP/job.yaml" \
  --set "workdir=$TMP/crashed"
expect_exit 0 300 resumed 2 run "$TMP/job.yaml" --set "workdir=$TMP/crashed" --resume auto
grep -q "resuming training from step 80" "$TMP/resumed.err" ||
  fail "not resumed from step 80: $(grep -i resum "$TMP/resumed.err")"
$PY tests/support/compare_runs.py "$TMP/stop-2" "$TMP/crashed" || fail "resumed != uninterrupted"

# Early stopping on the training table itself: it stays for the epochs' evaluations.
expect_exit 0 300 on-train 2 run "$TMP/job.yaml" --set "workdir=$TMP/on-train" --log-level debug \
  --set 'train.early_stopping={input: train, metric: auc, patience: 100}' --set train.optimizer.epochs=2
! grep -q "freed table 'train' early" "$TMP/on-train.err" ||
  fail "the training table was freed though early stopping reads it"

# Without a stop, all epochs run and the best one is kept.
expect_exit 0 300 all 2 run "$TMP/job.yaml" --set "workdir=$TMP/all" \
  --set 'train.early_stopping={input: valid, metric: auc, patience: 100}' --set train.optimizer.epochs=3
$PY - "$TMP/all/metrics.json" <<'PY' || fail "all epochs: the best is not kept"
import json, sys
m = json.load(open(sys.argv[1]))
es = m["train"]["early_stopping"]
assert not es["stopped"] and len(es["history"]) == 3, es
assert es["best_value"] == max(es["history"]) and es["history"][es["best_epoch"] - 1] == es["best_value"], es
assert m["metrics"]["auc"] == es["best_value"], (m["metrics"], es)
PY

# ---- errors -------------------------------------------------------------------------------------
expect_exit 2 60 wrong-metric 0 validate "$TMP/job.yaml" \
  --set 'train.early_stopping={input: valid, metric: rmse}'
grep -q "train.early_stopping: metric 'rmse' is for regression, but the model (type logistic) does binary classification" \
  "$TMP/wrong-metric.err" || fail "a regression metric: $(cat "$TMP/wrong-metric.err")"
expect_exit 2 60 no-table 0 validate "$TMP/job.yaml" \
  --set 'train.early_stopping={input: vaild, metric: auc}'
grep -q "vaild" "$TMP/no-table.err" && grep -q "did you mean 'valid'" "$TMP/no-table.err" ||
  fail "an unknown validation table: $(cat "$TMP/no-table.err")"
expect_exit 2 60 patience 0 validate "$TMP/job.yaml" \
  --set 'train.early_stopping={input: valid, metric: auc, patience: 0}'
grep -q "train.early_stopping.patience must be >= 1, got 0" "$TMP/patience.err" ||
  fail "patience 0: $(cat "$TMP/patience.err")"
pass "early stopping: stops after patience, keeps the best epoch bit for bit, same at 1 and 2 ranks, resumes, reuses; clear errors"
