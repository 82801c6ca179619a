#!/usr/bin/env bash
# The stage cache and the DAG executor, as a user reruns a job:
#   - an unchanged rerun recomputes no step, reuses the finished training, and publishes
#     byte-identical outputs;
#   - changing one step's `where` reruns exactly that step and its descendants, and the results
#     equal a cold run of the changed job;
#   - flipping the labels of the CSV input reruns every step and starts training over, with
#     results equal to a cold run on the new data;
#   - --rerun STEP, --no-cache, an unknown --rerun name;
#   - a damaged or truncated stage file is never used: the step is recomputed;
#   - a failed run leaves none of the previous run's results behind;
#   - cache list / cache clear.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"
cd "$SRC"

sf 0 gen classification --rows 20000 --out "$TMP/data/events.csv" 2>/dev/null
write_cache_job "$TMP/job.yaml" "$TMP/w" "$TMP/data/events.csv"
ALL_FALSE="clean=false train_set=false test_set=false by_segment=false"
ALL_TRUE="clean=true train_set=true test_set=true by_segment=true"

# ---- cold run, then an unchanged rerun ----------------------------------------------------------
expect_exit 0 300 cold 2 run "$TMP/job.yaml"
[ "$(reused_steps "$TMP/w")" = "$ALL_FALSE" ] || fail "cold run reused a step: $(reused_steps "$TMP/w")"
[ "$(train_field "$TMP/w" reused)" = false ] || fail "cold run reused training"
cp -r "$TMP/w/outputs" "$TMP/outputs-cold"; cp "$TMP/w/model.h5" "$TMP/model-cold.h5"
cp "$TMP/w/metrics.json" "$TMP/metrics-cold.json"

expect_exit 0 300 rerun 2 run "$TMP/job.yaml"
[ "$(reused_steps "$TMP/w")" = "$ALL_TRUE" ] || fail "unchanged rerun recomputed: $(reused_steps "$TMP/w")"
[ "$(train_field "$TMP/w" reused)" = true ] || fail "unchanged rerun trained again"
for f in by_segment.h5 test_set.h5; do
  cmp "$TMP/outputs-cold/$f" "$TMP/w/outputs/$f" || fail "outputs/$f is not byte-identical after a rerun"
done
cmp "$TMP/model-cold.h5" "$TMP/w/model.h5" || fail "model.h5 is not byte-identical after a rerun"
for step in clean train_set test_set by_segment; do
  grep -q "'$step': reused .*stages/$step-" "$TMP/rerun.err" || { cat "$TMP/rerun.err"; fail "the log does not name reused step $step"; }
done
grep -q "input 'events':.*rows" "$TMP/rerun.err" && fail "the unchanged rerun read the input"
$PY - "$TMP/metrics-cold.json" "$TMP/w/metrics.json" <<'PY' || fail "metrics differ after an unchanged rerun"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["metrics"] == b["metrics"], (a["metrics"], b["metrics"])
assert all("seconds" in s for s in b["steps"])
PY
pass "unchanged rerun: 0 of 4 steps recomputed, training reused, outputs byte-identical"

# ---- change one step: only it and its descendants rerun ---------------------------------------
CHANGE=(--set 'steps.1.where=id % 5 != 0 and x1 < 2')
expect_exit 0 300 changed 2 run "$TMP/job.yaml" "${CHANGE[@]}"
[ "$(reused_steps "$TMP/w")" = "clean=true train_set=false test_set=true by_segment=true" ] \
  || fail "changing train_set's where reran: $(reused_steps "$TMP/w")"
[ "$(train_field "$TMP/w" reused)" = false ] || fail "training was reused although its table changed"
[ "$(train_field "$TMP/w" resumed_from_step)" = -1 ] || fail "training resumed from another table's checkpoint"
grep -q "training starts over" "$TMP/changed.err" || { cat "$TMP/changed.err"; fail "the log does not say why training starts over"; }
expect_exit 0 300 changed-cold 2 run "$TMP/job.yaml" "${CHANGE[@]}" --set "workdir=$TMP/w-changed-cold"
$PY tests/support/compare_runs.py "$TMP/w-changed-cold" "$TMP/w" --ordered test_set \
  || fail "changed-step rerun != cold run of the changed job"
pass "changing one step's where reran exactly that step and training; results equal a cold run"

# ---- flip every label of the CSV: everything reruns, training starts over ----------------------
$PY - "$TMP/data/events.csv" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().splitlines()
out = [lines[0]] + [l[: l.rfind(",") + 1] + ("0" if l.endswith("1") else "1") for l in lines[1:]]
open(path, "w").write("\n".join(out) + "\n")
PY
expect_exit 0 300 flipped 2 run "$TMP/job.yaml"
[ "$(reused_steps "$TMP/w")" = "$ALL_FALSE" ] || fail "flipped labels but steps were reused: $(reused_steps "$TMP/w")"
[ "$(train_field "$TMP/w" resumed_from_step)" = -1 ] || fail "flipped labels but training resumed"
[ "$(train_field "$TMP/w" reused)" = false ] || fail "flipped labels but training was reused"
expect_exit 0 300 flipped-cold 2 run "$TMP/job.yaml" --set "workdir=$TMP/w-flipped-cold"
$PY tests/support/compare_runs.py "$TMP/w-flipped-cold" "$TMP/w" --ordered test_set \
  || fail "flipped-label rerun != cold run on the new data"
# Logistic regression is symmetric under flipping every label: training from zero on the flipped
# data gives exactly the negated weights (and so the same AUC). A stale model would keep its sign.
$PY - "$TMP/model-cold.h5" "$TMP/w/model.h5" <<'PY' || fail "the model after flipping labels is not the retrained one"
import sys, h5py, numpy as np
old, new = (h5py.File(p, "r")["model/weights"][:] for p in sys.argv[1:])
assert np.allclose(new, -old, rtol=1e-6, atol=1e-9), (old, new)
PY
pass "flipped labels: every step and training reran (weights negated); metrics equal a cold run"

# ---- --rerun, --no-cache, unknown names ---------------------------------------------------------
expect_exit 0 300 rerun-step 2 run "$TMP/job.yaml" --rerun clean
[ "$(reused_steps "$TMP/w")" = "$ALL_FALSE" ] || fail "--rerun clean must rerun clean and its descendants: $(reused_steps "$TMP/w")"
[ "$(train_field "$TMP/w" reused)" = true ] || fail "--rerun of an unchanged step retrained"
expect_exit 0 300 rerun-leaf 2 run "$TMP/job.yaml" --rerun by_segment
[ "$(reused_steps "$TMP/w")" = "clean=true train_set=true test_set=true by_segment=false" ] \
  || fail "--rerun by_segment: $(reused_steps "$TMP/w")"
expect_exit 0 300 no-cache 1 run "$TMP/job.yaml" --no-cache
[ "$(reused_steps "$TMP/w")" = "$ALL_FALSE" ] || fail "--no-cache reused: $(reused_steps "$TMP/w")"
expect_exit 2 60 rerun-typo 2 run "$TMP/job.yaml" --rerun claen
grep -q "\-\-rerun 'claen': no step is named so; did you mean 'clean'?" "$TMP/rerun-typo.err" \
  || { cat "$TMP/rerun-typo.err"; fail "--rerun typo message"; }
pass "--rerun STEP reruns it and its descendants; --no-cache reruns all; a typo is exit 2"

# ---- damaged and truncated stage files are never used ------------------------------------------
# The current stage file of step NAME (older versions are kept too, runtime.cache_keep).
current_stage() {
  $PY -c 'import json,sys; m=json.load(open(sys.argv[1]+"/metrics.json")); print(next(sys.argv[1]+"/stages/"+s["name"]+"-"+s["fingerprint"]+".h5" for s in m["steps"] if s["name"]==sys.argv[2]))' "$TMP/w" "$1"
}
stage=$(current_stage by_segment)
$PY - "$stage" <<'PY'
import sys, h5py
path = sys.argv[1]
with h5py.File(path, "r") as f:          # where the first chunk of column amount_sum lies
    info = f["by_segment/amount_sum"].id.get_chunk_info(0)
    offset, size = info.byte_offset, info.size
data = bytearray(open(path, "rb").read())
data[offset + size // 2] ^= 0x01          # one flipped bit inside the chunk
open(path, "wb").write(bytes(data))
PY
stage2=$(current_stage test_set)
truncate -s 1000 "$stage2"
expect_exit 0 300 damaged 2 run "$TMP/job.yaml"
steps=$(reused_steps "$TMP/w")
case "$steps" in *"by_segment=false"*) ;; *) fail "a damaged stage file was used: $steps" ;; esac
case "$steps" in *"test_set=false"*) ;; *) fail "a truncated stage file was used: $steps" ;; esac
$PY tests/support/compare_runs.py "$TMP/w-flipped-cold" "$TMP/w" --ordered test_set \
  || fail "results after damaged stage files != cold run"
pass "damaged and truncated stage files were recomputed, not read"

# ---- a failed run leaves no result that could pass for its own --------------------------------
cp -r "$TMP/w/outputs" "$TMP/outputs-before-failure"
SHARDFLOW_INJECT_FAULT="stage_write:test_set@0" expect_exit 1 120 failed 2 run "$TMP/job.yaml" --no-cache
for f in outputs metrics.json model.h5; do
  [ -e "$TMP/w/$f" ] && fail "the failed run left $f of the previous run behind"
done
expect_exit 0 300 after-failure 2 run "$TMP/job.yaml"
for f in by_segment.h5 test_set.h5; do
  cmp "$TMP/outputs-before-failure/$f" "$TMP/w/outputs/$f" || fail "outputs/$f differs after the run that followed a failure"
done
pass "a failed run removes the previous results; the next run restores them byte for byte"

# ---- cache list / clear --------------------------------------------------------------------------
sf 0 cache list "$TMP/job.yaml" > "$TMP/list.out" 2>&1 || { cat "$TMP/list.out"; fail "cache list"; }
grep -q "^clean .*(current)" "$TMP/list.out" || { cat "$TMP/list.out"; fail "cache list does not mark the current clean"; }
[ "$(grep -c '(current)' "$TMP/list.out")" = 4 ] || { cat "$TMP/list.out"; fail "cache list: expected 4 current entries"; }
old=$(grep -c "^clean " "$TMP/list.out")
[ "$old" -ge 2 ] || { cat "$TMP/list.out"; fail "older versions of clean should still be cached"; }
# The keep policy: with cache_keep 1 only the files this job uses now stay.
expect_exit 0 300 keep1 2 run "$TMP/job.yaml" --set runtime.cache_keep=1
[ "$(ls "$TMP/w/stages" | wc -l)" = 4 ] || fail "cache_keep=1 left $(ls "$TMP/w/stages" | wc -l) files: $(ls "$TMP/w/stages")"
grep -q "stage cache: removed [0-9]* old file(s) (runtime.cache_keep = 1)" "$TMP/keep1.err" || fail "pruning not logged"
sf 0 cache clear --workdir "$TMP/w" --table by_segment > "$TMP/clear1.out" 2>&1 || fail "cache clear --table"
ls "$TMP"/w/stages/by_segment-*.h5 2>/dev/null && fail "cache clear --table left by_segment files"
ls "$TMP"/w/stages/clean-*.h5 >/dev/null 2>&1 || fail "cache clear --table removed other tables"
sf 0 cache clear "$TMP/job.yaml" > "$TMP/clear.out" 2>&1 || fail "cache clear"
[ -z "$(ls "$TMP/w/stages")" ] || fail "cache clear left files: $(ls "$TMP/w/stages")"
expect_exit 0 300 after-clear 2 run "$TMP/job.yaml"
[ "$(reused_steps "$TMP/w")" = "$ALL_FALSE" ] || fail "after cache clear, steps were reused"
pass "cache list marks current entries; cache clear removes them"
echo "1 passed, 0 failed"
