#!/usr/bin/env bash
# Fault campaign: SIGKILL of one rank at random points of every phase of a job (ingest, shuffle,
# stage commit, training, checkpoint write, output write) and after random delays from outside,
# over many trials. After every kill, the command a user would run next (a plain rerun, which
# resumes training from the newest valid checkpoint) must succeed, and its outputs, model weights
# and metrics must equal an uninterrupted run's (tests/support/compare_runs.py; the CSV output
# byte for byte, or as sorted lines across rank counts). A kill during training or a checkpoint
# write must cost at most the steps since the newest checkpoint completed before it.
#
# Exact points use SHARDFLOW_INJECT_FAULT=<point>@<rank> with SHARDFLOW_INJECT_KILL=1 (the list
# of points: include/shardflow/common/fault_injection.hpp). Most trials keep one workdir, so the
# debris of one kill (temp files, half-written stages, checkpoints moved aside) meets later runs;
# the others start from an empty workdir. Some trials kill twice in a row (training, then the
# resumed run at a later point). Some run at 3 ranks (oversubscribed), half of those continued at
# 2 ranks, and are compared across rank counts. Prints per phase: trials, kills, exact recoveries.
#
#   FAULT_CAMPAIGN_SEED=N   reproduce a campaign (the seed is printed first)
#   FAULT_CAMPAIGN_TRIALS=N number of trials (default 32; the issue asks for at least 30)
source "$(dirname "$0")/lib.sh"
cd "$SRC"
SEED="${FAULT_CAMPAIGN_SEED:-20261130}"
TRIALS="${FAULT_CAMPAIGN_TRIALS:-32}"
echo "fault campaign: seed $SEED, $TRIALS trials (FAULT_CAMPAIGN_SEED=$SEED reproduces it)"
RANDOM=$SEED
started=$(date +%s)

# ---- a small job that passes every fault point -----------------------------------------------
# Generated data (written once, then read as CSV), a CSV input, filters, two group-bys that shuffle
# in several rounds (tiny shuffle_round_bytes), outputs of both kinds (copies of stage files, an
# input table through the HDF5 writer, a CSV file), training with checkpoints every 8 of 36 steps.
sf 0 gen groupby --rows 5000 --out "$TMP/sales.csv" >/dev/null 2>&1 || fail "gen groupby failed"
cat >"$TMP/job.yaml" <<EOF
name: campaign
seed: 42
workdir: $TMP/unused
inputs:
  events: {format: generate, kind: classification, rows: 6000}
  sales: {format: csv, path: "$TMP/sales.csv"}
steps:
  - {op: filter, input: events, where: "amount > 0 and id % 5 != 0", output: train_set}
  - {op: filter, input: events, where: "amount > 0 and id % 5 == 0", output: test_set}
  - {op: group_by, input: events, keys: [id], aggs: {amount: [sum], "*": [count]}, output: by_id}
  - {op: group_by, input: sales, keys: [id1, id4], aggs: {v1: [sum], v3: [mean, max]}, output: by_key}
outputs:
  - {table: by_id, path: by_id.h5}
  - {table: test_set, path: test_set.h5}
  - {table: sales, path: sales.h5}
  - {table: by_key, path: by_key.csv}
train:
  input: train_set
  label: label
  features: {numeric: [x1, x2, x3, x4]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-4}
  optimizer: {type: sgd, lr: 0.1, batch_size: 256, epochs: 2, momentum: 0.9}
  checkpoint: {every_steps: 8, keep: 2}
evaluate: {input: test_set, metrics: [auc, logloss, accuracy]}
runtime: {shuffle_round_bytes: 4096}
EOF
JOB=(run "$TMP/job.yaml")

ref_start=$(date +%s%N)
expect_exit 0 300 reference 2 "${JOB[@]}" --set "workdir=$TMP/ref"
ref_ms=$(( ($(date +%s%N) - ref_start) / 1000000 ))
# The job's own time (from its first log line to "done"), the window for timed kills.
job_ms=$(sed -n "s/^.*job 'campaign' done in \([0-9]*\)\.\([0-9]*\) s.*$/\1\2/p" "$TMP/reference.err")
job_ms=$((10#${job_ms:-1000} * 10))
STEPS=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['train']['steps'])" "$TMP/ref/metrics.json")
[ "$STEPS" -ge 16 ] || fail "the reference trained only $STEPS steps"
# Checkpoints are saved every 8 steps and at the last one.
CKPTS=($(seq 8 8 "$STEPS"))
[ $((STEPS % 8)) = 0 ] || CKPTS+=("$STEPS")
TABLES=(train_set test_set by_id by_key)
OUTPUTS=(by_id test_set sales by_key)

# ---- the trials: phases in random order, each phase several times ---------------------------
PHASES=(ingest shuffle stage train checkpoint output timed)
plan=()
for i in $(seq 0 $((TRIALS - 1))); do plan+=("${PHASES[i % ${#PHASES[@]}]}"); done
for ((i = ${#plan[@]} - 1; i > 0; i--)); do  # Fisher-Yates with the seeded RANDOM
  j=$((RANDOM % (i + 1))); t="${plan[i]}"; plan[i]="${plan[j]}"; plan[j]="$t"
done

# pick LIST: sets `picked` to a random element (no $(...): a subshell would not advance RANDOM).
pick() { local -n list="$1"; picked="${list[RANDOM % ${#list[@]}]}"; }

# The point to kill at, for a phase; sets `point` and `rank` (some points only rank 0 passes).
# Training and checkpoint points lie after step $3 (default 0).
choose_point() {
  local phase="$1" np="$2" after="${3:-0}" later=()
  rank=$((RANDOM % np))
  for c in "${CKPTS[@]}"; do [ "$c" -le "$after" ] || later+=("$c"); done
  case "$phase" in
    ingest)
      kind=$((RANDOM % 4))
      # The first ingest trial in a used workdir kills while the data is generated: the rerun
      # reuses every stage, never regenerates the data, and must still remove the temp file.
      if [ "$generated_forced" = 0 ] && [ "$keep" = 1 ]; then kind=3; generated_forced=1; fi
      case $kind in
        0) point=input ;;
        1) point=csv_parsed:events ;;
        2) point=csv_parsed:sales ;;
        3) point='text_written:events-*'; regenerate=1 ;;  # mid-way through generating the data
      esac ;;
    shuffle) point="shuffle_round:$((RANDOM % 4))" ;;  # 4 or more rounds at 2 and 3 ranks
    stage) pick STAGE_KINDS; point="$picked"; pick TABLES; point="$point:$picked" ;;
    train) point="train_step:$((after + 1 + RANDOM % (STEPS - after)))" ;;
    checkpoint)
      kind=$((RANDOM % 3))
      # The first checkpoint trial always kills between the rename of a checkpoint after the
      # first and the update of `latest` (a resume used to fall back one checkpoint there).
      if [ "$renamed_forced" = 0 ]; then
        kind=2; renamed_forced=1
        local beyond=()
        for c in "${later[@]}"; do [ "$c" -le "${CKPTS[0]}" ] || beyond+=("$c"); done
        later=("${beyond[@]}")
      fi
      case $kind in
        0) pick later; point="ckpt_write:$picked" ;;
        1) pick later; point="ckpt_rename:$picked"; rank=0 ;;  # rank 0 writes checkpoints
        2) pick later; point="ckpt_renamed:$picked"; rank=0 ;;
      esac ;;
    output)
      case $((RANDOM % 4)) in
        0) pick OUTPUTS; point="output_write:$picked" ;;
        1) pick OUTPUTS; point="output_published:$picked" ;;
        2) point=output_written:sales ;;         # the HDF5 writer's temp file, not renamed
        3) point=text_written:by_key.csv ;;      # the CSV output's temp file, not renamed
      esac ;;
  esac
  # A kill at training step N (or while checkpoint N is saved) costs at most the steps since the
  # newest checkpoint before N: the rerun must resume from it or a later one.
  min_resume=-1
  if [[ "$point" =~ ^(train_step|ckpt_[a-z]+):([0-9]+)$ ]]; then
    for c in "${CKPTS[@]}"; do [ "$c" -ge "${BASH_REMATCH[2]}" ] || min_resume=$c; done
    # Renamed into place, checkpoint N is complete even though `latest` still names the one before.
    [ "${BASH_REMATCH[1]}" != ckpt_renamed ] || min_resume="${BASH_REMATCH[2]}"
  fi
}
STAGE_KINDS=(stage_write stage_publish stage_committed)
renamed_forced=0
generated_forced=0

declare -A n_trials n_killed n_exact
declare -a trial_phase trial_np trial_text trial_min trial_resumed
for phase in "${PHASES[@]}"; do n_trials[$phase]=0; n_killed[$phase]=0; n_exact[$phase]=0; done
W2="$TMP/w2"   # kept across the 2-rank trials
W3="$TMP/w3"   # kept across the 3-rank trials

for trial in $(seq 1 "$TRIALS"); do
  phase="${plan[trial - 1]}"
  np=2; W="$W2"
  if [ $((RANDOM % 6)) = 0 ]; then np=3; W="$W3"; fi
  # Half the 3-rank runs are continued at 2 ranks (stages and checkpoints change rank count).
  rerun_np=$np
  if [ "$np" = 3 ] && [ $((RANDOM % 2)) = 0 ]; then rerun_np=2; fi
  keep=1
  if [ $((RANDOM % 4)) = 0 ] || [ ! -d "$W" ]; then keep=0; rm -rf "$W"; fi
  # A run in a used workdir recomputes everything (--no-cache) and trains from scratch
  # (--resume never, which moves the old checkpoints aside), so every point is reached; a run in
  # an empty workdir is the plain command.
  if [ "$keep" = 1 ]; then args=(--no-cache --resume never); else args=(); fi
  regenerate=0
  min_resume=-1
  n_trials[$phase]=$((n_trials[$phase] + 1))
  if [ "$phase" != timed ]; then
    how=""
    after=0
    if [ "$keep" = 1 ] && { [ "$phase" = train ] || [ "$phase" = checkpoint ]; } &&
       [ $((RANDOM % 2)) = 0 ]; then
      # Two kills in a row: training killed at step $after first, then the plain command, which
      # resumes from a checkpoint of that run, is killed at a later point.
      after=$((8 + RANDOM % (STEPS - 16)))
      first=$((RANDOM % np))
      rc=0
      SHARDFLOW_INJECT_FAULT="train_step:$after@$first" SHARDFLOW_INJECT_KILL=1 timeout 120 \
        "$MPIEXEC" -np "$np" --oversubscribe "$SHARDFLOW_BIN" "${JOB[@]}" "${args[@]}" \
        --set "workdir=$W" >"$TMP/first$trial.out" 2>"$TMP/first$trial.err" || rc=$?
      [ "$rc" != 124 ] || fail "trial $trial: the run killed at train_step:$after hung"
      [ "$rc" != 0 ] || fail "trial $trial: train_step:$after was not reached"
      args=()
      how="at train_step:$after on rank $first of $np, then the resumed run "
    fi
    choose_point "$phase" "$np" "$after"
    [ "$regenerate" = 0 ] || rm -rf "$W/data"
    # Points that every run passes (outputs are published and the CSV input they include is read
    # even when every stage and the model are reused): half the time the plain command is killed.
    if [ "$keep" = 1 ] && [ "$after" = 0 ] && [ $((RANDOM % 2)) = 0 ] &&
       [[ "$point" =~ ^(output_[a-z]+:.*|text_written:by_key.csv|input|csv_parsed:sales)$ ]]; then
      args=()
      how="(plain run) "
    fi
    how="${how}at $point on rank $rank of $np"
    rc=0
    SHARDFLOW_INJECT_FAULT="$point@$rank" SHARDFLOW_INJECT_KILL=1 timeout 120 \
      "$MPIEXEC" -np "$np" --oversubscribe "$SHARDFLOW_BIN" "${JOB[@]}" "${args[@]}" \
      --set "workdir=$W" >"$TMP/kill$trial.out" 2>"$TMP/kill$trial.err" || rc=$?
    [ "$rc" != 124 ] || fail "trial $trial: the run killed $how hung"
    [ "$rc" != 0 ] || { cat "$TMP/kill$trial.err"; fail "trial $trial: no rank was killed $how (the point was not reached)"; }
    n_killed[$phase]=$((n_killed[$phase] + 1))
  else
    rank=$((RANDOM % np))
    # Anywhere in the first 80% of an uninterrupted run's time, counted from its first log line.
    ms=$(( (RANDOM * 32768 + RANDOM) % (job_ms * 8 / 10) ))
    delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    how="after $delay s on rank $rank of $np"
    ( "$MPIEXEC" -np "$np" --oversubscribe "$SHARDFLOW_BIN" "${JOB[@]}" "${args[@]}" \
        --set "workdir=$W" >"$TMP/kill$trial.out" 2>"$TMP/kill$trial.err" ) &
    launcher=$!
    for _ in $(seq 1 600); do
      grep -q "job 'campaign' on" "$TMP/kill$trial.err" 2>/dev/null && break
      kill -0 "$launcher" 2>/dev/null || break
      sleep 0.02
    done
    sleep "$delay"
    # The rank processes are shardflow itself; pick one by its position among them.
    victim=$(pgrep -f -- "workdir=$W\$" | while read -r p; do
      [ "$(cat /proc/$p/comm 2>/dev/null)" = "shardflow" ] && echo "$p"; done | sort -n | sed -n "$((rank + 1))p" || true)
    if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
      n_killed[$phase]=$((n_killed[$phase] + 1))
      last=$(grep -h '\[info\]' "$TMP/kill$trial.err" 2>/dev/null | tail -n 1 | sed 's/^.*\[info\] //' | cut -c1-60 || true)
      how="$how (last log: ${last:-none})"
    else
      how="$how (no rank process was running then)"
    fi
    timeout 60 tail --pid="$launcher" -f /dev/null || fail "trial $trial: the job did not end within 60 s after SIGKILL"
    wait "$launcher" || true
  fi
  # What a user runs next: the same command, which resumes training from the newest valid
  # checkpoint (--resume auto is the default).
  expect_exit 0 300 "rerun$trial" "$rerun_np" "${JOB[@]}" --set "workdir=$W" >/dev/null
  # Results are compared after the last trial, all in one Python process (h5py's start-up
  # would otherwise cost more than a rerun); the workdir's results are kept per trial.
  mkdir -p "$TMP/results/$trial"
  cp -r "$W/outputs" "$W/model.h5" "$W/metrics.json" "$TMP/results/$trial/"
  # The rerun cleans up after the killed run: no temporary file is left (checkpoints moved aside
  # by --resume never are the user's to delete).
  find "$W" -name '*.tmp*' -not -path '*/checkpoints.old-*' >"$TMP/results/$trial/debris"
  [ "$keep" = 1 ] && where="kept workdir" || where="empty workdir"
  resumed=$(grep -o '"resumed_from_step": *-\?[0-9]*' "$W/metrics.json" | grep -o -- '-\?[0-9]*$' || echo '?')
  # The 3-rank workdir's results are compared across rank counts (row order of unordered
  # tables and of the CSV output follows the rank count that computed them).
  trial_phase[$trial]="$phase"; trial_np[$trial]="$np"
  trial_min[$trial]="${min_resume:--1}"; trial_resumed[$trial]="$resumed"
  trial_text[$trial]="trial $trial [$phase, $where]: killed $how; the rerun at $rerun_np ranks resumed from step $resumed"
  echo "${trial_text[$trial]}"
done

# ---- every rerun against the uninterrupted run ------------------------------------------------
# compare_runs.py's checks (outputs as multisets, test_set in order, weights bit for bit, metrics),
# for all trials in one process; a trial at 3 ranks is compared across rank counts.
$PY - "$SRC/tests/support" "$TMP/ref" "$TMP/results" "${trial_np[@]}" >"$TMP/compare.out" 2>&1 <<'PYEOF' || true
import contextlib, io, os, sys
sys.path.insert(0, sys.argv[1])
import compare_runs
ref, results, nps = sys.argv[2], sys.argv[3], sys.argv[4:]
for trial, np in enumerate(nps, start=1):
    problems = []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            d = os.path.join(results, str(trial))
            compare_runs.compare_outputs(ref, d, {"test_set"}, problems)
            compare_runs.compare_weights(ref, d, problems)
            compare_runs.compare_metrics(ref, d, np != "2", problems)
        except SystemExit as e:
            problems.append(f"unreadable results (exit {e.code})")
    print(f"trial {trial}: " + ("equal" if not problems else "DIFFERENT: " + "; ".join(problems)))
PYEOF
for trial in $(seq 1 "$TRIALS"); do
  phase="${trial_phase[$trial]}"
  verdict=$(grep "^trial $trial: " "$TMP/compare.out" | sed "s/^trial $trial: //" || true)
  d="$TMP/results/$trial/outputs"
  if [ "${trial_np[$trial]}" = 2 ]; then
    cmp -s "$TMP/ref/outputs/by_key.csv" "$d/by_key.csv" || verdict="$verdict; outputs/by_key.csv differs"
  else
    cmp -s <(sort "$TMP/ref/outputs/by_key.csv") <(sort "$d/by_key.csv") || verdict="$verdict; outputs/by_key.csv differs (as sorted lines)"
  fi
  if [ -s "$TMP/results/$trial/debris" ]; then
    verdict="$verdict; temporary files left after the rerun: $(tr '\n' ' ' <"$TMP/results/$trial/debris")"
  fi
  if [ "${trial_resumed[$trial]}" -lt "${trial_min[$trial]}" ] 2>/dev/null; then
    verdict="$verdict; the rerun resumed from step ${trial_resumed[$trial]}, but checkpoint ${trial_min[$trial]} was complete before the kill"
  fi
  if [ "$verdict" = equal ]; then
    n_exact[$phase]=$((n_exact[$phase] + 1))
    echo "trial $trial [$phase]: exact recovery"
  else
    echo "${trial_text[$trial]}: ${verdict:-not compared}" >&2
  fi
done

# ---- summary --------------------------------------------------------------------------------
total=0; killed=0; exact=0
printf '%-11s %7s %7s %16s\n' phase trials killed "exact recoveries"
for phase in "${PHASES[@]}"; do
  printf '%-11s %7d %7d %16d\n' "$phase" "${n_trials[$phase]}" "${n_killed[$phase]}" "${n_exact[$phase]}"
  total=$((total + n_trials[$phase])); killed=$((killed + n_killed[$phase])); exact=$((exact + n_exact[$phase]))
done
printf '%-11s %7d %7d %16d\n' all "$total" "$killed" "$exact"
echo "fault campaign: $total trials, $killed ranks killed, $exact exact recoveries in $(( $(date +%s) - started )) s (reference run ${ref_ms} ms, its job ${job_ms} ms; seed $SEED)"
[ "$exact" = "$total" ] || fail "not every trial recovered exactly (FAULT_CAMPAIGN_SEED=$SEED reproduces the campaign)"
# A timed kill can miss (the run not started yet or already over); most must hit.
[ "$killed" -ge $((total * 9 / 10)) ] || fail "only $killed of $total trials killed a rank; adjust the delays"
echo "1 passed, 0 failed"
