#!/usr/bin/env bash
# The quickstart job tracks itself: run from a fresh directory, it writes an MLflow run (checked
# field by field), registers its model as version 1 of 'quickstart' and makes it the champion,
# saying so in the log; run again with a worse model (one epoch at a tiny learning rate), it
# registers version 2 and leaves the champion at version 1, the log naming both log losses; and
# `shardflow runs list` and `predict --model registry:quickstart@champion` find them.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
JOB=$SRC/jobs/quickstart.yaml
STORE=$TMP/mlruns
state() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/tracking.json" "$2"; }

expect_exit 0 300 first 2 run "$JOB" --set "workdir=$TMP/w1"
run1=$(state "$TMP/w1" run_id)
$PY "$SRC/tests/support/check_mlflow_run.py" "$STORE" quickstart "$run1" "$TMP/w1" "$JOB" 3 2 ||
  fail "the quickstart's run files"
grep -q "registry: model 'quickstart' version 1 (logloss [0-9.]*) becomes 'champion': there was none" "$TMP/first.err" ||
  { grep registry "$TMP/first.err"; fail "no champion decision for the first run"; }
[ "$(cat "$STORE/models/quickstart/aliases/champion")" = 1 ] || fail "the champion is not version 1"
pass "the quickstart writes a run, registry version 1 and makes it the champion"

expect_exit 0 300 worse 2 run "$JOB" --set "workdir=$TMP/w2" --set train.optimizer.lr=0.0001 \
  --set train.optimizer.epochs=1
grep -q "registry: model 'quickstart' version 2 (logloss [0-9.]*) is not better than 'champion' version 1 (logloss [0-9.]*; lower is better): 'champion' stays at version 1" "$TMP/worse.err" ||
  { grep registry "$TMP/worse.err"; fail "the worse run's decision is not logged"; }
[ -f "$STORE/models/quickstart/version-2/meta.yaml" ] || fail "no version 2"
[ "$(cat "$STORE/models/quickstart/aliases/champion")" = 1 ] || fail "a worse model took the champion"
pass "a worse quickstart model is registered and the champion stays, the log says why"

expect_exit 0 60 list 0 runs list
[ "$(grep -c quickstart "$TMP/list.out")" -ge 2 ] || { cat "$TMP/list.out"; fail "runs list does not show both runs"; }
expect_exit 0 120 score 2 predict --model registry:quickstart@champion \
  --input "$TMP/w1/outputs/test_set.h5" --table test_set --output "$TMP/scores.csv"
[ "$(wc -l <"$TMP/scores.csv")" -gt 1000 ] || fail "scoring with the champion wrote too few rows"
pass "runs list shows both runs; predict scores with the champion"
echo "PASS test_quickstart_tracking"
