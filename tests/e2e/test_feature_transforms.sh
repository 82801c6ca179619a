#!/usr/bin/env bash
# Feature transforms on a table with missing values and string, integer and bool categories:
# impute (median, most_frequent, constant), one_hot, index, hash, standard and min-max scaling.
# The fitted values in model.h5 equal pandas' on the training rows; the job gives bit-identical
# weights at 2 ranks and as one process and resumes a crashed run to the same weights; scoring
# with `shardflow predict` reproduces the evaluation's accuracy; an unknown category stops
# scoring with its row, or encodes as zeros with unknown: ignore; validate rejects pipelines that
# cannot work, naming the line.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

# ---- data: 30000 rows; the label depends on every feature ---------------------------------------
$PY - "$TMP/data.csv" <<'PY'
import csv, math, random, sys
rng = random.Random(11)
cities = ["oslo", "lima", "paris", "rome", "berlin", "quito"]
effect = {"oslo": -1.5, "lima": -0.5, "paris": 0.0, "rome": 0.7, "berlin": 1.5, "quito": 0.3}
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "age", "income", "city", "plan", "device", "vip", "label"])
    for i in range(30000):
        age = rng.gauss(40, 12)
        income = rng.lognormvariate(10, 0.5)
        city = rng.choice(cities)
        plan = rng.choice([3, 12, 24])
        device = f"dev{rng.randrange(500)}"
        vip = rng.random() < 0.2
        z = 0.05 * (age - 40) + 0.8 * (math.log(income) - 10) + effect[city] + (plan - 12) / 12 + (1.0 if vip else -0.2)
        y = 1 if rng.random() < 1 / (1 + math.exp(-2 * z)) else 0
        w.writerow([i,
                    "" if rng.random() < 0.05 else f"{age:.3f}",
                    "nan" if rng.random() < 0.03 else f"{income:.2f}",
                    "" if rng.random() < 0.04 else city,
                    plan, device, "true" if vip else "false", y])
PY

cat >"$TMP/job.yaml" <<YAML
name: transforms
seed: 5
workdir: $TMP/run
inputs:
  data: {format: csv, path: $TMP/data.csv,
         schema: {id: int64, age: float64, income: float64, city: string, plan: int64,
                  device: string, vip: bool, label: int64}}
steps:
  - {op: split, input: data, fractions: {train: 0.8, test: 0.2}}
outputs:
  - {table: train, path: train.csv, format: csv}
  - {table: test, path: test.csv, format: csv}
  - {table: test, path: test.h5}
train:
  input: train
  label: label
  features: {numeric: [age, income], categorical: [city, plan, device, vip]}
  transforms:
    - {impute: median}
    - {impute: {strategy: most_frequent, columns: [city]}}
    - {one_hot: {columns: [city, vip]}}
    - {index: [plan]}
    - {hash: {columns: [device], buckets: 16}}
    - {scale: standard}
    - {scale: {method: minmax, columns: [age]}}
  model: {type: logistic}
  optimizer: {type: adam, lr: 0.02, batch_size: 512, epochs: 3}
  checkpoint: {every_steps: 40, keep: 2}
evaluate: {input: test, metrics: [auc, accuracy]}
YAML

expect_exit 0 300 run-2 2 run "$TMP/job.yaml" --set "workdir=$TMP/run-2"
expect_exit 0 300 run-1 0 run "$TMP/job.yaml" --set "workdir=$TMP/run-1"
$PY tests/support/compare_runs.py "$TMP/run-2" "$TMP/run-1" --across-ranks ||
  fail "2 ranks and 1 process differ"
# Crash rank 1 after step 100 (checkpoints at 40 and 80): the resumed run restores the fitted
# pipeline from the checkpoint and ends bit-identical.
SHARDFLOW_INJECT_FAULT="train_step:100@1" expect_exit 1 300 crashed 2 run "$TMP/job.yaml" \
  --set "workdir=$TMP/crashed"
expect_exit 0 300 resumed 2 run "$TMP/job.yaml" --set "workdir=$TMP/crashed" --resume auto
$PY tests/support/compare_runs.py "$TMP/run-2" "$TMP/crashed" || fail "resumed != uninterrupted"

# ---- the fitted values against pandas on the training rows ------------------------------------
$PY - "$TMP/run-2" <<'PY' || fail "fitted feature pipeline"
import json, sys
import h5py, numpy as np, pandas as pd
run = sys.argv[1]
meta = h5py.File(f"{run}/model.h5", "r")["meta"].attrs
get = lambda k: meta[k].decode() if isinstance(meta[k], bytes) else str(meta[k])
p = json.loads(get("feature_pipeline"))
assert json.loads(get("features")) == ["age", "income", "city", "plan", "device", "vip"], get("features")
t = {x["kind"] + str(x["columns"]): x for x in p["transforms"]}
train = pd.read_csv(f"{run}/outputs/train.csv", keep_default_na=False, na_values={"age": [""], "income": ["", "nan"]})
med = t["impute['age', 'income']"]["fill"]
assert med == [float(train.age.median()), float(train.income.median())], (med, train.age.median(), train.income.median())
cities = train.city[train.city != ""]
counts = cities.value_counts()
most = sorted(counts[counts == counts.max()].index)[0]
assert t["impute['city']"]["fill_text"] == [most], (t["impute['city']"], most)
cats = t["one_hot['city', 'vip']"]["categories"]
assert cats == [sorted(cities.unique()), ["false", "true"]], cats
assert t["index['plan']"]["categories"] == [["3", "12", "24"]]
age = train.age.fillna(med[0]); income = train.income.fillna(med[1])
std = t["scale: standard['age', 'income']"]
for got, want in zip(std["offset"], [age.mean(), income.mean()]):
    assert abs(got - want) <= 1e-12 * abs(want), (got, want)
for got, want in zip(std["divisor"], [age.std(ddof=0), income.std(ddof=0)]):
    assert abs(got - want) <= 1e-9 * abs(want), (got, want)
scaled = (age - std["offset"][0]) / std["divisor"][0]
mm = t["scale: minmax['age']"]
assert mm["offset"] == [scaled.min()] and abs(mm["divisor"][0] - (scaled.max() - scaled.min())) == 0, (mm, scaled.min(), scaled.max())
# Numeric features, then each categorical feature's encoding in features.categorical order.
names = ["age", "income"] + [f"city={c}" for c in cats[0]] + ["plan"] + [f"device#{b}" for b in range(16)] + ["vip=false", "vip=true"]
assert p["outputs"] == names, p["outputs"]
m = json.load(open(f"{run}/metrics.json"))
assert m["train"]["parameters"] == len(names) + 1, m["train"]
assert m["metrics"]["auc"] > 0.75, m["metrics"]
PY

# ---- scoring ------------------------------------------------------------------------------------
expect_exit 0 120 predict 2 predict --model "$TMP/run-2/model.h5" --input "$TMP/run-2/outputs/test.csv" \
  --output "$TMP/scored.csv" --keep label --workdir "$TMP/pw1"
$PY - "$TMP/scored.csv" "$TMP/run-2/metrics.json" <<'PY' || fail "predict does not reproduce the evaluation"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
acc = sum(int(r["prediction"]) == int(r["label"]) for r in rows) / len(rows)
m = json.load(open(sys.argv[2]))
assert abs(acc - m["metrics"]["accuracy"]) < 1e-12, (acc, m["metrics"]["accuracy"])
PY
printf 'age,income,city,plan,device,vip\n30,20000,atlantis,12,dev1,true\n' >"$TMP/unknown.csv"
expect_exit 3 60 unknown-city 0 predict --model "$TMP/run-2/model.h5" --input "$TMP/unknown.csv" \
  --output "$TMP/x.csv" --workdir "$TMP/pw2"
grep -q "categorical feature column 'city' holds 'atlantis' at row 0 of rank 0 (global row 0), a category the training data did not have" \
  "$TMP/unknown-city.err" || fail "unknown category: $(cat "$TMP/unknown-city.err")"
grep -q "train.transforms.2 (one_hot)) to encode them as all zeros" "$TMP/unknown-city.err" ||
  fail "unknown category names its encoder: $(cat "$TMP/unknown-city.err")"
expect_exit 0 300 ignore 2 run "$TMP/job.yaml" --set "workdir=$TMP/ignore" \
  --set 'train.transforms.2={one_hot: {columns: [city, vip], unknown: ignore}}'
expect_exit 0 60 unknown-ignored 0 predict --model "$TMP/ignore/model.h5" --input "$TMP/unknown.csv" \
  --output "$TMP/y.csv" --workdir "$TMP/pw3"
grep -q "^30,20000,atlantis,12,dev1,true,[01],0\.[0-9]" "$TMP/y.csv" ||
  fail "unknown: ignore did not score: $(cat "$TMP/y.csv")"

# ---- pipelines that cannot work: validate names the line ---------------------------------------
expect_exit 2 60 string-numeric 0 validate "$TMP/job.yaml" --set 'train.features={numeric: [age, city]}' \
  --set 'train.transforms=[{scale: standard}]'
grep -q "feature column 'city' of table 'train' is string, but must be numeric; list it under features.categorical" \
  "$TMP/string-numeric.err" || fail "string under numeric: $(cat "$TMP/string-numeric.err")"
expect_exit 2 60 no-encoder 0 validate "$TMP/job.yaml" --set 'train.transforms.4={impute: {strategy: constant, columns: [device], value: x}}'
grep -q "job.yaml:.*categorical feature 'device' has no encoder; add one of" "$TMP/no-encoder.err" ||
  fail "no encoder: $(cat "$TMP/no-encoder.err")"
expect_exit 2 60 impute-late 0 validate "$TMP/job.yaml" --set 'train.transforms.6={impute: {strategy: mean, columns: [age]}}'
grep -q "train.transforms.6 (impute): 'age' is imputed twice" "$TMP/impute-late.err" ||
  fail "imputed twice: $(cat "$TMP/impute-late.err")"
expect_exit 2 60 median-city 0 validate "$TMP/job.yaml" --set 'train.transforms.1={impute: {strategy: median, columns: [city]}}'
grep -q "'city' is a categorical feature, which has no median" "$TMP/median-city.err" ||
  fail "median of a category: $(cat "$TMP/median-city.err")"
expect_exit 2 60 bad-transform 0 validate "$TMP/job.yaml" --set 'train.transforms.4={hash: {columns: [device]}}'
grep -q "train.transforms.4.hash" "$TMP/bad-transform.err" || fail "hash without buckets: $(cat "$TMP/bad-transform.err")"
# ---- the example job: same results at 1 and 2 ranks; the encoded category carries signal -------
ROWS=(--set inputs.events.rows=40000)
expect_exit 0 300 example-2 2 run jobs/features.yaml "${ROWS[@]}" --set "workdir=$TMP/example-2"
expect_exit 0 300 example-1 0 run jobs/features.yaml "${ROWS[@]}" --set "workdir=$TMP/example-1"
$PY tests/support/compare_runs.py "$TMP/example-2" "$TMP/example-1" --across-ranks ||
  fail "jobs/features.yaml: 2 ranks and 1 process differ"
expect_exit 0 300 example-numeric 2 run jobs/features.yaml "${ROWS[@]}" \
  --set "workdir=$TMP/example-numeric" --set 'train.features={numeric: [x1, x2, x3, x4]}' \
  --set 'train.transforms=[{impute: median}, {scale: standard}]'
# The data's logit adds -0.5, -0.25, 0, 0.25, 0.5 for seg_a..seg_e: the one-hot coefficients
# must rise in that order by about that much, and the AUC beat the numeric-only model's.
$PY - "$TMP/example-2" "$TMP/example-numeric/metrics.json" <<'PY' ||
import json, sys
import h5py
f = h5py.File(f"{sys.argv[1]}/model.h5", "r")
meta = f["meta"].attrs
get = lambda k: meta[k].decode() if isinstance(meta[k], bytes) else str(meta[k])
names = json.loads(get("feature_pipeline"))["outputs"]
w = f["model/weights"][:]
seg = [w[names.index(f"segment=seg_{c}")] for c in "abcde"]
assert all(a < b for a, b in zip(seg, seg[1:])), seg
assert 0.6 < seg[-1] - seg[0] < 1.4, seg
with_categories = json.load(open(f"{sys.argv[1]}/metrics.json"))["metrics"]["auc"]
numeric_only = json.load(open(sys.argv[2]))["metrics"]["auc"]
assert with_categories > numeric_only, (with_categories, numeric_only)
PY
  fail "jobs/features.yaml: the encoded segment did not improve the AUC"
pass "feature transforms: fitted as pandas, bit-identical at 1 and 2 ranks and across resume, scored by predict, clear errors"
