#!/usr/bin/env bash
# Progress of long work (common/progress.hpp) on rank 0: in a log (not a terminal), a line
# "progress: <what>: N% (done of total), rate, ETA" every SHARDFLOW_PROGRESS_SECONDS, none for
# work shorter than that; on a terminal, one line redrawn in place (\r) and ended by a newline;
# training's step lines carry rows/s and an ETA.
source "$(dirname "$0")/lib.sh"
cd "$TMP"

SHARDFLOW_PROGRESS_SECONDS=0.05 expect_exit 0 300 gen 2 gen classification --rows 3000000 --out c.csv
grep -q "\[r0\] \[info\] progress: generating classification data: [0-9]*% ([0-9.e+]* rows of 1.5e+06), [0-9.e+]* rows/s, ETA [0-9]* s" gen.err ||
  { cat gen.err; fail "no generation progress line"; }
grep -q "\[r1\].*progress" gen.err && fail "a rank other than 0 reported progress"
$PY - gen.err <<'PY' || fail "generation percentages go backwards"
import re, sys
p = [int(m) for m in re.findall(r"progress: generating classification data: (\d+)%", open(sys.argv[1]).read())]
assert p == sorted(p) and all(0 <= x <= 100 for x in p), p
PY
pass "generation reports progress in the log, rank 0 only, percentages rising"

cat >read.yaml <<YAML
name: readit
inputs:
  c: {format: csv, path: $TMP/c.csv}
steps:
  - {op: filter, input: c, where: "x1 > 0", output: f}
YAML
SHARDFLOW_PROGRESS_SECONDS=0.02 expect_exit 0 300 read 2 run read.yaml --set workdir=w1
grep -q "progress: reading c: [0-9]*% ([0-9.e+]* bytes of [0-9.e+]*), [0-9.e+]* bytes/s, ETA" read.err || { cat read.err; fail "no ingest progress line"; }
pass "CSV ingest reports progress in bytes"

# Work shorter than the interval stays silent; a bad interval falls back to the default (10 s).
SHARDFLOW_PROGRESS_SECONDS=junk expect_exit 0 300 quiet 2 gen classification --rows 200000 --out q.csv
grep -q progress quiet.err && fail "short work printed progress"
pass "short work is silent"

# On a terminal: redrawn in place, then a newline; no log prefix on the progress line.
if command -v script >/dev/null; then
  script -qec "$SHARDFLOW_BIN gen classification --rows 3000000 --out t.csv" /dev/null >tty.out 2>&1 || fail "gen on a terminal"
  grep -q $'\rgenerating classification data: [0-9]*%' tty.out || { od -c tty.out | head; fail "no in-place progress line on a terminal"; }
  grep -q "progress: generating" tty.out && fail "a terminal got log lines instead of the in-place line"
  pass "a terminal gets one line redrawn in place"
fi

expect_exit 0 300 train 1 run "$SRC/jobs/quickstart.yaml" --set workdir=w2
grep -q "step [0-9]*/[0-9]* (epoch [0-9]*), batch loss [0-9.]*, [0-9.e+]* rows/s, ETA [0-9]* s" train.err || { grep "step " train.err; fail "training progress without rate and ETA"; }
pass "training's step lines carry rows/s and an ETA"
echo "PASS test_progress"
