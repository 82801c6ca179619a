#!/usr/bin/env bash
# The quickstart job as a single process, under mpirun -np 2, and -np 4 --oversubscribe: every run
# succeeds, and the group-by output, the test split, the trained weights and the metrics are the
# same at every rank count (weights bit for bit).
source "$(dirname "$0")/lib.sh"
cd "$SRC"
for np in 0 2 4; do
  expect_exit 0 300 "quickstart.np$np" "$np" run jobs/quickstart.yaml --set "workdir=$TMP/np$np"
  [ -f "$TMP/np$np/metrics.json" ] || fail "np$np: no metrics.json"
done
grep -q '"auc"' "$TMP/np0/metrics.json" || fail "metrics.json has no auc"
$PY - "$TMP/np0/metrics.json" <<'PY' || fail "model quality"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
assert m["auc"] > 0.75, m
assert m["accuracy"] > 0.65, m
print("auc", m["auc"], "accuracy", m["accuracy"])
PY
for np in 2 4; do
  $PY tests/support/compare_runs.py "$TMP/np0" "$TMP/np$np" --ordered test_set --across-ranks \
    || fail "single process and $np ranks differ"
done
pass "quickstart identical at 1, 2 and 4 ranks"
