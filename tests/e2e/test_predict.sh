#!/usr/bin/env bash
# Scoring with a trained model: `shardflow predict` and `op: predict`.
#  - binary (the quickstart), multiclass, regression and mlp models score their held-out tables; the
#    predictions reproduce the run's own evaluation metrics (accuracy, R²), and are the same at
#    2 ranks and as one process;
#  - an `op: predict` step is reused from the stage cache while the model file is unchanged, and
#    reruns when the model is retrained;
#  - a missing model, a file that is not a model, a missing feature, a string feature, a null
#    feature value and bad command lines stop with messages naming them.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
ROWS=(--set inputs.events.rows=20000)

expect_exit 0 300 train-binary 2 run jobs/quickstart.yaml --set "workdir=$TMP/qs" --set train.optimizer.epochs=2
expect_exit 0 300 train-multi 2 run jobs/multiclass.yaml "${ROWS[@]}" --set "workdir=$TMP/mc"
expect_exit 0 300 train-reg 2 run jobs/regression.yaml "${ROWS[@]}" --set "workdir=$TMP/rg"
expect_exit 0 300 train-mlp 2 run jobs/mlp.yaml "${ROWS[@]}" --set "workdir=$TMP/mlp"

expect_exit 0 120 predict-binary-2 2 predict --model "$TMP/qs/model.h5" \
  --input "$TMP/qs/outputs/test_set.h5" --table test_set --output "$TMP/binary-2.csv" \
  --workdir "$TMP/pw1"
expect_exit 0 120 predict-binary-1 0 predict --model "$TMP/qs/model.h5" \
  --input "$TMP/qs/outputs/test_set.h5" --table test_set --output "$TMP/binary-1.csv" \
  --workdir "$TMP/pw2"
cmp "$TMP/binary-2.csv" "$TMP/binary-1.csv" || fail "binary predictions differ between 2 ranks and 1"
expect_exit 0 120 predict-multi 2 predict --model "$TMP/mc/model.h5" \
  --input "$TMP/mc/outputs/test.h5" --table test --output "$TMP/multi.h5" --keep id --keep tier \
  --workdir "$TMP/pw3"
expect_exit 0 120 predict-reg 2 predict --model "$TMP/rg/model.h5" \
  --input "$TMP/rg/outputs/test.h5" --table test --output "$TMP/reg.csv" --keep target \
  --workdir "$TMP/pw4"
expect_exit 0 120 predict-mlp 1 predict --model "$TMP/mlp/model.h5" \
  --input "$TMP/mlp/outputs/test.h5" --table test --output "$TMP/mlp.csv" --keep ring \
  --workdir "$TMP/pw10"

$PY - "$TMP" <<'PY' || fail "predictions do not reproduce the evaluation"
import csv, json, sys
import h5py
import numpy as np
tmp = sys.argv[1]
def metrics(d):
    return json.load(open(f"{tmp}/{d}/metrics.json"))["metrics"]
# Binary: columns of the input, then prediction (0/1) and probability; accuracy as evaluated.
rows = list(csv.DictReader(open(f"{tmp}/binary-2.csv")))
assert list(rows[0])[-2:] == ["prediction", "probability"], list(rows[0])
assert "label" in rows[0] and "x1" in rows[0]
right = sum(int(r["prediction"]) == int(r["label"]) for r in rows)
assert all((float(r["probability"]) >= 0.5) == (r["prediction"] == "1") for r in rows)
acc = metrics("qs")["accuracy"]
assert abs(right / len(rows) - acc) < 1e-12, (right / len(rows), acc)
# Multiclass, to HDF5: id, tier, prediction, probability_0..2.
f = h5py.File(f"{tmp}/multi.h5", "r")
t = f["predictions"]
names = [n for n in t.keys()]
for n in ["id", "tier", "prediction", "probability_0", "probability_1", "probability_2"]:
    assert n in names, names
p = np.stack([t["probability_%d" % c][:] for c in range(3)], axis=1)
assert np.allclose(p.sum(axis=1), 1.0, atol=1e-12)
assert (np.argmax(p, axis=1) == t["prediction"][:]).all()
acc = float((t["prediction"][:] == t["tier"][:]).mean())
assert abs(acc - metrics("mc")["accuracy"]) < 1e-12, (acc, metrics("mc")["accuracy"])
# Regression: R² of the predictions as evaluated (float sums: to 1e-9).
rows = list(csv.DictReader(open(f"{tmp}/reg.csv")))
assert list(rows[0]) == ["target", "prediction"], list(rows[0])
y = np.array([float(r["target"]) for r in rows]); q = np.array([float(r["prediction"]) for r in rows])
r2 = 1 - ((y - q) ** 2).sum() / ((y - y.mean()) ** 2).sum()
assert abs(r2 - metrics("rg")["r2"]) < 1e-9, (r2, metrics("rg")["r2"])
# MLP (rebuilt from the model file's model_spec: layers, activation, task).
rows = list(csv.DictReader(open(f"{tmp}/mlp.csv")))
right = sum(int(r["prediction"]) == (r["ring"] in ("1", "true")) for r in rows)
assert abs(right / len(rows) - metrics("mlp")["accuracy"]) < 1e-12, (right / len(rows), metrics("mlp"))
print("ok: predictions reproduce accuracy", acc, "and r2", r2)
PY

# ---- op: predict in a job, and the stage cache --------------------------------------------------
cat >"$TMP/score.yaml" <<YAML
name: score
workdir: $TMP/score
inputs:
  events: {format: hdf5, path: $TMP/qs/outputs/test_set.h5, table: test_set}
steps:
  - {op: predict, input: events, model: $TMP/model.h5, keep: [id, label], output: scored}
  - {op: group_by, input: scored, keys: [prediction], aggs: {"*": [count]}, output: counts}
outputs:
  - {table: counts, path: counts.csv, format: csv}
YAML
cp "$TMP/qs/model.h5" "$TMP/model.h5"
expect_exit 0 120 score-1 2 run "$TMP/score.yaml"
expect_exit 0 120 score-2 2 run "$TMP/score.yaml"
grep -q "step 1 (predict) 'scored': reused" "$TMP/score-2.err" "$TMP/score-2.out" ||
  fail "an unchanged model did not reuse the predict step: $(cat "$TMP/score-2.err")"
cp "$TMP/score/outputs/counts.csv" "$TMP/counts-1.csv"
# Retrain (one more epoch) and put the new model in place: the predict step reruns.
expect_exit 0 300 retrain 2 run jobs/quickstart.yaml --set "workdir=$TMP/qs3" --set train.optimizer.epochs=3
cp "$TMP/qs3/model.h5" "$TMP/model.h5"
expect_exit 0 120 score-3 2 run "$TMP/score.yaml"
if grep -q "step 1 (predict) 'scored': reused" "$TMP/score-3.err" "$TMP/score-3.out"; then
  fail "a retrained model reused the old predictions"
fi

# ---- errors ---------------------------------------------------------------------------------------
expect_exit 2 60 no-model 0 predict --model "$TMP/nope.h5" --input "$TMP/binary-1.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw5"
grep -q "nope.h5" "$TMP/no-model.err" || fail "missing model: $(cat "$TMP/no-model.err")"
expect_exit 2 60 not-a-model 0 predict --model "$TMP/multi.h5" --input "$TMP/binary-1.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw6"
grep -q "multi.h5" "$TMP/not-a-model.err" || fail "a table file as model: $(cat "$TMP/not-a-model.err")"
expect_exit 2 60 missing-feature 0 predict --model "$TMP/qs/model.h5" --input "$TMP/reg.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw7"
grep -q "was trained on feature 'x1', but unknown column 'x1'" "$TMP/missing-feature.err" ||
  fail "missing feature: $(cat "$TMP/missing-feature.err")"
expect_exit 2 60 no-table 0 predict --model "$TMP/qs/model.h5" --input "$TMP/qs/outputs/test_set.h5" \
  --output "$TMP/x.csv"
grep -q "name the table to score with --table" "$TMP/no-table.err" || fail "HDF5 without --table"
printf 'x1,x2,x3,x4\n1,2,3,4\n0.5,,1,2\n' >"$TMP/nulls.csv"
expect_exit 3 60 null-feature 0 predict --model "$TMP/qs/model.h5" --input "$TMP/nulls.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw8"
grep -q "feature column 'x2' is null at row 1" "$TMP/null-feature.err" ||
  fail "null feature: $(cat "$TMP/null-feature.err")"
printf 'x1,x2,x3,x4\n1,abc,3,4\n' >"$TMP/strings.csv"
# A CSV column's type is known when it is read: a string feature stops the run (exit 3).
expect_exit 3 60 string-feature 0 predict --model "$TMP/qs/model.h5" --input "$TMP/strings.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw9"
grep -q "feature column 'x2' has type string; a numeric feature must be" "$TMP/string-feature.err" ||
  fail "string feature: $(cat "$TMP/string-feature.err")"
pass "predict: binary, multiclass, regression reproduce the evaluation at 1 and 2 ranks; op: predict reruns when the model changes; clear errors"
