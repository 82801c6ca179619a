#!/usr/bin/env bash
# Each failure ends the whole job within seconds, every rank exiting, with one clear message and
# the documented exit code: a config typo (2), a missing input file (3), a malformed CSV row on one
# rank's part of the file (3), an error thrown on one rank only (1), and a stop signal (75).
source "$(dirname "$0")/lib.sh"
cd "$SRC"

# ---- a config typo: exit 2, file:line:column, a suggestion, printed once --------------------
sed 's/epochs: 5/epcohs: 5/' jobs/quickstart.yaml > "$TMP/typo.yaml"
line=$(grep -n 'epcohs' "$TMP/typo.yaml" | cut -d: -f1)
expect_exit 2 60 typo 2 run "$TMP/typo.yaml" --set "workdir=$TMP/typo"
grep -q "typo.yaml:$line:[0-9]*: unknown key 'epcohs'.*did you mean 'epochs'" "$TMP/typo.err" \
  || { cat "$TMP/typo.err"; fail "typo message"; }
[ "$(count_lines "unknown key 'epcohs'" "$TMP/typo.err")" = 1 ] || fail "typo reported more than once"
grep -q "MPI_ABORT" "$TMP/typo.err" && fail "a config error must not abort MPI"
grep -q "other rank" "$TMP/typo.err" && fail "an error every rank shares must not be blamed on one rank"
pass "config typo"

# ---- a missing input file: exit 3 -------------------------------------------------------------
cat > "$TMP/missing.yaml" <<YAML
name: missing
workdir: $TMP/missing
inputs:
  events: {format: csv, path: "$TMP/nowhere/*.csv"}
steps: []
YAML
expect_exit 3 60 missing 2 run "$TMP/missing.yaml"
grep -q "missing.yaml:4:.*no file matches '$TMP/nowhere/\*.csv'" "$TMP/missing.err" \
  || { cat "$TMP/missing.err"; fail "missing-file message"; }
[ "$(count_lines "no file matches" "$TMP/missing.err")" = 1 ] || fail "missing file reported more than once"
pass "missing input file"

# ---- a malformed CSV row in the second half of the file (rank 1's byte range): exit 3 ---------
sf 0 gen classification --rows 2000 --out "$TMP/bad/events.csv" 2>/dev/null
bad_line=1900
sed -i "${bad_line}s/^\([0-9]*\),\([^,]*\),[^,]*,/\1,\2,not-a-number,/" "$TMP/bad/events.csv"
cat > "$TMP/bad.yaml" <<YAML
name: bad
workdir: $TMP/badrun
inputs:
  events:
    format: csv
    path: $TMP/bad/events.csv
    schema: {id: int64, segment: string, x1: float64, x2: float64, x3: float64, x4: float64, amount: float64, label: int64}
steps:
  - {op: filter, input: events, where: "amount > 0", output: clean}
YAML
expect_exit 3 60 badrow 2 run "$TMP/bad.yaml"
grep -q "rank 1: .*events.csv:$bad_line: column 3 'x1'.*'not-a-number'" "$TMP/badrow.err" \
  || { cat "$TMP/badrow.err"; fail "bad-row message"; }
[ "$(count_lines "not-a-number" "$TMP/badrow.err")" = 1 ] || fail "bad row reported more than once"
# The same file with bad_rows: skip succeeds and counts the row.
sed -i 's/^    format: csv/    format: csv\n    bad_rows: skip/' "$TMP/bad.yaml"
expect_exit 0 60 badrow-skip 2 run "$TMP/bad.yaml"
grep -q "input 'events': skipped 1 bad CSV row(s) in total" "$TMP/badrow-skip.err" \
  || { cat "$TMP/badrow-skip.err"; fail "skip count not logged"; }
[ "$(count_lines "bad CSV row(s) in total" "$TMP/badrow-skip.err")" = 1 ] || fail "skip count logged more than once"
# ... and with bad_rows: quarantine the row lands in <workdir>/rejects/<input>.csv with file and line.
sed -i 's/bad_rows: skip/bad_rows: quarantine/' "$TMP/bad.yaml"
expect_exit 0 60 badrow-quarantine 2 run "$TMP/bad.yaml"
grep -q "^$TMP/bad/events.csv,$bad_line,column 3 'x1': cannot parse 'not-a-number' as float64," \
  "$TMP/badrun/rejects/events.csv" || { cat "$TMP/badrun/rejects/events.csv"; fail "quarantine file"; }
pass "malformed CSV row"

# ---- an error thrown on rank 1 only, while rank 0 is already in the next allreduce: exit 1 -----
SHARDFLOW_INJECT_FAULT="train_step:3@1" expect_exit 1 60 onerank 2 run jobs/quickstart.yaml \
  --set "workdir=$TMP/onerank"
grep -q "rank 1: injected fault at 'train_step:3'" "$TMP/onerank.err" || { cat "$TMP/onerank.err"; fail "one-rank message"; }
[ "$(count_lines "injected fault" "$TMP/onerank.err")" = 1 ] || fail "one-rank error reported more than once"
pgrep -f -- "workdir=$TMP/onerank" >/dev/null && fail "ranks still running after the one-rank failure"
pass "error on one rank only"

# ---- SIGTERM during training: checkpoint written, exit 75, then resume finishes --------------
# Long training (~6000 steps); the signal is sent as soon as the first checkpoint exists, so the
# run is certainly mid-training whatever the machine's speed.
ARGS=(run jobs/quickstart.yaml --set train.optimizer.epochs=200 --set train.optimizer.batch_size=5000
      --set train.checkpoint.every_steps=25 --set "workdir=$TMP/sigterm")
( sf 0 "${ARGS[@]}" >"$TMP/sigterm.out" 2>"$TMP/sigterm.err" ) &
launcher=$!
for _ in $(seq 1 600); do
  ls "$TMP/sigterm/checkpoints" 2>/dev/null | grep -q '^ckpt-.*\.h5$' && break
  sleep 0.05
done
pid=$(pgrep -f -- "workdir=$TMP/sigterm" | while read -r p; do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = "shardflow" ] && echo "$p"; done | head -n 1)
[ -n "$pid" ] || { cat "$TMP/sigterm.err"; fail "no shardflow process to signal (finished too fast?)"; }
kill -TERM "$pid"
rc=0; wait "$launcher" || rc=$?
[ "$rc" = 75 ] || { cat "$TMP/sigterm.err"; fail "SIGTERM: exit $rc, expected 75"; }
grep -q "stopped by SIGTERM at training step [0-9]*; checkpoint written to" "$TMP/sigterm.err" \
  || { cat "$TMP/sigterm.err"; fail "SIGTERM message does not name the signal and the checkpoint"; }
ls "$TMP/sigterm/checkpoints" | grep -q '^ckpt-' || fail "no checkpoint after SIGTERM"
expect_exit 0 300 sigterm-resume 0 "${ARGS[@]}" --resume auto
from=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['resumed_from_step'])" "$TMP/sigterm/metrics.json")
[ "$from" -gt 0 ] || fail "the rerun after SIGTERM did not resume (resumed_from_step=$from)"
pass "SIGTERM writes a checkpoint and exits 75; the rerun resumes from step $from and completes"
