# Two "hosts" on this machine, built from network namespaces joined by a bridge, for the
# multi-host tests and benchmarks/multihost.sh (sourced, not run). Needs root.
#
#   sfh1 (10.77.0.11) --eth0==sfv1--+
#                                    sfbr (10.77.0.1/24)
#   sfh2 (10.77.0.12) --eth0==sfv2--+
#
# Open MPI starts the ranks of each host through an rsh agent ($MH_AGENT) that enters the
# namespace, and ranks talk TCP over the bridge exactly as between nodes. Cutting a host off is
# `ip link set sfv2 down` (mh_cut 2), restoring it `ip link set sfv2 up` (mh_restore 2).
#
# The namespaces share the process table, /proc and the host name with this machine; only the
# network is separate. Open MPI still treats sfh1 and sfh2 as separate nodes, because it starts one
# daemon per host name it was given.
#
# mh_setup creates everything and installs a trap that removes it again on exit (also on failure
# or a signal): the namespaces, the bridge, the veth pairs and the two /etc/hosts lines. Only one
# set can exist at a time: mh_setup holds a lock for the life of the calling shell.

MH_HOSTS=(sfh1 sfh2)
MH_NET=10.77.0.0/24
MH_LOCK=/run/lock/shardflow-multihost.lock
MH_HOSTS_MARK="# shardflow-multihost"

# The Open MPI settings for this network (docs/networks.md explains each):
#  - TCP only, and only on the bridge's subnet, for the ranks (btl) and the daemons (oob);
#  - ob1 with mpi_yield_when_idle: without them every message across a veth pair waits for the
#    next kernel timer tick (4 ms) while busy-polling ranks hold the CPU -- an artifact of veth
#    pairs on an oversubscribed machine, not of real networks.
MH_MCA=(--mca pml ob1 --mca btl tcp,self --mca mpi_yield_when_idle 1
        --mca btl_tcp_if_include "$MH_NET" --mca oob_tcp_if_include "$MH_NET")

mh_have_root() { [ "$(id -u)" = 0 ]; }

# mh_require_root: exits 77 (skipped) unless root -- the only reason these tests may skip. CI
# runs as root; there, a set-up that fails is a test failure.
mh_require_root() {
  mh_have_root && return 0
  echo "skipped: creating network namespaces needs root (CI runs as root)" >&2
  exit 77
}

# mh_teardown: removes whatever exists of the set-up; safe to call more than once.
mh_teardown() {
  trap '' PIPE  # a dead reader of our output (a killed pipeline) must not stop the clean-up
  local h
  # Processes still inside a namespace (ranks or daemons of a job on a host that was cut off and
  # never heard the end of its job) would outlive it: only these tests start processes there.
  for h in "${MH_HOSTS[@]}"; do
    ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
  for h in "${MH_HOSTS[@]}"; do
    ip netns del "$h" 2>/dev/null || true
  done
  ip link del sfv1 2>/dev/null || true
  ip link del sfv2 2>/dev/null || true
  ip link del sfbr 2>/dev/null || true
  if grep -qF "$MH_HOSTS_MARK" /etc/hosts 2>/dev/null; then
    # /etc/hosts is often a bind mount (containers): rewrite it in place, never rename over it.
    local kept
    kept="$(grep -vF "$MH_HOSTS_MARK" /etc/hosts)"
    printf '%s\n' "$kept" >/etc/hosts
  fi
}

# mh_setup DIR: builds the two hosts and writes the rsh agent to DIR/nsexec ($MH_AGENT).
# Fails (returns 1, with the reason) if any step fails.
mh_setup() {
  local dir="$1" i
  exec {MH_LOCK_FD}>"$MH_LOCK"
  flock -w 300 "$MH_LOCK_FD" || { echo "mh_setup: another multi-host set-up holds $MH_LOCK" >&2; return 1; }
  mh_teardown  # leftovers of a run that was killed before its trap ran
  # Chain onto the caller's EXIT trap (tests/e2e/lib.sh removes its scratch directory in one).
  local prev
  prev="$(trap -p EXIT)"
  MH_PREV_EXIT=""
  if [ -n "$prev" ]; then eval "set -- $prev"; MH_PREV_EXIT="$3"; fi
  trap 'mh_teardown; eval "$MH_PREV_EXIT"' EXIT
  trap 'exit 130' INT TERM
  (
    set -e
    ip netns add sfh1
    ip netns add sfh2
    ip link add sfbr type bridge
    ip link set sfbr up
    ip addr add 10.77.0.1/24 dev sfbr
    for i in 1 2; do
      ip link add sfv$i type veth peer name eth0 netns sfh$i
      ip link set sfv$i master sfbr up
      ip netns exec sfh$i ip addr add 10.77.0.1$i/24 dev eth0
      ip netns exec sfh$i ip link set eth0 up
      ip netns exec sfh$i ip link set lo up
    done
    printf '10.77.0.11 sfh1 %s\n10.77.0.12 sfh2 %s\n' "$MH_HOSTS_MARK" "$MH_HOSTS_MARK" >>/etc/hosts
  ) || { echo "mh_setup: could not create the network namespaces (see above)" >&2; return 1; }
  MH_AGENT="$dir/nsexec"
  cat >"$MH_AGENT" <<'AGENT'
#!/bin/sh
# rsh agent for Open MPI: "nsexec HOST COMMAND..." runs COMMAND in network namespace HOST.
# Each host gets its own Open MPI session directory, as separate machines have separate /tmp
# (the namespaces share this machine's /tmp and host name, and the daemons of two hosts racing
# to create the same session directory fail with "mkdir ... File exists").
host=$1; shift
tmp="$(dirname "$0")/$host.tmp"
mkdir -p "$tmp"
export OMPI_MCA_orte_tmpdir_base="$tmp"
exec ip netns exec "$host" /bin/sh -c "$*"
AGENT
  chmod +x "$MH_AGENT"
}

# How a lost host is noticed: the daemon that mpirun starts on each host keeps a TCP connection to
# mpirun (Open MPI's "oob"), idle while the job runs. With keepalive probes after 5 s of silence,
# every 2 s, 3 missed ones end the job about 11 s after a host vanishes, with "ORTE has lost
# communication with a remote daemon ... on node <host>". Open MPI's defaults (300 s, 20 s, 9)
# take 8 minutes, and the ranks themselves never give up on a silent TCP peer (docs/networks.md).
MH_DETECT_MCA=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2
               --mca oob_tcp_keepalive_probes 3)

# mh_cmd PER_HOST: sets MH_CMD to the mpirun command (without the program) that starts PER_HOST
# ranks on each of the two hosts, through the agent, with the settings above.
mh_cmd() {
  local per="$1"
  MH_CMD=("${MPIEXEC:-mpirun}" --host "sfh1:$per,sfh2:$per" -np $((2 * per))
          --mca plm_rsh_agent "$MH_AGENT" "${MH_MCA[@]}")
}

# mh_cut N / mh_restore N: takes host sfhN's link down / up (a node loss and its return).
mh_cut() { ip link set "sfv$1" down; }
# mh_restore also ends whatever the lost job left running on the host (its Open MPI daemon may
# outlive the cut: a node that returns is treated as rebooted), then waits until both hosts
# reach each other again (up to 20 s), so the next launch does not race the link coming up.
mh_restore() {
  local pids
  pids=$(ip netns pids "sfh$1" 2>/dev/null || true)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  ip link set "sfv$1" up
  local _
  for _ in $(seq 40); do
    if ip netns exec sfh1 ping -c 1 -W 1 10.77.0.12 >/dev/null 2>&1 &&
       ip netns exec sfh2 ping -c 1 -W 1 10.77.0.11 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "mh_restore: hosts sfh1 and sfh2 do not reach each other 20 s after the link came back" >&2
  return 1
}
