#!/usr/bin/env bash
# The quickstart on two hosts (network namespaces joined by a bridge, see lib.sh) of two ranks
# each, and of one rank each, against the same job on one host:
#  - the outputs, weights and metrics are identical to one host's (tests/support/compare_runs.py);
#  - the exchange transports' own test (tests/mpi/test_exchange.cpp) passes across the hosts:
#    hybrid at two ranks per host, MPI at one;
#  - the shuffle really crosses hosts: every rank's shuffle log line (debug) reports bytes to ranks
#    on the other host through MPI and sees 2 hosts, while bytes to the peer on its own host go
#    through on-node shared memory (the hybrid transport), as on one host (so the detection tells
#    the hosts apart although both share this machine's /proc and host name).
# Needs root (exit 77 otherwise); as root, a set-up that fails fails the test.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib.sh"
mh_require_root
mh_setup "$TMP" || fail "could not build the two hosts"
cd "$SRC"
JOB=(run jobs/quickstart.yaml --log-level debug --log-all-ranks)

# timed NAME CMD...: runs CMD with a 120 s limit, output in $TMP/NAME.log, wall time in $TMP/NAME.s.
timed() {
  local name="$1" rc=0 start end; shift
  start=$(date +%s.%N)
  timeout --kill-after=5 120 "$@" >"$TMP/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  if [ "$rc" != 0 ]; then
    tail -40 "$TMP/$name.log" >&2
    fail "$name: exit code $rc"
  fi
  echo "$end - $start" | bc >"$TMP/$name.s"
  echo "$name: $(cat "$TMP/$name.s") s"
}

timed one_host "$MPIEXEC" -np 4 --oversubscribe "$SHARDFLOW_BIN" "${JOB[@]}" --set "workdir=$TMP/one"
mh_cmd 2
timed two_hosts "${MH_CMD[@]}" "$SHARDFLOW_BIN" "${JOB[@]}" --set "workdir=$TMP/two"
mh_cmd 1
timed two_hosts_1 "${MH_CMD[@]}" "$SHARDFLOW_BIN" "${JOB[@]}" --set "workdir=$TMP/two1"

# check_shuffle LOG RANKS HOSTS WHERE: every rank's shuffle line in LOG; HOSTS hosts seen; bytes
# to other hosts > 0 on every rank iff HOSTS > 1; on-host bytes through WHERE.
check_shuffle() {
  $PY - "$@" <<'PY' || fail "shuffle transport in $1"
import re, sys
log, ranks, hosts, where = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pat = re.compile(r"\[r(\d+)\] \[debug\] shuffle: (\d+) rows \((\d+) bytes\) to other ranks: "
                 r"(\d+) bytes to ranks on other hosts through MPI, (\d+) bytes to ranks on this "
                 r"host \(host (\d+) of (\d+)\) through (shared memory|MPI)")
seen = {}
for line in open(log):
    m = pat.search(line)
    if m:
        seen.setdefault(int(m[1]), []).append(m)
assert sorted(seen) == list(range(ranks)), f"shuffle lines from ranks {sorted(seen)}, expected {ranks}"
for r, ms in sorted(seen.items()):
    other = sum(int(m[4]) for m in ms)
    here = sum(int(m[5]) for m in ms)
    host = {int(m[6]) for m in ms}
    print(f"rank {r}: host {host}, {other} bytes to other hosts, {here} bytes on this host via {ms[0][8]}")
    assert all(int(m[7]) == hosts for m in ms), f"rank {r} sees {ms[0][7]} hosts, expected {hosts}"
    assert (other > 0) == (hosts > 1), f"rank {r}: {other} bytes to other hosts"
    assert all(m[8] == where for m in ms), f"rank {r}: on-host transport {ms[0][8]}, expected {where}"
    if ranks > hosts:
        assert here > 0, f"rank {r}: nothing to ranks on its own host"
PY
}
check_shuffle "$TMP/one_host.log" 4 1 "shared memory"
# Hybrid: the peer on the same host through shared memory, the other host's ranks through MPI.
check_shuffle "$TMP/two_hosts.log" 4 2 "shared memory"
check_shuffle "$TMP/two_hosts_1.log" 2 2 MPI
# Ranks 0-1 on the first host, 2-3 on the second (mpirun fills a host's slots first).
grep -q '\[r1\] \[debug\] shuffle: .*(host 0 of 2)' "$TMP/two_hosts.log" || fail "rank 1 not on host 0"
grep -q '\[r2\] \[debug\] shuffle: .*(host 1 of 2)' "$TMP/two_hosts.log" || fail "rank 2 not on host 1"

# The exchange transports without table logic (tests/mpi/test_exchange.cpp) across the hosts:
# hybrid at 2 x 2 ranks, MPI at 2 x 1.
: "${SHARDFLOW_EXCHANGE_TEST:?set SHARDFLOW_EXCHANGE_TEST to the test_exchange executable}"
mh_cmd 2
timed exchange_2x2 "${MH_CMD[@]}" "$SHARDFLOW_EXCHANGE_TEST"
mh_cmd 1
timed exchange_2x1 "${MH_CMD[@]}" "$SHARDFLOW_EXCHANGE_TEST"
for f in exchange_2x2 exchange_2x1; do
  grep -q "PASSED" "$TMP/$f.log" || { tail -20 "$TMP/$f.log" >&2; fail "$f: the exchange test did not pass"; }
done

$PY tests/support/compare_runs.py "$TMP/one" "$TMP/two" --ordered test_set ||
  fail "two hosts x 2 ranks differ from one host"
$PY tests/support/compare_runs.py "$TMP/one" "$TMP/two1" --ordered test_set --across-ranks ||
  fail "two hosts x 1 rank differ from one host"
echo "wall time: one host $(cat "$TMP/one_host.s") s, two hosts x 2 ranks $(cat "$TMP/two_hosts.s") s (job start-up and data generation included; benchmarks/multihost.sh compares them)"
pass "quickstart on two hosts identical to one host; its shuffle crosses hosts through MPI and stays in shared memory on a host"
