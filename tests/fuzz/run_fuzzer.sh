#!/usr/bin/env bash
# The ctest driver of one fuzzer (tests/fuzz/CMakeLists.txt, docs/fuzzing.md):
#   run_fuzzer.sh FUZZER_BINARY FUZZ_SOURCE_DIR NAME SECONDS
# 1. replays every seed of corpus/NAME once (the checked-in regression inputs);
# 2. fuzzes for SECONDS from those seeds, with dict/NAME.dict, in a scratch corpus.
# Any crash, sanitizer report (ASan, UBSan, LeakSanitizer), timeout (10 s on one input) or memory
# blow-up (2 GB) fails the test; the input is saved as ./crash-* (or leak-*, timeout-*, oom-*) in
# the test's working directory and printed in base64, so it can be reproduced from the CI log.
set -euo pipefail
fuzzer=$1 dir=$2 name=$3 seconds=$4
seeds="$dir/corpus/$name"
[ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "no seeds in $seeds" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
common=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$PWD/" -print_final_stats=1)

report() {
  echo "fuzz.$name: FAILED ($1). Reproduce: $fuzzer <file>; see docs/fuzzing.md" >&2
  for f in "$PWD"/crash-* "$PWD"/leak-* "$PWD"/timeout-* "$PWD"/oom-*; do
    [ -e "$f" ] || continue
    echo "--- $f (base64):" >&2
    head -c 20000 "$f" | base64 >&2
  done
  exit 1
}

echo "== replaying $(ls "$seeds" | wc -l) seeds of $seeds"
set +e
"$fuzzer" "${common[@]}" -runs=0 "$seeds" > "$work/replay.log" 2>&1
rc=$?
tail -n 40 "$work/replay.log"
[ "$rc" -eq 0 ] || report "a seed fails: exit $rc"

echo "== fuzzing for ${seconds}s"
mkdir "$work/corpus"
"$fuzzer" "${common[@]}" -dict="$dir/dict/$name.dict" -max_total_time="$seconds" \
  "$work/corpus" "$seeds" > "$work/log" 2>&1
rc=$?
set -e
tail -n 60 "$work/log"
[ "$rc" -eq 0 ] || report "exit $rc"
echo "fuzz.$name: no failure in ${seconds}s"
