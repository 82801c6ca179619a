#!/usr/bin/env bash
# Side-by-side benchmark of shardflow's training (a real `shardflow run` job: train + evaluate)
# against scikit-learn and PyTorch DDP on the same data, split, standardization and objective, all
# in one run on this machine:
#
#   benchmarks/train_comparisons.sh [--rows N] [--out DIR] [--repeats R] [--ranks "1 2"]
#       [--peer-threads "2"] [--cases "logistic linear softmax mlp"]
#       [--datasets "synthetic breast_cancer diabetes wine digits"] [--peers "sklearn torch"]
#       [--optimizer sgd|adam|lbfgs] [--epochs E] [--batch-size B] [--lr LR] [--l2 L] [--momentum M]
#       [--dtype float64|float32]
#
# Defaults: --rows 2e6 (the synthetic set), --out benchmarks/results, --repeats 3, --ranks "1 2"
# (shardflow's mpirun ranks and the PyTorch DDP world sizes), --peer-threads 2 (BLAS threads of
# scikit-learn's exact solvers and MLPClassifier), all cases, data sets and peers; the synthetic
# set's training (every case on it): --optimizer sgd --epochs 3 --batch-size 4096 --lr 0.1
# --l2 1e-4 --momentum 0. The small bundled sets train with fixed settings (see case_settings).
# --dtype: shardflow's training matrix (train.features.dtype; default float64, as the peers').
# --optimizer lbfgs: the synthetic set's cases train full-batch with lbfgs at its default stopping
# tests (--epochs, when given, is its max_iterations); the peers are scikit-learn's lbfgs at tol
# 1e-10 and at its default tol (logistic) and Ridge (linear); PyTorch DDP is left out.
# Cases and the data sets they fit (FITS below): logistic (binary logistic regression): synthetic,
# breast_cancer; linear (least squares / ridge): synthetic, diabetes; softmax (multinomial logistic
# regression): synthetic, wine, digits; mlp (a multilayer perceptron, hidden [64], relu, softmax
# output, adam): wine, digits. Every pair of a listed case and a listed data set that fits runs;
# without --cases (--datasets) the cases (data sets) are those that fit the data sets (cases)
# named; a case or data set named that fits none of the others named is an error.
# Data (benchmarks/peers/train_data.py, written once per row count): synthetic, N x 64 float64
# features from a fixed seed with three labels (a 0/1 `label` from a logistic model, a numeric
# `target`, a linear function plus noise, and a 5-way `class` from a multinomial model, all with
# known weights); and scikit-learn's bundled breast_cancer (`label`), diabetes (`target`), wine and
# digits (`class`). All as h5py tables (one dataset per column at the file root: f0.., the labels,
# id), read by shardflow as {format: hdf5, path: FILE, table: /}. Every tool trains on the rows
# with id % 5 != 0 and evaluates on the others, standardized by the training rows' mean and
# population standard deviation.
# Objectives (l2/2 times the squared weights, intercepts and biases not penalized, plus): logistic,
# mean log loss; linear, mean squared error / 2; softmax and mlp, mean cross-entropy. shardflow: a
# job with two filter steps, train (the case's model; sgd at a constant lr, or adam) and evaluate
# (logistic [auc, logloss, accuracy]; linear [rmse, mae, r2]; softmax, mlp [accuracy, logloss,
# macro_f1]), run R times per rank count with --no-cache --resume never; timings from the run's
# metrics.json, the objective computed from its model.h5 (not for mlp). Peers: scikit-learn's
# exact optimum, the yardstick of every objective (logistic, softmax: LogisticRegression(lbfgs);
# linear: Ridge(cholesky)), its per-sample SGD (logistic: SGDClassifier; linear: SGDRegressor;
# seconds per epoch), its MLPClassifier (mlp: the same layers, optimizer, batch and epochs);
# PyTorch DDP (gloo, one thread per rank, the case's module, the same global batch, optimizer, lr
# and epochs); each in a fresh process per run. The report keeps each tool's run with the least
# training time. See benchmarks/README.md ("Training").
# Environment: SHARDFLOW_BUILD_DIR (default <repo>/build-release), SHARDFLOW_BENCH_NO_BUILD=1 (use
#              $SHARDFLOW_BUILD_DIR/shardflow as it is, e.g. while another build of it runs),
#              SHARDFLOW_BENCH_PEER_TIMEOUT (seconds a peer may run, default 1800),
#              MPIEXEC (default mpirun), SHARDFLOW_PYTHON (default /usr/bin/python3, Debian's, with
#              python3-sklearn python3-h5py python3-torch: installed with apt-get when missing).
# Output: DIR/train_results.json (JSON lines), DIR/train_results.md, DIR/logs/train_*.log,
#         DIR/train_<case>_<dataset>.yaml (the jobs), DIR/train_work/ (their workdirs).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=$SRC/benchmarks/peers
ALL_CASES="logistic linear softmax mlp"
ALL_DATASETS="synthetic breast_cancer diabetes wine digits"
ALL_PEERS="sklearn torch"
# The data sets each case fits (its task's label column is in them): the synthetic set has all
# three labels; breast_cancer is binary, diabetes regression, wine and digits multiclass.
declare -A FITS=(
  [logistic]="synthetic breast_cancer"
  [linear]="synthetic diabetes"
  [softmax]="synthetic wine digits"
  [mlp]="wine digits"
)
CASES=$ALL_CASES
DATASETS=$ALL_DATASETS
PEERS=$ALL_PEERS
CASES_GIVEN=0
DATASETS_GIVEN=0
OPTIMIZER=sgd
EPOCHS=3
EPOCHS_GIVEN=""
BATCH=4096
LR=0.1
L2=1e-4
MOMENTUM=0
DTYPE=float64
SEED=42
# The command that reproduces this run, for the top of the report.
COMMAND="benchmarks/train_comparisons.sh"
for arg in "$@"; do COMMAND+=" $(printf '%q' "$arg")"; done
for var in SHARDFLOW_BUILD_DIR SHARDFLOW_BENCH_NO_BUILD MPIEXEC SHARDFLOW_PYTHON; do
  [[ -z ${!var:-} ]] || COMMAND="$var=$(printf '%q' "${!var}") $COMMAND"
done

die() {
  echo "train_comparisons.sh: error: $*" >&2
  exit 1
}

# The options beside those of bench_parse_options.
bench_extra_option() {
  case $1 in
    --cases) CASES=${2?--cases needs a value} CASES_GIVEN=1 ;;
    --datasets) DATASETS=${2?--datasets needs a value} DATASETS_GIVEN=1 ;;
    --peers) PEERS=${2?--peers needs a value} ;;
    --optimizer) OPTIMIZER=${2?--optimizer needs a value} ;;
    --epochs) EPOCHS=${2?--epochs needs a value} EPOCHS_GIVEN=1 ;;
    --batch-size) BATCH=${2?--batch-size needs a value} ;;
    --lr) LR=${2?--lr needs a value} ;;
    --l2) L2=${2?--l2 needs a value} ;;
    --momentum) MOMENTUM=${2?--momentum needs a value} ;;
    --dtype) DTYPE=${2?--dtype needs a value} ;;
    *) return 1 ;;
  esac
}
source "$SRC/benchmarks/job_bench_lib.sh"
# This benchmark's default row count is 2e6, not the library's 1e7.
has_rows=0
for arg in "$@"; do [[ $arg != --rows ]] || has_rows=1; done
((has_rows)) || set -- --rows 2000000 "$@"
bench_parse_options 2,48 "--rows N --out DIR --repeats R --ranks LIST --peer-threads LIST --cases LIST --datasets LIST --peers LIST --optimizer sgd|adam|lbfgs --epochs E --batch-size B --lr LR --l2 L --momentum M --dtype float64|float32" "$@"
[[ $DTYPE == float64 || $DTYPE == float32 ]] || die "--dtype must be float64 or float32, not '$DTYPE'"

in_list() { [[ " $2 " == *" $1 "* ]]; }
fits() { in_list "$2" "${FITS[$1]}"; } # fits CASE DATASET
fits_text() {
  local c out=""
  for c in $ALL_CASES; do out+="${out:+; }$c: ${FITS[$c]// /, }"; done
  echo "$out"
}
for c in $CASES; do in_list "$c" "$ALL_CASES" || die "unknown case '$c' (cases: $ALL_CASES)"; done
for d in $DATASETS; do in_list "$d" "$ALL_DATASETS" || die "unknown data set '$d' (data sets: $ALL_DATASETS)"; done
for p in $PEERS; do in_list "$p" "$ALL_PEERS" || die "unknown peer '$p' (peers: $ALL_PEERS)"; done
[[ -n ${CASES// /} && -n ${DATASETS// /} ]] || die "--cases and --datasets must name at least one each"
# Without --cases: the cases that fit a data set named; without --datasets: the data sets that
# fit a case named. Then every case and data set named must be in at least one pair that runs.
if ((!CASES_GIVEN)); then
  kept=""
  for c in $CASES; do for d in $DATASETS; do if fits "$c" "$d"; then kept+=" $c" && break; fi; done; done
  CASES=${kept# }
fi
if ((!DATASETS_GIVEN)); then
  kept=""
  for d in $DATASETS; do for c in $CASES; do if fits "$c" "$d"; then kept+=" $d" && break; fi; done; done
  DATASETS=${kept# }
fi
for c in $CASES; do
  any=0
  for d in $DATASETS; do if fits "$c" "$d"; then any=1; fi; done
  ((any)) || die "case '$c' fits none of the data sets '$DATASETS' (data sets per case: $(fits_text))"
done
for d in $DATASETS; do
  any=0
  for c in $CASES; do if fits "$c" "$d"; then any=1; fi; done
  ((any)) || die "data set '$d' fits none of the cases '$CASES' (data sets per case: $(fits_text))"
done
[[ $OPTIMIZER == sgd || $OPTIMIZER == adam || $OPTIMIZER == lbfgs ]] ||
  die "--optimizer must be sgd, adam or lbfgs, got '$OPTIMIZER'"
[[ $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "--epochs must be a positive integer, got '$EPOCHS'"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "--batch-size must be a positive integer, got '$BATCH'"
number='^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$'
if ! [[ $LR =~ $number ]] || ! awk -v x="$LR" 'BEGIN { exit !(x > 0) }'; then
  die "--lr must be a positive number like 0.1, got '$LR'"
fi
[[ $L2 =~ $number ]] || die "--l2 must be a non-negative number like 1e-4, got '$L2'"
if ! [[ $MOMENTUM =~ $number ]] || ! awk -v x="$MOMENTUM" 'BEGIN { exit !(x < 1) }'; then
  die "--momentum must be a number in [0, 1), got '$MOMENTUM'"
fi
for np in $RANKS; do
  [[ $np =~ ^[1-9][0-9]*$ ]] || die "--ranks must list positive integers, got '$RANKS'"
  ((BATCH % np == 0)) || ! in_list torch "$PEERS" || ! in_list synthetic "$DATASETS" ||
    die "--batch-size $BATCH is not a multiple of $np ranks: PyTorch DDP takes batch-size / ranks rows per rank and step (choose a multiple, or leave torch out with --peers sklearn)"
done
for t in $PEER_THREADS; do
  [[ $t =~ ^[1-9][0-9]*$ ]] || die "--peer-threads must list positive integers, got '$PEER_THREADS'"
done

# ---- Python and its packages -------------------------------------------------------------------
# Debian's Python, which has (or gets) numpy, h5py, scikit-learn and torch; a python3 earlier in
# PATH (pyenv) may have none of them.
PY=${SHARDFLOW_PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || die "no Python at $PY: install python3 (apt-get install python3) or set SHARDFLOW_PYTHON"
modules="numpy h5py sklearn"
packages="python3-numpy python3-h5py python3-sklearn"
if in_list torch "$PEERS"; then modules+=" torch"; packages+=" python3-torch"; fi
missing_modules() {
  local m out=""
  for m in $modules; do "$PY" -c "import $m" 2>/dev/null || out+=" $m"; done
  echo "${out# }"
}
missing=$(missing_modules)
if [[ -n $missing ]]; then
  hint="install them with 'apt-get install -y $packages' or set SHARDFLOW_PYTHON to a python3 that has them"
  if [[ $PY != /usr/bin/python3* || $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    die "$PY cannot import: $missing; $hint"
  fi
  echo "installing $packages (for $PY, which cannot import: $missing)"
  # shellcheck disable=SC2086 # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >"${TMPDIR:-/tmp}/train_comparisons_apt.log" 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >"${TMPDIR:-/tmp}/train_comparisons_apt.log" 2>&1; } ||
    die "apt-get could not install $packages (log: ${TMPDIR:-/tmp}/train_comparisons_apt.log); $hint"
  missing=$(missing_modules)
  [[ -z $missing ]] || die "$PY still cannot import: $missing after installing $packages; $hint"
fi

# ---- shardflow ---------------------------------------------------------------------------------
# As bench_setup in job_bench_lib.sh (a Release build, configured if missing; Open MPI as root),
# without the node packages of the other benchmarks' peers.
BUILD=${SHARDFLOW_BUILD_DIR:-$SRC/build-release}
MPIEXEC=${MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [[ ${SHARDFLOW_BENCH_NO_BUILD:-0} == 1 ]]; then
  [[ -f $BUILD/CMakeCache.txt && -x $BUILD/shardflow ]] ||
    die "SHARDFLOW_BENCH_NO_BUILD=1 but there is no built $BUILD/shardflow: build it (ninja -C $BUILD shardflow) or unset SHARDFLOW_BENCH_NO_BUILD"
elif [[ ! -f $BUILD/CMakeCache.txt ]]; then
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[[ $build_type == Release ]] ||
  die "$BUILD is configured as '$build_type'; timings need a Release build: set SHARDFLOW_BUILD_DIR to a Release build dir"
[[ ${SHARDFLOW_BENCH_NO_BUILD:-0} == 1 ]] || ninja -C "$BUILD" -j "${SHARDFLOW_BUILD_JOBS:-2}" shardflow
BIN=$BUILD/shardflow
CORES=$(nproc)
PEER_TIMEOUT=${SHARDFLOW_BENCH_PEER_TIMEOUT:-1800}
[[ $PEER_TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
  die "SHARDFLOW_BENCH_PEER_TIMEOUT must be a positive number of seconds, got '$PEER_TIMEOUT'"

mkdir -p "$OUT/logs" "$OUT/train_work"
RESULTS=$OUT/train_results.json
: >"$RESULTS"
emit() { "$PY" -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@" >>"$RESULTS"; }
emit bench command value "$COMMAND"
emit bench machine cores "$CORES" cpu "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
  shardflow "$BIN" python "$PY"
emit bench load_average_start value "$(cut -d' ' -f1-3 /proc/loadavg)"

# dataset_file NAME: writes the data set's file once (DATA; again when it predates the label
# columns of every task, written by an older train_data.py).
dataset_file() {
  local gen
  case $1 in
    synthetic)
      DATA=$OUT/train_synthetic_${ROWS}.h5
      gen=(synthetic "$DATA" --rows "$ROWS") ;;
    *)
      DATA=$OUT/train_$1.h5
      gen=("$1" "$DATA") ;;
  esac
  if [[ ! -s $DATA || ! -s $DATA.json ]] || ! grep -q '"labels"' "$DATA.json"; then
    echo "== writing $DATA"
    "$PY" "$PEERS_DIR/train_data.py" "${gen[@]}" || die "could not write the data set $DATA (see the error above)"
  fi
}

# case_settings CASE DATASET: the training settings of a case on a data set. The synthetic set
# takes the command line's; each small bundled set has its own, for its size (142 to 1437 training
# rows: small batches, many epochs), chosen so that shardflow's SGD ends near the exact optimum
# (measured with shardflow alone): diabetes' standardized features are ill-conditioned (their
# covariance's eigenvalues span 0.009 to 4.1): batch 64 at lr 0.05 for 500 epochs ends 0.08% above
# Ridge's objective (batch 32 at lr 0.02 for 200 epochs: 3%); softmax at lr 0.5 ends 5e-4 above
# lbfgs' on wine and 4e-4 on digits (lr 0.1: 8e-3 and 2e-3). mlp: adam as scikit-learn's
# MLPClassifier default (lr 0.001 on digits; 0.01 on wine's 9 steps an epoch), l2 1e-4.
case_settings() {
  D_OPT=sgd D_MOMENTUM=0
  case $2:$1 in
    synthetic:*) D_OPT=$OPTIMIZER D_BATCH=$BATCH D_EPOCHS=$EPOCHS D_LR=$LR D_L2=$L2 D_MOMENTUM=$MOMENTUM ;;
    breast_cancer:logistic) D_BATCH=32 D_EPOCHS=100 D_LR=0.1 D_L2=1e-3 ;;
    diabetes:linear) D_BATCH=64 D_EPOCHS=500 D_LR=0.05 D_L2=1e-3 ;;
    wine:softmax) D_BATCH=16 D_EPOCHS=100 D_LR=0.5 D_L2=1e-3 ;;
    digits:softmax) D_BATCH=32 D_EPOCHS=100 D_LR=0.5 D_L2=1e-3 ;;
    wine:mlp) D_OPT=adam D_BATCH=16 D_EPOCHS=100 D_LR=0.01 D_L2=1e-4 ;;
    digits:mlp) D_OPT=adam D_BATCH=32 D_EPOCHS=50 D_LR=0.001 D_L2=1e-4 ;;
    *) die "no training settings for case $1 on $2 (add them to case_settings)" ;;
  esac
  # The optimizer as the job writes it, and the same settings for the peers.
  if [[ $D_OPT == lbfgs ]]; then
    # Full batch, to its own stopping tests (the defaults; --epochs is its iteration limit when
    # given); the batch size, lr and momentum do not apply. The peers run scikit-learn's lbfgs.
    D_OPT_YAML="{type: lbfgs${EPOCHS_GIVEN:+, max_iterations: $EPOCHS}}"
    D_OPT_ARGS=(--optimizer lbfgs --lr "$D_LR" --batch-size "$D_BATCH" --epochs "$D_EPOCHS")
  elif [[ $D_OPT == adam ]]; then
    D_OPT_YAML="{type: adam, lr: $D_LR, beta1: 0.9, beta2: 0.999, eps: 1.0e-8, batch_size: $D_BATCH, epochs: $D_EPOCHS}"
    D_OPT_ARGS=(--optimizer adam --lr "$D_LR" --beta1 0.9 --beta2 0.999 --eps 1e-8 --batch-size "$D_BATCH" --epochs "$D_EPOCHS")
  else
    D_OPT_YAML="{type: sgd, lr: $D_LR, momentum: $D_MOMENTUM, batch_size: $D_BATCH, epochs: $D_EPOCHS}"
    D_OPT_ARGS=(--optimizer sgd --lr "$D_LR" --momentum "$D_MOMENTUM" --batch-size "$D_BATCH" --epochs "$D_EPOCHS")
  fi
}

# run_peer LOG TOOL RANKS_OR_THREADS COMMAND...: runs a peer, appends its JSON lines; a peer that
# fails, or does not end within SHARDFLOW_BENCH_PEER_TIMEOUT seconds (default 1800; once, a
# 2-rank DDP run printed its result and then hung on a loaded machine), is recorded as failed
# (with what it answered before) instead of ending the comparison.
run_peer() {
  local log=$1 tool=$2 width=$3 status=0 reason
  shift 3
  timeout --kill-after=30 "$PEER_TIMEOUT" "$@" 2>"$log" >"$log.out" || status=$?
  grep '^{' "$log.out" | tee -a "$RESULTS" | cut -c1-160 || true
  if ((status != 0)); then
    reason="exit status $status"
    if ((status == 124)); then
      reason="did not end within $PEER_TIMEOUT s (SHARDFLOW_BENCH_PEER_TIMEOUT), stopped"
    elif ((status > 128)); then
      reason="killed by signal $((status - 128))"
      ((status - 128 == 9)) && reason+=" (SIGKILL: most likely the kernel's out-of-memory killer; see dmesg)"
    fi
    echo "== $tool failed: $reason (log: $log)" >&2
    emit bench train_failed case "$case" dataset "$ds" tool "$tool" width "$width" reason "$reason; log: $log"
  fi
}

for ds in $DATASETS; do
  dataset_file "$ds"
  features=$("$PY" -c 'import json, sys; print(", ".join(json.load(open(sys.argv[1]))["features"]))' "$DATA.json")
  warm_page_cache() { cat "$DATA" >/dev/null; }
  for case in $CASES; do
    fits "$case" "$ds" || continue
    case_settings "$case" "$ds"
    # The case's `model:` entry, metrics and label column, from train_common (one line each).
    case_yaml=$("$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import train_common as tc
c = tc.CASES[sys.argv[2]]; print(c.yaml(float(sys.argv[3]))); print("[" + ", ".join(c.metrics) + "]")
print(tc.label_column(tc.describe(sys.argv[4]), c.task))' \
      "$PEERS_DIR" "$case" "$D_L2" "$DATA") || die "train_common.py has no case '$case' (see the error above)"
    { read -r model && read -r metrics && read -r label; } <<<"$case_yaml"
    emit bench train_config case "$case" dataset "$ds" data "$DATA" batch_size "$D_BATCH" epochs "$D_EPOCHS" \
      lr "$D_LR" l2 "$D_L2" momentum "$D_MOMENTUM" optimizer "$D_OPT_YAML" model "$model" label "$label" \
      dtype "$DTYPE"
    JOB=$OUT/train_${case}_${ds}.yaml
    cat >"$JOB" <<EOF
name: train_${case}_${ds}
seed: $SEED
workdir: $OUT/train_work/${case}_${ds}
inputs:
  data: {format: hdf5, path: $DATA, table: /}
steps:
  - {op: filter, input: data, where: "id % 5 != 0", output: train_set}
  - {op: filter, input: data, where: "id % 5 == 0", output: test_set}
train:
  input: train_set
  label: $label
  features: {numeric: [$features]$([[ $DTYPE == float64 ]] || echo ", dtype: $DTYPE")}
  transforms: [{scale: standard}]
  model: $model
  optimizer: $D_OPT_YAML
evaluate: {input: test_set, metrics: $metrics}
EOF
    "$BIN" validate "$JOB" >"$OUT/logs/train_validate_${case}_${ds}.log" 2>&1 ||
      die "the benchmark job $JOB does not validate: $(tail -1 "$OUT/logs/train_validate_${case}_${ds}.log")"

    # ---- shardflow -----------------------------------------------------------------------------
    for np in $RANKS; do
      extra=()
      if ((np > CORES)); then
        extra=(--oversubscribe)
        echo "note: $np ranks on $CORES cores: mpirun --oversubscribe; these timings measure oversubscription"
      fi
      for ((run = 1; run <= REPEATS; run++)); do
        log=$OUT/logs/train_shardflow_${case}_${ds}.np$np.run$run.log
        work=$OUT/train_work/${case}_${ds}_np$np
        echo "== shardflow $case on $ds, $np rank(s), run $run of $REPEATS"
        rm -rf "$work"/checkpoints* # every run trains from step 0
        warm_page_cache
        launch=$(date +%s.%N)
        "$MPIEXEC" "${extra[@]}" -np "$np" "$BIN" run "$JOB" --no-cache --resume never --set "workdir=$work" 2>"$log" ||
          { tail -20 "$log" >&2; die "the shardflow job failed (log: $log)"; }
        wall=$(awk -v a="$launch" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
        "$PY" "$PEERS_DIR/train_shardflow.py" "$work" "$DATA" --case "$case" --l2 "$D_L2" --ranks "$np" \
          --run "$run" --log "$log" --launch "$launch" --wall "$wall" >>"$RESULTS" ||
          die "could not read the results of the shardflow run in $work (see the error above; log: $log)"
        tail -1 "$RESULTS" | cut -c1-160
      done
    done

    # ---- peers ---------------------------------------------------------------------------------
    if in_list sklearn "$PEERS"; then
      only=() # the single-threaded estimators (per-sample SGD) only with the first thread count
      for t in $PEER_THREADS; do
        for ((run = 1; run <= REPEATS; run++)); do
          echo "== scikit-learn $case on $ds${only[*]:+ (BLAS-threaded estimators only)}, $t thread(s), run $run of $REPEATS"
          warm_page_cache
          run_peer "$OUT/logs/train_sklearn_${case}_${ds}.t$t.run$run.log" sklearn "$t" \
            "$PY" "$PEERS_DIR/train_sklearn.py" "$DATA" --case "$case" --l2 "$D_L2" "${D_OPT_ARGS[@]}" \
            --threads "$t" --run "$run" --seed "$SEED" "${only[@]}"
        done
        only=(--only-threaded)
      done
    fi
    if in_list torch "$PEERS" && [[ $D_OPT == lbfgs ]]; then
      echo "note: PyTorch DDP left out of $case on $ds: it has no full-batch lbfgs to compare with"
    elif in_list torch "$PEERS"; then
      for np in $RANKS; do
        if ((D_BATCH % np != 0)); then
          echo "note: PyTorch DDP left out at $np ranks on $ds: its batch size $D_BATCH is not a multiple of $np"
          emit bench train_failed case "$case" dataset "$ds" tool torch_ddp width "$np" \
            reason "not run: batch size $D_BATCH is not a multiple of $np ranks"
          continue
        fi
        for ((run = 1; run <= REPEATS; run++)); do
          echo "== PyTorch DDP $case on $ds, $np rank(s), run $run of $REPEATS"
          warm_page_cache
          run_peer "$OUT/logs/train_torch_${case}_${ds}.np$np.run$run.log" torch_ddp "$np" \
            "$PY" "$PEERS_DIR/train_torch_ddp.py" "$DATA" --case "$case" --l2 "$D_L2" "${D_OPT_ARGS[@]}" \
            --ranks "$np" --run "$run" --seed "$SEED"
        done
      done
    fi
  done
done
emit bench load_average_end value "$(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" "$SRC/benchmarks/train_report.py" "$RESULTS" "$OUT/train_results.md"
