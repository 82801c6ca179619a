#!/usr/bin/env bash
# adam, and adamw with a cosine learning-rate schedule after a warm-up, through a job: training
# crashed by an injected fault after a checkpoint, then resumed with --resume auto, at 2 ranks and
# at 1, ends with the uninterrupted run's weights bit for bit (the checkpoint carries optimizer/m
# and optimizer/s; the schedule is a function of the step). A checkpoint of one optimizer is
# not resumed by another: the fingerprint covers the train section, so training starts over.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
for opt in "{type: adam, lr: 0.01, batch_size: 2000, epochs: 3}" \
  "{type: adamw, lr: 0.01, batch_size: 2000, epochs: 3, weight_decay: 0.05,
    schedule: {type: cosine, warmup_steps: 10, min_lr: 0.001}}"; do
  name=$(echo "$opt" | head -n 1 | sed 's/{type: \([a-z]*\).*/\1/')
  ARGS=(run jobs/quickstart.yaml --set "train.optimizer=$opt" --set train.checkpoint.every_steps=20)
  expect_exit 0 300 "$name-straight" 2 "${ARGS[@]}" --set "workdir=$TMP/$name-straight"
  grep -q "training logistic (binary classification, 5 parameters) with $name on" "$TMP/$name-straight.err" \
    "$TMP/$name-straight.out" || fail "$name: the log does not name the optimizer"
  $PY - "$TMP/$name-straight/model.h5" <<'PY' || fail "$name: model.h5 lacks the optimizer state"
import h5py, sys
f = h5py.File(sys.argv[1], "r")
assert "optimizer/m" in f and "optimizer/s" in f and "optimizer/velocity" not in f, list(f)
assert f["optimizer/m"].shape == f["model/weights"].shape
PY
  # Crash rank 1 after step 50 (checkpoints at 20 and 40), resume at 2 ranks.
  SHARDFLOW_INJECT_FAULT="train_step:50@1" expect_exit 1 300 "$name-crashed" 2 "${ARGS[@]}" \
    --set "workdir=$TMP/$name-crashed"
  cp -r "$TMP/$name-crashed" "$TMP/$name-crashed1"
  expect_exit 0 300 "$name-resumed" 2 "${ARGS[@]}" --set "workdir=$TMP/$name-crashed" --resume auto
  from=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['resumed_from_step'])" \
    "$TMP/$name-crashed/metrics.json")
  [ "$from" = 40 ] || fail "$name: resumed from step $from, expected 40"
  $PY tests/support/compare_runs.py "$TMP/$name-straight" "$TMP/$name-crashed" --ordered test_set \
    || fail "$name: resumed != uninterrupted"
  # The same checkpoint resumed by one process.
  expect_exit 0 300 "$name-resumed1" 0 "${ARGS[@]}" --set "workdir=$TMP/$name-crashed1" --resume auto
  $PY tests/support/compare_runs.py "$TMP/$name-straight" "$TMP/$name-crashed1" --ordered test_set \
    --across-ranks || fail "$name: resumed on 1 rank != uninterrupted on 2"
done
# adam's checkpoints are not resumed as sgd: training starts over (and says why).
expect_exit 0 300 sgd-over-adam 2 run jobs/quickstart.yaml --set train.checkpoint.every_steps=20 \
  --set "workdir=$TMP/adam-straight" --resume auto
grep -q "training starts over: no checkpoint" "$TMP/sgd-over-adam.err" "$TMP/sgd-over-adam.out" \
  || fail "sgd resumed adam's checkpoints"
pass "adam and adamw resume bit-identically at 2 and 1 ranks; another optimizer starts over"
