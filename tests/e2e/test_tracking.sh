#!/usr/bin/env bash
# Run tracking in MLflow's file-store layout (track/, job section `track:`):
#   - a run's experiment, meta.yaml, params (the resolved job), metrics (from metrics.json), tags
#     and artifacts, checked field by field (tests/support/check_mlflow_run.py);
#   - a finished job run again is a new MLflow run; a crashed run is FAILED, and the resumed run
#     continues it (same run id, restarts 1, FINISHED);
#   - two jobs started at once with the same new experiment share one experiment, both complete;
#   - the git commit of the job file's checkout is a tag;
#   - a job without `track:` writes no store; bad `track:` settings and an unwritable store stop
#     the job before any step, naming the problem.
source "$(dirname "$0")/lib.sh"
CHECK="$PY $SRC/tests/support/check_mlflow_run.py"
STORE=$TMP/mlruns

cat >"$TMP/job.yaml" <<YAML
name: tracked
inputs:
  events: {format: generate, kind: classification, rows: 20000}
steps:
  - {op: filter, input: events, where: "id % 5 != 0", output: train_set}
  - {op: filter, input: events, where: "id % 5 == 0", output: test_set}
  - {op: group_by, input: events, keys: [segment], aggs: {"*": [count], amount: [sum]}, output: by_segment}
train:
  input: train_set
  label: label
  features: {numeric: [x1, x2, x3, x4]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-4}
  optimizer: {type: sgd, lr: 0.1, batch_size: 256, epochs: 3, momentum: 0.9}
  checkpoint: {every_steps: 20, keep: 3}
evaluate: {input: test_set, metrics: [auc, logloss, accuracy]}
track: {store: $STORE, experiment: churn}
YAML

# runs_of EXPERIMENT_ID: the run ids in an experiment directory, one per line.
runs_of() { find "$STORE/$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort; }
state() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/tracking.json" "$2"; }

# ---- one run, checked field by field ------------------------------------------------------
expect_exit 0 300 first 2 run "$TMP/job.yaml" --set "workdir=$TMP/w1"
grep -q "tracking: run [0-9a-f]\{32\} of experiment 'churn' (1) in $STORE" "$TMP/first.err" || { cat "$TMP/first.err"; fail "no tracking line in the log"; }
run1=$(state "$TMP/w1" run_id)
$CHECK "$STORE" churn "$run1" "$TMP/w1" "$TMP/job.yaml" 3 2 || fail "the first run's files"
[ "$(cat "$STORE/1/$run1/params/train.optimizer.type")" = sgd ] || fail "param train.optimizer.type"
[ "$(cat "$STORE/1/$run1/params/steps.2.aggs._.0")" = count ] || fail "param steps.2.aggs.*.0 (a key made safe)"
[ "$(wc -l <"$STORE/1/$run1/metrics/train.epoch_seconds")" = 3 ] || fail "three epochs, three train.epoch_seconds values"
pass "a run's experiment, meta.yaml, params, metrics, tags and artifacts follow MLflow's file store"

# ---- a finished job run again: a new run ---------------------------------------------------
expect_exit 0 300 second 2 run "$TMP/job.yaml" --set "workdir=$TMP/w1"
run2=$(state "$TMP/w1" run_id)
[ "$run2" != "$run1" ] || fail "a rerun of a finished job continued its MLflow run"
[ "$(runs_of 1 | wc -l)" = 2 ] || fail "two runs expected in experiment 1: $(runs_of 1)"
$CHECK "$STORE" churn "$run2" "$TMP/w1" "$TMP/job.yaml" 3 2 || fail "the second run's files"
pass "a rerun of a finished job is a new MLflow run"

# ---- a crash, then a resume: the same run, continued -----------------------------------------
# A fault on rank 0 fails the run there: recorded as FAILED before the process exits.
SHARDFLOW_INJECT_FAULT="train_step:30@0" expect_exit 1 300 failed 2 run "$TMP/job.yaml" --set "workdir=$TMP/w2"
run3=$(state "$TMP/w2" run_id)
[ "$(state "$TMP/w2" finished)" = False ] || fail "a failed run is recorded as finished"
$CHECK "$STORE" churn "$run3" "$TMP/w2" "$TMP/job.yaml" 4 2 || fail "the failed run is not FAILED"
expect_exit 0 300 resumed 1 run "$TMP/job.yaml" --set "workdir=$TMP/w2"
grep -q "tracking: continuing run $run3 (restart 1)" "$TMP/resumed.err" || { cat "$TMP/resumed.err"; fail "the resumed run did not continue run $run3"; }
grep -q "resum" "$TMP/resumed.err" || fail "training did not resume from the checkpoint"
[ "$(state "$TMP/w2" run_id)" = "$run3" ] || fail "tracking.json names another run after the resume"
[ "$(cat "$STORE/1/$run3/tags/shardflow.restarts")" = 1 ] || fail "tag shardflow.restarts after one restart"
$CHECK "$STORE" churn "$run3" "$TMP/w2" "$TMP/job.yaml" 3 1 || fail "the resumed run's files"
# A fault on rank 1 aborts every rank before rank 0 can record anything (as a kill or a node
# loss would): the run stays RUNNING, and the next run continues it all the same.
SHARDFLOW_INJECT_FAULT="train_step:30@1" expect_exit 1 300 crashed 2 run "$TMP/job.yaml" --set "workdir=$TMP/w6"
run4=$(state "$TMP/w6" run_id)
$CHECK "$STORE" churn "$run4" "$TMP/w6" "$TMP/job.yaml" 1 2 || fail "the crashed run is not left RUNNING"
expect_exit 0 300 resumed2 2 run "$TMP/job.yaml" --set "workdir=$TMP/w6"
grep -q "tracking: continuing run $run4 (restart 1)" "$TMP/resumed2.err" || { cat "$TMP/resumed2.err"; fail "the resumed run did not continue run $run4"; }
$CHECK "$STORE" churn "$run4" "$TMP/w6" "$TMP/job.yaml" 3 2 || fail "the run resumed after a crash"
[ "$(runs_of 1 | wc -l)" = 4 ] || fail "each crash + resume must make one run: $(runs_of 1)"
pass "a failed run is FAILED, a crashed one stays RUNNING, and the next run continues either to FINISHED"

# ---- two jobs at once into one store, same new experiment -------------------------------------
for i in 1 2; do
  "$SHARDFLOW_BIN" run "$TMP/job.yaml" --set "workdir=$TMP/c$i" --set track.experiment=shared >"$TMP/c$i.out" 2>&1 &
done
wait %1 || { cat "$TMP/c1.out"; fail "concurrent job 1"; }
wait %2 || { cat "$TMP/c2.out"; fail "concurrent job 2"; }
for i in 1 2; do
  $CHECK "$STORE" shared "$(state "$TMP/c$i" run_id)" "$TMP/c$i" "$TMP/job.yaml" 3 1 || fail "concurrent run $i"
done
pass "two jobs started at once share one new experiment and leave two complete runs"

# ---- the git commit of the job's checkout -----------------------------------------------------
if command -v git >/dev/null; then
  mkdir -p "$TMP/repo"
  cp "$TMP/job.yaml" "$TMP/repo/job.yaml"
  git -C "$TMP/repo" init -q && git -C "$TMP/repo" add job.yaml &&
    git -C "$TMP/repo" -c user.name=t -c user.email=t@t commit -qm job
  expect_exit 0 300 git 0 run "$TMP/repo/job.yaml" --set "workdir=$TMP/w3"
  tag=$(cat "$STORE/1/$(state "$TMP/w3" run_id)/tags/mlflow.source.git.commit")
  [ "$tag" = "$(git -C "$TMP/repo" rev-parse HEAD)" ] || fail "git commit tag '$tag'"
  git -C "$TMP/repo" pack-refs --all
  expect_exit 0 300 git-packed 0 run "$TMP/repo/job.yaml" --set "workdir=$TMP/w3"
  tag=$(cat "$STORE/1/$(state "$TMP/w3" run_id)/tags/mlflow.source.git.commit")
  [ "$tag" = "$(git -C "$TMP/repo" rev-parse HEAD)" ] || fail "git commit tag from packed refs '$tag'"
  pass "mlflow.source.git.commit is the job file's checkout's HEAD (loose and packed refs)"
fi

# ---- the registry: a new version per run, the champion moves only to a better one ----------
# logloss: lower is better (the metric's own direction). Slow learning so that epochs matter.
reg() { expect_exit 0 300 "$1" 2 run "$TMP/job.yaml" --set "workdir=$TMP/r" --set register.model=churn \
  --set register.metric=logloss --set train.optimizer.lr=0.001 --set "train.optimizer.epochs=$2"; }
reg reg1 5
grep -q "registry: model 'churn' version 1 (logloss [0-9.]*) becomes 'champion': there was none" "$TMP/reg1.err" || { grep registry "$TMP/reg1.err"; fail "first registration"; }
reg reg2 1
grep -q "registry: model 'churn' version 2 (logloss [0-9.]*) is not better than 'champion' version 1 (logloss [0-9.]*; lower is better): 'champion' stays at version 1" "$TMP/reg2.err" ||
  { grep registry "$TMP/reg2.err"; fail "a worse model took the champion alias, or the log does not say why"; }
[ "$(cat "$STORE/models/churn/aliases/champion")" = 1 ] || fail "alias moved to a worse version"
reg reg3 8
grep -q "registry: model 'churn' version 3 (logloss [0-9.]*) becomes 'champion', replacing version 1 (logloss [0-9.]*): lower is better" "$TMP/reg3.err" || { grep registry "$TMP/reg3.err"; fail "a better model did not take the alias"; }
[ "$(cat "$STORE/models/churn/aliases/champion")" = 3 ] || fail "alias after a better version"
$PY - "$STORE" "$TMP/r" <<'PY' || fail "registry files"
import json, os, sys, yaml
store, workdir = sys.argv[1:3]
m = yaml.safe_load(open(f"{store}/models/churn/meta.yaml"))
assert m["name"] == "churn" and isinstance(m["creation_timestamp"], int), m
run = json.load(open(f"{workdir}/tracking.json"))["run_id"]
values = []
for v in (1, 2, 3):
    meta = yaml.safe_load(open(f"{store}/models/churn/version-{v}/meta.yaml"))
    assert meta["version"] == v and meta["name"] == "churn" and meta["status"] == "READY", meta
    src = meta["source"]
    assert src.startswith("file://") and os.path.isfile(src[7:]) and src.endswith(f"/{meta['run_id']}/artifacts/model.h5"), src
    values.append(float(open(f"{store}/models/churn/version-{v}/tags/shardflow.metric.logloss").read()))
    assert os.path.isfile(f"{store}/models/churn/version-{v}/tags/shardflow.decision")
assert meta["run_id"] == run, (meta["run_id"], run)
tags = f"{store}/1/{run}/tags"
assert open(f"{tags}/shardflow.registry.version").read() == "3"
assert "becomes 'champion'" in open(f"{tags}/shardflow.registry.decision").read()
# The registered values are the runs' evaluation logloss; v2 (1 epoch) worse, v3 best.
assert values[1] > values[0] > values[2], values
assert values[2] == json.load(open(f"{workdir}/metrics.json"))["metrics"]["logloss"]
PY
# Scoring with the champion is scoring with version 3's model file.
test_set=$TMP/r/outputs/test_set.h5
cat >>"$TMP/job.yaml" <<YAML
outputs:
  - {table: test_set, path: test_set.h5}
YAML
reg reg4 1  # one more (worse) version, now also writing test_set
expect_exit 0 120 champion 1 predict --model registry:churn@champion --store "$STORE" --input "$test_set" --table test_set --output "$TMP/champion.csv"
src=$($PY -c "import yaml; print(yaml.safe_load(open('$STORE/models/churn/version-3/meta.yaml'))['source'][7:])")
expect_exit 0 120 direct 1 predict --model "$src" --input "$test_set" --table test_set --output "$TMP/direct.csv"
cmp -s "$TMP/champion.csv" "$TMP/direct.csv" || fail "registry:churn@champion did not score with version 3"
expect_exit 0 120 by-version 1 predict --model registry:churn/4 --store "$STORE" --input "$test_set" --table test_set --output "$TMP/v4.csv"
cmp -s "$TMP/champion.csv" "$TMP/v4.csv" && fail "registry:churn/4 scored like the champion"
expect_exit 2 60 no-alias 1 predict --model registry:churn@best --store "$STORE" --input "$test_set" --table test_set --output "$TMP/x.csv"
grep -q "model 'churn' has no alias 'best'" "$TMP/no-alias.err" || { cat "$TMP/no-alias.err"; fail "unknown alias"; }
expect_exit 2 60 no-model 1 predict --model registry:chrun@champion --store "$STORE" --input "$test_set" --table test_set --output "$TMP/x.csv"
grep -q "has no model 'chrun' (it has: churn)" "$TMP/no-model.err" || { cat "$TMP/no-model.err"; fail "unknown model"; }
expect_exit 2 60 no-version 1 predict --model registry:churn/9 --store "$STORE" --input "$test_set" --table test_set --output "$TMP/x.csv"
grep -q "model 'churn' has no version 9 .*(versions: 1, 2, 3, 4)" "$TMP/no-version.err" || { cat "$TMP/no-version.err"; fail "unknown version"; }
pass "each run registers a version; the champion moves only to a better one, the log says why; predict scores registry:churn@champion"

# ---- shardflow runs list | show | compare ----------------------------------------------------
expect_exit 0 60 runs-list 0 runs list --store "$STORE" --experiment churn
n=$(find "$STORE/1" -mindepth 1 -maxdepth 1 -type d | wc -l)
grep -q "^$n run(s) in $STORE" "$TMP/runs-list.out" || { cat "$TMP/runs-list.out"; fail "runs list count"; }
[ "$(grep -c FINISHED "$TMP/runs-list.out")" = "$n" ] || fail "runs list: every churn run finished"
grep -q "^$run3 *churn *tracked *FINISHED" "$TMP/runs-list.out" || { cat "$TMP/runs-list.out"; fail "runs list row of $run3"; }
v1=$($PY -c "import yaml; print(yaml.safe_load(open('$STORE/models/churn/version-1/meta.yaml'))['run_id'])")
v2=$($PY -c "import yaml; print(yaml.safe_load(open('$STORE/models/churn/version-2/meta.yaml'))['run_id'])")
expect_exit 0 60 runs-show 0 runs show "${v1:0:6}" --store "$STORE"
grep -q "^run $v1 ('tracked') of experiment 'churn' (1)" "$TMP/runs-show.out" || { head -3 "$TMP/runs-show.out"; fail "runs show header"; }
grep -q "^  train.optimizer.epochs = 5$" "$TMP/runs-show.out" || fail "runs show params"
grep -q "^  train.epoch_seconds = .* (step 5; 5 values)$" "$TMP/runs-show.out" || fail "runs show metric history"
grep -q "^  model.h5$" "$TMP/runs-show.out" || fail "runs show artifacts"
expect_exit 0 60 runs-compare 0 runs compare "${v1:0:8}" "$v2" --store "$STORE"
grep -q "^params that differ (1 of " "$TMP/runs-compare.out" || { cat "$TMP/runs-compare.out"; fail "runs compare: only the epochs differ"; }
grep -q "^  train.optimizer.epochs *5 *1$" "$TMP/runs-compare.out" || fail "runs compare params"
l1=$(cat "$STORE/models/churn/version-1/tags/shardflow.metric.logloss")
l2=$(cat "$STORE/models/churn/version-2/tags/shardflow.metric.logloss")
grep -q "^  logloss *$l1 *$l2 *+" "$TMP/runs-compare.out" || { grep logloss "$TMP/runs-compare.out"; fail "runs compare metrics side by side ($l1, $l2)"; }
expect_exit 2 60 runs-none 0 runs show 0000 --store "$STORE"
grep -q "no run '0000' in the tracking store" "$TMP/runs-none.err" || fail "runs show unknown id"
expect_exit 2 60 runs-short 0 runs show ab --store "$STORE"
grep -q "first 4 or more hex digits" "$TMP/runs-short.err" || fail "runs show too short an id"
expect_exit 2 60 runs-exp 0 runs list --store "$STORE" --experiment nope
grep -q "has no experiment 'nope' (experiments: Default, churn, shared)" "$TMP/runs-exp.err" || { cat "$TMP/runs-exp.err"; fail "runs list unknown experiment"; }
expect_exit 2 60 runs-store 0 runs list --store "$TMP/nowhere"
grep -q "no tracking store at '$TMP/nowhere'" "$TMP/runs-store.err" || fail "runs list missing store"
expect_exit 2 60 runs-args 0 runs compare "$v1" --store "$STORE"
grep -q "expected 2 run id(s), got 1" "$TMP/runs-args.err" || fail "runs compare with one id"
pass "shardflow runs lists, shows and compares the store's runs, with clear errors"

# ---- no track section, bad settings, an unwritable store --------------------------------------
grep -v '^track:' "$TMP/job.yaml" >"$TMP/untracked.yaml"
expect_exit 0 300 untracked 0 run "$TMP/untracked.yaml" --set "workdir=$TMP/w4"
[ ! -e "$TMP/w4/tracking.json" ] && ! grep -q tracking: "$TMP/untracked.err" || fail "a job without track: was tracked"
expect_exit 2 60 bad-key 0 validate "$TMP/job.yaml" --set track.stor=x
grep -q "track.stor" "$TMP/bad-key.err" && grep -q "store" "$TMP/bad-key.err" || { cat "$TMP/bad-key.err"; fail "unknown track key not named with the known ones"; }
expect_exit 2 60 empty-name 0 validate "$TMP/job.yaml" --set 'track.experiment=""'
grep -q "track.experiment" "$TMP/empty-name.err" || { cat "$TMP/empty-name.err"; fail "empty experiment name not named"; }
expect_exit 2 60 reg-metric 0 validate "$TMP/job.yaml" --set register.model=churn --set register.metric=rmse
grep -q "register.metric 'rmse' is not one of evaluate.metrics (auc, logloss, accuracy)" "$TMP/reg-metric.err" || { cat "$TMP/reg-metric.err"; fail "register metric outside evaluate.metrics"; }
expect_exit 2 60 reg-mode 0 validate "$TMP/job.yaml" --set register.model=churn --set register.metric=auc --set register.mode=up
grep -q "register.mode" "$TMP/reg-mode.err" || { cat "$TMP/reg-mode.err"; fail "bad register.mode"; }
expect_exit 2 60 reg-untracked 0 validate "$TMP/untracked.yaml" --set register.model=churn --set register.metric=auc
grep -q "register needs a track section" "$TMP/reg-untracked.err" && grep -q "untracked.yaml:[0-9]*:[0-9]*\|--set" "$TMP/reg-untracked.err" || { cat "$TMP/reg-untracked.err"; fail "register without track"; }
touch "$TMP/not-a-dir"
expect_exit 1 120 unwritable 2 run "$TMP/job.yaml" --set "workdir=$TMP/w5" --set "track.store=$TMP/not-a-dir/mlruns"
grep -q "cannot create the tracking directory '$TMP/not-a-dir/mlruns'" "$TMP/unwritable.err" || { cat "$TMP/unwritable.err"; fail "unwritable store not named"; }
! grep -q "step 1" "$TMP/unwritable.err" || fail "steps ran before the tracking store was opened"
pass "no track: writes nothing; bad track settings and an unwritable store stop the job before any step"
echo "PASS test_tracking"
