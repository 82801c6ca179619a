#!/usr/bin/env bash
# A checkpoint whose /meta attributes were altered (step, epoch, fingerprint, any attribute; or an
# older format-1 file without meta_checksum holding a position its training cannot reach) is
# damaged: resume falls back to the previous checkpoint with a warning naming the file, never
# exits 2 blaming a configuration change, and ends with the weights of an uninterrupted run.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
# One process (the store reads on rank 0 at any size; tests/mpi covers 1-4 ranks).
# 3 epochs x 149 steps, checkpoints at 50, 100, ..., 400 and the final one at 447 (keep 3).
ARGS=(run jobs/quickstart.yaml --set train.optimizer.epochs=3 --set train.checkpoint.every_steps=50)
NEWEST=ckpt-0000000447.h5

expect_exit 0 300 straight 0 "${ARGS[@]}" --set "workdir=$TMP/straight"
[ -f "$TMP/straight/checkpoints/$NEWEST" ] || fail "the straight run left no $NEWEST"

# corrupt NAME PYTHON: copies the finished run, applies PYTHON to the attributes `a` of /meta of
# its newest checkpoint, resumes, and checks the fallback to step 400 and the final weights.
corrupt() {
  local name="$1" edit="$2" w="$TMP/$1"
  cp -r "$TMP/straight" "$w"
  $PY - "$w/checkpoints/$NEWEST" "$edit" <<'EOF' || fail "$name: h5py edit failed"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    a = f["meta"].attrs
    exec(sys.argv[2])
EOF
  expect_exit 0 300 "$name" 0 "${ARGS[@]}" --set "workdir=$w" --resume auto
  grep -q "skipping an unusable checkpoint, trying an older one: checkpoint $w/checkpoints/$NEWEST is damaged" \
    "$TMP/$name.out" "$TMP/$name.err" || { cat "$TMP/$name.out"; fail "$name: no warning naming the damaged file"; }
  if grep -q "configuration or inputs changed" "$TMP/$name.out" "$TMP/$name.err"; then
    fail "$name: a damaged checkpoint was reported as a configuration change"
  fi
  grep -q "resuming training from step 400 " "$TMP/$name.out" "$TMP/$name.err" || { cat "$TMP/$name.err"; fail "$name: did not fall back to step 400"; }
  $PY tests/support/compare_runs.py "$TMP/straight" "$w" --ordered test_set || fail "$name: resumed != uninterrupted"
  pass "$name: fell back to step 400 with a warning; final weights equal the uninterrupted run's"
}

# Format 2 (meta_checksum): every attribute altered, one at a time.
corrupt step          'a.modify("step", np.int64(300))'
corrupt step_same_end 'a.modify("step", np.int64(447 - 149)); a.modify("epoch", np.int64(1))'
corrupt epoch         'a.modify("epoch", np.int64(1))'
corrupt cursor        'a.modify("sample_cursor", np.int64(1))'
corrupt world_size    'a.modify("world_size", np.int64(7))'
corrupt fingerprint   'a.modify("fingerprint", np.bytes_(b"0" * 32))'
corrupt no_fingerprint 'del a["fingerprint"]'
corrupt step_in_epoch 'a.modify("step_in_epoch", np.bytes_(b"3"))'
corrupt last_loss     'a.modify("last_loss", np.bytes_(b"0.5"))'
corrupt created       'a.modify("created", np.bytes_(b"2020-01-01T00:00:00Z"))'
corrupt checksum      'a.modify("meta_checksum", np.bytes_(b"f" * 32))'
corrupt step_string   'del a["step"]; a["step"] = "447"'

# Format 1 (no meta_checksum): the consistency checks alone.
V1='del a["meta_checksum"]; a.modify("format_version", np.int64(1)); '
corrupt v1_step_name  "$V1"'a.modify("step", np.int64(300))'
corrupt v1_position   "$V1"'a.modify("step_in_epoch", np.bytes_(b"7"))'
corrupt v1_loss       "$V1"'a.modify("last_loss", np.bytes_(b"not-a-number"))'
corrupt v1_epoch      "$V1"'a.modify("epoch", np.int64(9999))'

# An intact format-1 file is still resumed from (no warning, nothing recomputed).
w="$TMP/v1_intact"
cp -r "$TMP/straight" "$w"
$PY - "$w/checkpoints/$NEWEST" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    del f["meta"].attrs["meta_checksum"]
    f["meta"].attrs.modify("format_version", np.int64(1))
EOF
expect_exit 0 300 v1_intact 0 "${ARGS[@]}" --set "workdir=$w" --resume auto
grep -q "reused the finished model of the newest valid checkpoint" "$TMP/v1_intact.out" "$TMP/v1_intact.err" \
  || { cat "$TMP/v1_intact.out"; fail "v1_intact: the finished format-1 checkpoint was not reused"; }
! grep -q "skipping" "$TMP/v1_intact.out" "$TMP/v1_intact.err" || fail "v1_intact: an intact format-1 file was skipped"
$PY tests/support/compare_runs.py "$TMP/straight" "$w" --ordered test_set || fail "v1_intact: results differ"
pass "an intact format-1 checkpoint is still used"
