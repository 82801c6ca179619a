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

# A job's long work reports under the step (or output) it belongs to: ingest in bytes; a shuffle
# by rounds (small rounds force many); a group-by by its passes; stage, CSV, HDF5 and partitioned
# writes. SHARDFLOW_PROGRESS_SECONDS=0 logs every report, so the lines' sequence can be checked.
cat >read.yaml <<YAML
name: readit
inputs:
  c: {format: csv, path: $TMP/c.csv}
steps:
  - {op: filter, input: c, where: "x1 > 0", output: f}
  - {op: group_by, input: c, keys: [id], aggs: {x1: [sum, mean]}, output: g}
outputs:
  - {table: g, path: g.csv}
  - {table: c, path: c.h5}
  - {table: f, path: parts/, format: csv, partition_by: [label]}
runtime: {shuffle_round_bytes: 1048576}
YAML
SHARDFLOW_PROGRESS_SECONDS=0.02 expect_exit 0 300 read 2 run read.yaml --set workdir=w1
grep -q "progress: step 1 (filter) 'f': reading c: [0-9]*% ([0-9.e+]* bytes of [0-9.e+]*), [0-9.e+]* bytes/s, ETA" read.err || { cat read.err; fail "no ingest progress line"; }
pass "CSV ingest reports progress in bytes, under the step that reads it"
SHARDFLOW_PROGRESS_SECONDS=0 expect_exit 0 300 all 2 run read.yaml --set workdir=w3
grep "\[r1\].*progress" all.err && fail "a rank other than 0 reported progress"
$PY - all.err <<'PY' || fail "progress of shuffle, group-by and output"
import re, sys
text = open(sys.argv[1]).read()
def series(what):
    rx = r"progress: " + re.escape(what) + r": (\d+)% \(([0-9.e+]+) rows of ([0-9.e+]+)\), [0-9.e+]+ rows/s, ETA (\d+ s|\?)"
    found = [(int(p), float(d), float(t)) for p, d, t, _ in re.findall(rx, text)]
    assert found, f"no progress line for {what!r}"
    pct = [p for p, _, _ in found]
    assert pct == sorted(pct) and pct[-1] == 100, f"{what}: percentages {pct}"
    return found
# 3e6 rows of 8 columns at 2 ranks, 1 MiB rounds: the shuffle takes many rounds.
shuffle = series("step 2 (group_by) 'g': shuffling")
assert len(shuffle) >= 10, f"{len(shuffle)} shuffle progress lines for many rounds"
assert shuffle[-1][1] == shuffle[-1][2] > 1e6, shuffle[-1]  # rank 0's rows, about half of 3e6
# id is distinct: packed keys, a shuffle, the regrouping, two aggregates: five passes.
group = series("step 2 (group_by) 'g': group-by")
assert [p for p, _, _ in group] == [20, 40, 60, 80, 100], group
series("step 2 (group_by) 'g': writing table 'g' to " + re.search(r"writing table 'g' to ([^:]+):", text).group(1))
series("output 'g': writing g.csv")
series("output 'c': writing table 'c' to c.h5.tmp")
series("output 'f': writing partitions of parts")
PY
pass "shuffle, group-by, stage writes and outputs report progress under their step or output"

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
