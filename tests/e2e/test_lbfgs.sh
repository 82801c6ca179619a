#!/usr/bin/env bash
# optimizer: {type: lbfgs} through a job: L2 logistic regression on standardized features reaches
# scikit-learn's LogisticRegression(lbfgs) optimum (C = 1 / (l2 n), the same objective) within
# 1e-6 relative, and metrics.json's objective is that objective; 2 ranks and 1 process give
# bit-identical weights; a run crashed after iteration 5 resumes from its checkpoint (at 2 ranks,
# and at 1) to the uninterrupted weights bit for bit; a rerun reuses the finished model; the
# linear model reaches scikit-learn's Ridge and softmax its multinomial LogisticRegression; with
# an L1 + L2 penalty (OWL-QN) it reaches saga's elastic-net objective with the same exact zeros,
# identically at 1 and 2 ranks; validate rejects lbfgs on an mlp and mini-batch settings, naming
# the line.
source "$(dirname "$0")/lib.sh"
cd "$SRC"

# ---- data: 4000 rows, features of different scales, a noisy logistic label ---------------------
$PY - "$TMP/data.csv" <<'PY'
import csv, math, random, sys
rng = random.Random(7)
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["a", "b", "c", "d", "e", "label", "target", "klass"])
    for i in range(4000):
        a, b, c = rng.gauss(0, 1), rng.gauss(50, 10), rng.uniform(-3, 3)
        d, e = rng.expovariate(0.2), rng.gauss(0, 1) + 0.5 * a
        z = 0.8 * a - 0.05 * (b - 50) + 0.6 * c + 0.1 * d - 0.7 * e - 0.4
        y = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
        scores = [z + rng.gauss(0, 1), c + rng.gauss(0, 1), -z + 0.3 * d + rng.gauss(0, 1)]
        k = [2, 5, 7][scores.index(max(scores))]
        w.writerow([f"{a:.6f}", f"{b:.6f}", f"{c:.6f}", f"{d:.6f}", f"{e:.6f}", y,
                    f"{z + rng.gauss(0, 0.5):.6f}", k])
PY

cat >"$TMP/job.yaml" <<YAML
name: lbfgs
seed: 3
workdir: $TMP/run
inputs:
  data: {format: csv, path: $TMP/data.csv,
         schema: {a: float64, b: float64, c: float64, d: float64, e: float64, label: int64,
                  target: float64, klass: int64}}
outputs:
  - {table: data, path: data.h5}
train:
  input: data
  label: label
  features: {numeric: [a, b, c, d, e]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-3}
  optimizer: {type: lbfgs, memory: 4}
  checkpoint: {every_steps: 2, keep: 2}
evaluate: {input: data, metrics: [logloss, auc]}
YAML

expect_exit 0 300 run-2 2 run "$TMP/job.yaml" --set "workdir=$TMP/run-2"
grep -q "training logistic (binary classification, 6 parameters) with lbfgs on 4000 rows" \
  "$TMP/run-2.err" "$TMP/run-2.out" || fail "the log does not name lbfgs"
grep -q "lbfgs stopped after [0-9]* iterations ([0-9]* objective and gradient passes over the data): the gradient is within the tolerance" \
  "$TMP/run-2.err" "$TMP/run-2.out" || fail "lbfgs did not converge: $(grep lbfgs "$TMP/run-2.err")"
# The last iteration's progress line: the objective (not a batch loss), and the rows of a full
# pass per iteration (4000), not the batch-size sentinel (once 4.79e+18 rows/s).
line=$(grep -h "step [0-9]*/100 (epoch [0-9]*), objective 0\.[0-9]*, [0-9.e+]* rows/s, ETA [0-9]* s at most" \
  "$TMP/run-2.err" "$TMP/run-2.out" | tail -1)
[[ -n $line ]] || fail "no progress line for the last lbfgs iteration: $(grep -h "step " "$TMP/run-2.err")"
rate=$(sed 's/.*, \([0-9.e+]*\) rows\/s.*/\1/' <<<"$line")
awk -v r="$rate" 'BEGIN { exit !(r > 0 && r < 1e9) }' || fail "lbfgs progress rate $rate rows/s is not a pass over 4000 rows per iteration"
expect_exit 0 300 run-1 0 run "$TMP/job.yaml" --set "workdir=$TMP/run-1"
$PY tests/support/compare_runs.py "$TMP/run-2" "$TMP/run-1" --across-ranks ||
  fail "2 ranks and 1 process differ"

# ---- the optimum against scikit-learn's on the same standardized data ---------------------------
# shardflow minimizes mean(log(1 + e^z) - y z) + l2/2 ||coef||^2; scikit-learn minimizes
# C sum(log(1 + e^z) - y z) + 1/2 ||coef||^2, the same function times C n for C = 1 / (l2 n).
$PY - "$TMP/run-2" "$TMP/data.csv" <<'PY' || fail "lbfgs does not reach scikit-learn's optimum"
import json, sys
import h5py, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
run, data = sys.argv[1:]
sys.path.insert(0, "tests/support")
from scaled_model import load
w, x, df = load(run, data, ["a", "b", "c", "d", "e"])
y = df["label"].to_numpy().astype(float)
l2, n = 1e-3, len(y)

def objective(coef, intercept):
    z = x @ coef + intercept
    return np.mean(np.logaddexp(0, z) - y * z) + l2 / 2 * coef @ coef

sk = LogisticRegression(C=1 / (l2 * n), solver="lbfgs", tol=1e-12, max_iter=100000).fit(x, y)
j_sk = objective(sk.coef_[0], sk.intercept_[0])
j_sf = objective(w[:5], w[5])
print(f"objective: shardflow {j_sf:.17g}, scikit-learn {j_sk:.17g}, relative {(j_sf - j_sk) / j_sk:.3g}")
assert abs(j_sf - j_sk) <= 1e-6 * j_sk, (j_sf, j_sk)
assert np.max(np.abs(w[:5] - sk.coef_[0])) < 1e-2, (w, sk.coef_, sk.intercept_)
m = json.load(open(f"{run}/metrics.json"))
lb = m["train"]["lbfgs"]
assert lb["converged"] and lb["stop_reason"] == "the gradient is within the tolerance", lb
assert 7 <= lb["iterations"] < 100 and lb["iterations"] == m["train"]["steps"], lb
assert lb["iterations"] + 1 <= lb["evaluations"] < 3 * lb["iterations"], lb
# metrics.json reports shardflow's own objective; it is the function above.
assert abs(lb["objective"] - j_sf) <= 1e-12 * j_sf, (lb["objective"], j_sf)
PY

# ---- crash after iteration 5 (checkpoints at 2 and 4), resume at 2 ranks and at 1 ---------------
SHARDFLOW_INJECT_FAULT="train_step:5@1" expect_exit 1 300 crashed 2 run "$TMP/job.yaml" \
  --set "workdir=$TMP/crashed"
cp -r "$TMP/crashed" "$TMP/crashed1"
expect_exit 0 300 resumed 2 run "$TMP/job.yaml" --set "workdir=$TMP/crashed" --resume auto
from=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['resumed_from_step'])" \
  "$TMP/crashed/metrics.json")
[ "$from" = 4 ] || fail "resumed from iteration $from, expected 4"
$PY tests/support/compare_runs.py "$TMP/run-2" "$TMP/crashed" || fail "resumed != uninterrupted"
expect_exit 0 300 resumed1 0 run "$TMP/job.yaml" --set "workdir=$TMP/crashed1" --resume auto
$PY tests/support/compare_runs.py "$TMP/run-2" "$TMP/crashed1" --across-ranks ||
  fail "resumed on 1 rank != uninterrupted on 2"
$PY - "$TMP/run-2/model.h5" "$TMP/crashed/model.h5" <<'PY' || fail "the lbfgs state differs after the resume"
import sys
import h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
for k in ["optimizer/lbfgs_s", "optimizer/lbfgs_y", "optimizer/lbfgs_info"]:
    assert a[k][:].tobytes() == b[k][:].tobytes(), k
assert a["optimizer/lbfgs_s"].shape == (4 * 6,), a["optimizer/lbfgs_s"].shape
PY

# ---- a rerun reuses the finished model, which converged before max_iterations ------------------
expect_exit 0 300 rerun 2 run "$TMP/job.yaml" --set "workdir=$TMP/run-2"
grep -q "training: reused the finished model" "$TMP/rerun.err" "$TMP/rerun.out" ||
  fail "the rerun trained again"

# ---- ridge: the linear model against scikit-learn's Ridge (alpha = l2 n) ----------------------
expect_exit 0 300 ridge 2 run "$TMP/job.yaml" --set "workdir=$TMP/ridge" --set train.label=target \
  --set "train.model={type: linear, l2: 0.01}" --set "evaluate={input: data, metrics: [rmse]}"
$PY - "$TMP/ridge" "$TMP/data.csv" <<'PY' || fail "lbfgs does not reach Ridge's solution"
import json, sys
import h5py, numpy as np, pandas as pd
from sklearn.linear_model import Ridge
run, data = sys.argv[1:]
sys.path.insert(0, "tests/support")
from scaled_model import load
w, x, df = load(run, data, ["a", "b", "c", "d", "e"])
y = df["target"].to_numpy()
l2, n = 0.01, len(y)
sk = Ridge(alpha=l2 * n, solver="cholesky").fit(x, y)
objective = lambda coef, b: np.mean((x @ coef + b - y) ** 2) / 2 + l2 / 2 * coef @ coef
j_sf, j_sk = objective(w[:5], w[5]), objective(sk.coef_, sk.intercept_)
print(f"ridge objective: shardflow {j_sf:.17g}, scikit-learn {j_sk:.17g}")
assert abs(j_sf - j_sk) <= 1e-9 * j_sk, (j_sf, j_sk)
assert np.max(np.abs(w[:5] - sk.coef_)) < 1e-4 and abs(w[5] - sk.intercept_) < 1e-4, (w, sk.coef_)
PY

# ---- softmax: against scikit-learn's multinomial LogisticRegression (every class penalized) -----
expect_exit 0 300 softmax 2 run "$TMP/job.yaml" --set "workdir=$TMP/softmax" --set train.label=klass \
  --set "train.model={type: softmax, l2: 1.0e-3}" --set "evaluate={input: data, metrics: [accuracy]}"
$PY - "$TMP/softmax" "$TMP/data.csv" <<'PY' || fail "lbfgs does not reach the multinomial optimum"
import json, sys
import h5py, numpy as np, pandas as pd
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
run, data = sys.argv[1:]
sys.path.insert(0, "tests/support")
from scaled_model import load
with h5py.File(f"{run}/model.h5", "r") as f:
    assert list(f["model/classes"][:]) == [2, 5, 7], f["model/classes"][:]
w, x, df = load(run, data, ["a", "b", "c", "d", "e"])
w = w.reshape(3, 6)  # per class: 5 coefficients, then the intercept
k = np.searchsorted([2, 5, 7], df["klass"].to_numpy())
l2, n = 1e-3, len(k)

def objective(coef, intercept):
    z = x @ coef.T + intercept
    return np.mean(logsumexp(z, axis=1) - z[np.arange(n), k]) + l2 / 2 * np.sum(coef * coef)

sk = LogisticRegression(multi_class="multinomial", C=1 / (l2 * n), solver="lbfgs", tol=1e-12,
                        max_iter=100000).fit(x, k)
j_sk, j_sf = objective(sk.coef_, sk.intercept_), objective(w[:, :5], w[:, 5])
print(f"softmax objective: shardflow {j_sf:.17g}, scikit-learn {j_sk:.17g}, relative {(j_sf - j_sk) / j_sk:.3g}")
assert abs(j_sf - j_sk) <= 1e-6 * j_sk, (j_sf, j_sk)
assert np.max(np.abs(w[:, :5] - sk.coef_)) < 1e-2, (w, sk.coef_)
lb = json.load(open(f"{run}/metrics.json"))["train"]["lbfgs"]
assert lb["converged"] and abs(lb["objective"] - j_sf) <= 1e-12 * j_sf, (lb, j_sf)
PY

# ---- elastic net (OWL-QN): against scikit-learn's saga ---------------------------------------
# shardflow: mean log loss + l2/2 ||w||^2 + l1 ||w||_1; scikit-learn: C sum log loss +
# (1 - r)/2 ||w||^2 + r ||w||_1, the same function times C n for 1/(C n) = l1 + l2, r = l1/(l1 + l2).
expect_exit 0 300 enet 2 run "$TMP/job.yaml" --set "workdir=$TMP/enet" \
  --set "train.model={type: logistic, l2: 1.0e-3, l1: 0.08}"
expect_exit 0 300 enet-1 0 run "$TMP/job.yaml" --set "workdir=$TMP/enet-1" \
  --set "train.model={type: logistic, l2: 1.0e-3, l1: 0.08}"
$PY tests/support/compare_runs.py "$TMP/enet" "$TMP/enet-1" --across-ranks ||
  fail "elastic net: 2 ranks and 1 process differ"
$PY - "$TMP/enet" "$TMP/data.csv" <<'PY' || fail "OWL-QN does not reach saga's elastic-net optimum"
import json, sys
import h5py, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
run, data = sys.argv[1:]
sys.path.insert(0, "tests/support")
from scaled_model import load
w, x, df = load(run, data, ["a", "b", "c", "d", "e"])
y = df["label"].to_numpy().astype(float)
l1, l2, n = 0.08, 1e-3, len(y)

def objective(coef, intercept):
    z = x @ coef + intercept
    return np.mean(np.logaddexp(0, z) - y * z) + l2 / 2 * coef @ coef + l1 * np.sum(np.abs(coef))

sk = LogisticRegression(penalty="elasticnet", solver="saga", l1_ratio=l1 / (l1 + l2),
                        C=1 / ((l1 + l2) * n), tol=1e-12, max_iter=100000).fit(x, y)
j_sk, j_sf = objective(sk.coef_[0], sk.intercept_[0]), objective(w[:5], w[5])
print(f"elastic net objective: shardflow {j_sf:.17g}, scikit-learn saga {j_sk:.17g}, "
      f"relative {(j_sf - j_sk) / j_sk:.3g}; coefficients {w[:5]} vs {sk.coef_[0]}")
assert abs(j_sf - j_sk) <= 1e-6 * j_sk, (j_sf, j_sk)
# The same coefficients are exactly zero (saga's zeros are exact too), and there is one.
assert list(w[:5] == 0) == list(sk.coef_[0] == 0) and (w[:5] == 0).any(), (w, sk.coef_)
lb = json.load(open(f"{run}/metrics.json"))["train"]["lbfgs"]
assert lb["converged"] and abs(lb["objective"] - j_sf) <= 1e-12 * j_sf, (lb, j_sf)
PY

# ---- validate: lbfgs trains the convex models only, and takes no mini-batch settings -----------
expect_exit 2 60 on-mlp 0 validate "$TMP/job.yaml" --set "train.model={type: mlp, task: binary}"
grep -q "train.optimizer: lbfgs trains the convex models (linear, logistic, softmax), not the mlp model" \
  "$TMP/on-mlp.err" || fail "lbfgs on an mlp: $(cat "$TMP/on-mlp.err")"
sed 's/optimizer: {type: lbfgs, memory: 4}/optimizer: {type: lbfgs, memory: 4, batch_size: 512}/' \
  "$TMP/job.yaml" >"$TMP/batch.yaml"
expect_exit 2 60 batch 0 validate "$TMP/batch.yaml"
grep -qF "batch.yaml:16:51: train.optimizer.batch_size: lbfgs is full-batch: every iteration uses all training rows; remove batch_size" \
  "$TMP/batch.err" || fail "lbfgs with a batch size: $(cat "$TMP/batch.err")"
pass "lbfgs reaches scikit-learn's optimum, bit-identically at 1 and 2 ranks and across a crash"
