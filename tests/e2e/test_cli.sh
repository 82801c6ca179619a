#!/usr/bin/env bash
# The command line: help, version, usage errors, validate, gen (byte-identical at any rank count)
# and inspect (text and JSON) on a run's outputs.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
expect_exit 0 30 help 0 --help
grep -q "shardflow run JOB.yaml" "$TMP/help.out" || fail "--help output"
expect_exit 0 30 version 0 --version
grep -q "^shardflow [0-9]" "$TMP/version.out" || fail "--version output"
expect_exit 2 30 badcmd 0 rnu jobs/quickstart.yaml
grep -q "unknown command 'rnu'; did you mean 'run'?" "$TMP/badcmd.err" || fail "unknown command message"
expect_exit 2 30 badopt 0 run jobs/quickstart.yaml --resmue auto
grep -q "unknown option '--resmue'; did you mean '--resume'?" "$TMP/badopt.err" || { cat "$TMP/badopt.err"; fail "unknown option message"; }
expect_exit 2 30 badset 0 validate jobs/quickstart.yaml --set train.optimizer.lr=fast
grep -q "train.optimizer.lr" "$TMP/badset.err" || { cat "$TMP/badset.err"; fail "--set type error"; }

# Every command takes --help; a bad --resume is refused before any work; row counts like 1e3.
for cmd in run validate inspect gen cache; do
  expect_exit 0 30 "help-$cmd" 0 "$cmd" --help
  grep -q "^usage:" "$TMP/help-$cmd.out" || fail "$cmd --help prints no usage"
done
expect_exit 2 30 resume-typo 2 run jobs/quickstart.yaml --set "workdir=$TMP/resume-typo" --resume sometimes
grep -q "\-\-resume 'sometimes': expected auto, never or the path of a checkpoint file" "$TMP/resume-typo.err" \
  || { cat "$TMP/resume-typo.err"; fail "--resume typo message"; }
[ -e "$TMP/resume-typo" ] && fail "a bad --resume still started the run"
expect_exit 2 30 no-job 0 run
grep -q "shardflow run: missing the job file, e.g. jobs/quickstart.yaml" "$TMP/no-job.err" || fail "run without a job"
# A workdir whose name has glob characters ("[1]") is a name, not a pattern.
expect_exit 0 300 brackets 2 run jobs/quickstart.yaml --set "workdir=$TMP/a[1]/w"
expect_exit 0 30 gen-sci 0 gen classification --rows 1e3 --out "$TMP/sci.csv"
[ "$(wc -l < "$TMP/sci.csv")" = 1001 ] || fail "gen --rows 1e3 row count"
expect_exit 2 30 gen-frac 0 gen classification --rows 2.5 --out "$TMP/frac.csv"
grep -q "must be a whole number" "$TMP/gen-frac.err" || fail "gen --rows 2.5 message"

expect_exit 0 60 validate 0 validate jobs/quickstart.yaml --profile configs/local.yaml
grep -q "table by_segment from step 4 (group_by): segment:string" "$TMP/validate.out" || { cat "$TMP/validate.out"; fail "validate schemas"; }

expect_exit 0 60 gen1 0 gen groupby --rows 5000 --out "$TMP/g1.csv"
expect_exit 0 60 gen3 3 gen groupby --rows 5000 --out "$TMP/g3.csv"
cmp "$TMP/g1.csv" "$TMP/g3.csv" || fail "gen output differs between 1 and 3 ranks"
[ "$(wc -l < "$TMP/g1.csv")" = 5001 ] || fail "gen row count"
head -1 "$TMP/g1.csv" | grep -q "^id1,id2,id3,id4,id5,id6,v1,v2,v3" || fail "gen header"

expect_exit 0 300 run 2 run jobs/quickstart.yaml --set "workdir=$TMP/run"
expect_exit 0 30 inspect-table 0 inspect "$TMP/run/outputs/by_segment.h5"
grep -q "by_segment: 5 rows" "$TMP/inspect-table.out" || { cat "$TMP/inspect-table.out"; fail "inspect table"; }
expect_exit 0 30 inspect-json 0 inspect "$TMP/run/outputs/by_segment.h5" --json
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['tables'][0]['rows']==5, d" "$TMP/inspect-json.out" \
  || fail "inspect --json"
expect_exit 0 30 inspect-ckpt 0 inspect "$TMP/run/model.h5"
grep -q "checkpoint at step" "$TMP/inspect-ckpt.out" || { cat "$TMP/inspect-ckpt.out"; fail "inspect checkpoint"; }
expect_exit 0 30 inspect-ckpt-json 0 inspect "$TMP/run/model.h5" --json
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['kind']=='checkpoint' and d['step']>0 and d['arrays'], d" \
  "$TMP/inspect-ckpt-json.out" || fail "inspect --json of a checkpoint"
expect_exit 3 30 inspect-missing 0 inspect "$TMP/nope.h5"
pass "cli"
