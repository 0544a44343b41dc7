#!/usr/bin/env bash
# A virtual Slurm cluster on one machine: every node is a Linux network
# namespace with its own hostname (UTS namespace) and a veth on a private
# bridge; slurmctld, slurmdbd and a real MariaDB run in a "vctl" namespace;
# one slurmd per node; munged on the host with a private key and socket.
#
#   vcluster.sh up DIR [NODES=3] [CPUS=2]   start (DIR holds config, state, logs)
#   vcluster.sh up-net DIR [NODES=2]        the network alone (namespaces, bridge,
#                                           veths; no daemons): for `link`/`ping`
#   vcluster.sh down DIR                    stop everything, remove the network
#   vcluster.sh check DIR                   can a cluster start here (root, namespaces)?
#   vcluster.sh status DIR                  sinfo + what is running
#   vcluster.sh exec DIR CMD...             run CMD on the login/control node
#                                           (sbatch, squeue, sacct, ibx sweep ...)
#   vcluster.sh node DIR N CMD...           run CMD on node N (its netns + hostname)
#   vcluster.sh kill-node DIR N             simulate a node crash: cut its link,
#                                           then SIGKILL slurmd and its job's ranks
#   vcluster.sh link DIR SPEC               shape every node's link (see below)
#   vcluster.sh ping DIR I J [COUNT=200] [INTERVAL_US=10000]
#                                           UDP round trips node I -> node J
#                                           (ibx-udpping: n, lost, min/p50/p90/p99 us)
#
# Addresses: 10.214.14.0/24 exists only on the bridge this script creates and in
# its namespaces (vctl = .1, node i = .(10+i)); the host gets no address on it,
# so nothing outside the namespaces is ever contacted, and a second cluster (other
# DIR) can reuse the subnet on its own bridge. Names of the namespaces, bridge
# and veths carry a tag derived from DIR. Processes are found through the
# namespaces themselves (ip netns pids) and the pid files under DIR: `down`
# ends only what this cluster started.
#
# Link shaping (SPEC for `link`): "off", or "RATE" or "RATE DELAY" such as
# "10gbit" / "1gbit 20us" / "unlimited 1ms" (a delay alone). The rate is a tbf
# qdisc on both ends of every node's veth. The delay is one way, added to every
# packet a node sends to another node (so a round trip between two nodes grows
# by twice DELAY): this kernel has no netem qdisc, so each node runs
# ibx-netdelay (tests/support/netdelay.c: an iptables NFQUEUE rule in the
# node's namespace, the daemon holds each packet DELAY in user space), its
# pid and log in DIR/run/netdelay-vnI.pid and DIR/log/netdelay-vnI.log. The
# daemon is found as $IBX_NETDELAY, on PATH, or in build/ of this checkout;
# it adds its own cost to DELAY (tens of microseconds: docs/performance.md);
# $IBX_NETDELAY_OPTS adds options (e.g. "--spin-us 30": busy-wait the last
# 30 us of every hold, more exact, costs CPU).
# `link` again, or `down`, stops the daemons (they remove their rules).
# TCP between the nodes uses cubic, Linux's default congestion control, set on
# each namespace's subnet route (VCLUSTER_TCP_CC=bbr|reno|... for another),
# whatever the host's default is.
set -eEuo pipefail

SUBNET=10.214.14
die() { echo "vcluster: $*" >&2; exit 1; }
usage() { sed -n 7,21p "$0" >&2; exit 2; }

[ $# -ge 2 ] || usage
action=$1 dir=$(realpath -m "$2")
shift 2
tag=vc$(printf '%s' "$dir" | md5sum | cut -c1-5)
br=${tag}br
ns_ctl=$tag-ctl
ns_node() { echo "$tag-n$1"; }
veth_host() { echo "${tag}h$1"; } # host side of node i's link (i=0: vctl)
conf=$dir/etc/slurm.conf
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# a tool built with the project (ibx-netdelay, ibx-udpping): $2 (an env
# override), PATH, or the build/ folder of this checkout
tool() {
  local name=$1 override=${2:-}
  if [ -n "$override" ]; then
    [ -x "$override" ] || die "$override (from the environment) is not an executable"
    echo "$override"
  elif command -v "$name" > /dev/null; then
    command -v "$name"
  elif [ -x "$here/../../build/$name" ]; then
    echo "$here/../../build/$name"
  else
    return 1
  fi
}

preflight() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it creates network namespaces and starts slurmctld/slurmd/slurmdbd/mariadbd)"
  for p in ip unshare nsenter munged slurmctld slurmd slurmdbd mariadbd mariadb-install-db mariadb sinfo sacctmgr; do
    command -v "$p" > /dev/null || die "$p missing (scripts/setup.sh installs iproute2, slurm-wlm, slurmdbd, mariadb-server, munge)"
  done
  ip netns add "$tag-probe" 2> /dev/null || die "cannot create a network namespace (ip netns add failed: no CAP_SYS_ADMIN or no netns support)"
  local ok=1
  ip netns exec "$tag-probe" unshare --uts true 2> /dev/null || ok=0
  ip netns del "$tag-probe"
  [ $ok = 1 ] || die "cannot create a UTS namespace (unshare --uts failed)"
  ip link add "${tag}probe" type bridge 2> /dev/null || die "cannot create a bridge (ip link add type bridge failed)"
  ip link del "${tag}probe"
}

nodes_of() { cat "$dir/nodes" 2> /dev/null || echo 0; }

# The delay daemons first (SIGTERM: they remove their rules and release what
# they hold), by pid file; bounded, then SIGKILL.
stop_netdelay() {
  local f pid
  for f in "$dir"/run/netdelay-vn*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2> /dev/null || { rm -f "$f"; continue; }
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$f"
  done
}

# Every process in one of our namespaces, then the host-side daemons by pid file.
stop_all() {
  local n ns pids
  n=$(nodes_of)
  stop_netdelay
  for sig in TERM KILL; do
    for ns in $(for i in $(seq 1 "$n"); do ns_node "$i"; done) "$ns_ctl"; do
      ip netns list 2> /dev/null | grep -qw "^$ns" || continue
      pids=$(ip netns pids "$ns" 2> /dev/null || true)
      [ -n "$pids" ] && kill -s $sig $pids 2> /dev/null || true
    done
    for _ in $(seq 50); do
      local left=0
      for ns in $(for i in $(seq 1 "$n"); do ns_node "$i"; done) "$ns_ctl"; do
        ip netns list 2> /dev/null | grep -qw "^$ns" || continue
        [ -n "$(ip netns pids "$ns" 2> /dev/null)" ] && left=1
      done
      [ $left = 0 ] && break
      sleep 0.1
    done
  done
  if [ -f "$dir/run/munged.pid" ]; then
    local pid
    pid=$(cat "$dir/run/munged.pid")
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$dir/run/munged.pid"
  fi
  for i in $(seq 1 "$n") ctl; do
    [ "$i" = ctl ] && ns=$ns_ctl || ns=$(ns_node "$i")
    ip netns del "$ns" 2> /dev/null || true
  done
  for i in $(seq 0 "$n"); do ip link del "$(veth_host "$i")" 2> /dev/null || true; done
  ip link del "$br" 2> /dev/null || true
}

# NS HOSTNAME CMD...: run CMD in the namespace under its own hostname, with the
# cluster's /etc/hosts (bind-mounted in a private mount namespace; unlike
# `ip netns exec`, /sys stays the host's, so slurmd finds its cgroups)
in_ns() {
  local ns=$1 host=$2
  shift 2
  nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private /bin/sh -c \
    'hostname "$0" && mount --bind "$1" /etc/hosts && shift && exec "$@"' "$host" "$dir/etc/hosts" "$@"
}

wait_for() { # SECONDS WHAT CMD...
  local secs=$1 what=$2
  shift 2
  local until=$((SECONDS + secs))
  while [ $SECONDS -lt $until ]; do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "vcluster: $what did not come up within $secs s; logs:" >&2
  tail -n 15 "$dir"/log/*.log >&2 || true
  [ -n "${VCLUSTER_KEEP:-}" ] || stop_all
  exit 1
}

network_up() {
  local n=$1 i ns
  ip link add "$br" type bridge
  ip link set "$br" up
  for i in $(seq 0 "$n"); do
    if [ "$i" = 0 ]; then ns=$ns_ctl; else ns=$(ns_node "$i"); fi
    ip netns add "$ns"
    ip link add "$(veth_host "$i")" type veth peer name vc0 netns "$ns"
    ip link set "$(veth_host "$i")" master "$br"
    ip link set "$(veth_host "$i")" up
    local addr=$SUBNET.$((10 + i))
    [ "$i" = 0 ] && addr=$SUBNET.1
    ip -n "$ns" addr add "$addr/24" dev vc0
    ip -n "$ns" link set vc0 up
    ip -n "$ns" link set lo up
    # TCP congestion control of the cluster network: Linux's default, cubic,
    # unless VCLUSTER_TCP_CC says otherwise. A new namespace inherits the
    # host's default (bbr on some VMs), and only the host may change a
    # namespace's default to an algorithm outside its allowed list, so it is
    # set on the subnet's route instead.
    ip -n "$ns" route replace "$SUBNET.0/24" dev vc0 proto kernel scope link src "$addr" \
      congctl "${VCLUSTER_TCP_CC:-cubic}"
  done
}

write_hosts() {
  local n=$1 i
  {
    echo "127.0.0.1 localhost"
    echo "$SUBNET.1 vctl"
    for i in $(seq 1 "$n"); do echo "$SUBNET.$((10 + i)) vn$i"; done
  } > "$dir/etc/hosts"
}

write_configs() {
  local n=$1 cpus=$2 i
  write_hosts "$n"
  cat > "$conf" << CONF
# virtual cluster $tag (tests/support/vcluster.sh): written at every \`up\`
ClusterName=ibxvc
SlurmctldHost=vctl($SUBNET.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may start again once its old credential expired (default 120 s)
AuthInfo=socket=$dir/run/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
# per node: PMIx puts its client directories there (the nodes share /tmp)
TmpFS=$dir/tmp/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$SUBNET.1
AccountingStoragePort=6819
# the munge socket for connections to slurmdbd (AuthInfo covers the rest)
AccountingStoragePass=$dir/run/munge.socket
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
# schedule every few seconds (defaults: 60 s main loop, 30 s backfill): a
# requeued job starts again soon after it becomes eligible
SchedulerParameters=sched_interval=3,bf_interval=3
MaxArraySize=1001
MinJobAge=600
KillWait=5
InactiveLimit=0
Waittime=0
# a crashed node is declared DOWN (its jobs requeued) after this many seconds
SlurmdTimeout=6
MessageTimeout=5
CONF
  for i in $(seq 1 "$n"); do
    echo "NodeName=vn$i NodeAddr=$SUBNET.$((10 + i)) CPUs=$cpus RealMemory=2000 State=UNKNOWN" >> "$conf"
  done
  echo "PartitionName=vc Nodes=vn[1-$n] Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO" >> "$conf"
  cat > "$dir/etc/slurmdbd.conf" << CONF
AuthType=auth/munge
AuthInfo=socket=$dir/run/munge.socket
DbdHost=vctl
DbdAddr=$SUBNET.1
DbdPort=6819
SlurmUser=root
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StorageLoc=ibx_acct
CONF
  chmod 600 "$dir/etc/slurmdbd.conf"
}

up() {
  local n=${1:-3} cpus=${2:-2} i t0=$SECONDS
  [[ $n =~ ^[1-9]$ ]] || die "NODES must be 1..9, not '$n'"
  preflight
  # whatever fails from here on: take down what was started
  trap 'echo "vcluster: up failed; tearing down" >&2; stop_all' ERR
  if [ -f "$dir/nodes" ]; then
    stop_all # a previous cluster in DIR that was not taken down
  fi
  rm -rf "$dir"
  mkdir -p "$dir"/{etc,state,spool,log,run,db}
  chmod 700 "$dir"
  echo "$n" > "$dir/nodes"
  write_configs "$n" "$cpus"
  network_up "$n"
  # munge: a fresh key and a private socket (the namespaces share the filesystem)
  dd if=/dev/urandom of="$dir/etc/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/etc/munge.key"
  munged --force --key-file="$dir/etc/munge.key" --socket="$dir/run/munge.socket" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/run/munge.seed"
  # MariaDB inside vctl, on the namespace's own loopback
  mariadb-install-db --no-defaults --datadir="$dir/db" --user=root --skip-test-db \
    --auth-root-authentication-method=normal --skip-name-resolve \
    --innodb-log-file-size=4M --innodb-buffer-pool-size=16M > "$dir/log/mariadb-install.log" 2>&1 ||
    { tail "$dir/log/mariadb-install.log" >&2; stop_all; die "mariadb-install-db failed"; }
  in_ns "$ns_ctl" vctl mariadbd --no-defaults --user=root --datadir="$dir/db" \
    --socket="$dir/run/mysql.sock" --pid-file="$dir/run/mariadbd.pid" --bind-address=127.0.0.1 \
    --port=3306 --skip-name-resolve --innodb-log-file-size=4M --innodb-buffer-pool-size=16M \
    --log-error="$dir/log/mariadb.log" > /dev/null 2>&1 &
  wait_for 30 "mariadbd" timeout 5 mariadb --no-defaults -S "$dir/run/mysql.sock" -u root -e "select 1"
  mariadb --no-defaults -S "$dir/run/mysql.sock" -u root -e \
    "CREATE USER 'slurm'@'127.0.0.1'; GRANT ALL ON ibx_acct.* TO 'slurm'@'127.0.0.1';"
  export SLURM_CONF=$conf
  in_ns "$ns_ctl" vctl slurmdbd
  wait_for 30 "slurmdbd" in_ns "$ns_ctl" vctl timeout 5 sacctmgr -n list cluster
  in_ns "$ns_ctl" vctl sacctmgr -i add cluster ibxvc > /dev/null
  in_ns "$ns_ctl" vctl slurmctld -i
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/spool/vn$i" "$dir/tmp/vn$i"
    in_ns "$(ns_node "$i")" "vn$i" slurmd -N "vn$i"
  done
  wait_for 30 "the nodes" all_idle "$n"
  trap - ERR
  echo "vcluster: $n node(s) up in $((SECONDS - t0)) s (tag $tag, $SUBNET.0/24, SLURM_CONF=$conf)" >&2
  echo "$conf"
}

up_net() {
  local n=${1:-2}
  [[ $n =~ ^[1-9]$ ]] || die "NODES must be 1..9, not '$n'"
  preflight
  trap 'echo "vcluster: up-net failed; tearing down" >&2; stop_all' ERR
  if [ -f "$dir/nodes" ]; then
    stop_all
  fi
  rm -rf "$dir"
  mkdir -p "$dir"/{etc,log,run}
  chmod 700 "$dir"
  echo "$n" > "$dir/nodes"
  write_hosts "$n"
  network_up "$n"
  trap - ERR
  echo "vcluster: network of $n node(s) up (tag $tag, $SUBNET.0/24, no daemons)" >&2
}

all_idle() {
  [ "$(in_ns "$ns_ctl" vctl timeout 5 sinfo -h -N -o '%N %T' | grep -cE ' (idle|mixed|allocated)$')" -eq "$1" ]
}

link() {
  local spec=$1 n i j dev ns side q
  [ "$(id -u)" -eq 0 ] || die "must run as root (tc and iptables in the nodes' namespaces)"
  n=$(nodes_of)
  [ "$n" -gt 0 ] || die "no cluster in $dir"
  local rate=${spec%% *} delay='' netdelay=''
  [ "$spec" != "$rate" ] && delay=${spec#* }
  if [ -n "$delay" ]; then
    netdelay=$(tool ibx-netdelay "${IBX_NETDELAY:-}") ||
      die "a delay needs ibx-netdelay (this kernel has no netem qdisc), which is not built: install libnetfilter-queue-dev (scripts/setup.sh --dev) and build, or set IBX_NETDELAY"
    command -v iptables > /dev/null || die "a delay needs iptables (scripts/setup.sh --dev installs it)"
  fi
  stop_netdelay
  for i in $(seq 1 "$n"); do
    ns=$(ns_node "$i")
    for side in host node; do
      if [ $side = host ]; then
        dev=$(veth_host "$i") q=(tc)
      else
        dev=vc0 q=(ip netns exec "$ns" tc)
      fi
      "${q[@]}" qdisc del dev "$dev" root 2> /dev/null || true
      [ "$spec" = off ] || [ "$rate" = unlimited ] && continue
      # burst: enough for one 64 KB TSO segment at every rate; latency bounds the queue
      "${q[@]}" qdisc add dev "$dev" root tbf rate "$rate" burst 256kb latency 5ms
    done
  done
  if [ -n "$delay" ]; then
    mkdir -p "$dir/run" "$dir/log"
    for i in $(seq 1 "$n"); do
      local to=() pidf=$dir/run/netdelay-vn$i.pid log=$dir/log/netdelay-vn$i.log
      for j in $(seq 1 "$n"); do [ "$j" = "$i" ] || to+=(--to "$SUBNET.$((10 + j))"); done
      [ ${#to[@]} -gt 0 ] || continue
      rm -f "$pidf"
      # shellcheck disable=SC2086 # IBX_NETDELAY_OPTS: extra options, e.g. "--spin-us 30"
      nsenter --net="/run/netns/$(ns_node "$i")" "$netdelay" --delay "$delay" --dev vc0 "${to[@]}" \
        --pidfile "$pidf" ${IBX_NETDELAY_OPTS:-} >> "$log" 2>&1 < /dev/null &
      local pid=$! ok=0
      for _ in $(seq 100); do # the pid file appears once its queue and rules are in place
        [ -f "$pidf" ] && { ok=1; break; }
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.05
      done
      if [ $ok = 0 ]; then
        kill "$pid" 2> /dev/null || true
        stop_netdelay
        tail -n 5 "$log" >&2
        die "ibx-netdelay did not start on vn$i (log: $log)"
      fi
    done
  fi
  echo "vcluster: links of $n node(s): $spec" >&2
}

# I J [COUNT] [INTERVAL_US]: UDP round trips from node I to node J
ping_nodes() {
  local i=$1 j=$2 count=${3:-200} interval=${4:-10000} udpping spid rc=0
  [ -f "$dir/nodes" ] || die "no cluster in $dir"
  udpping=$(tool ibx-udpping "${IBX_UDPPING:-}") || die "ibx-udpping is not built (or set IBX_UDPPING)"
  nsenter --net="/run/netns/$(ns_node "$j")" "$udpping" serve "$SUBNET.$((10 + j))" 7477 &
  spid=$!
  sleep 0.2
  nsenter --net="/run/netns/$(ns_node "$i")" "$udpping" ping "$SUBNET.$((10 + j))" 7477 "$count" "$interval" || rc=$?
  kill "$spid" 2> /dev/null || true
  wait "$spid" 2> /dev/null || true
  return $rc
}

case $action in
  up) up "$@" ;;
  up-net) up_net "$@" ;;
  check) preflight ;;
  down)
    stop_all
    rm -f "$dir/nodes"
    ;;
  status)
    [ -f "$dir/nodes" ] || die "no cluster in $dir"
    SLURM_CONF="$conf" in_ns "$ns_ctl" vctl sinfo -N -o '%N %T %C' || true
    SLURM_CONF="$conf" in_ns "$ns_ctl" vctl squeue || true
    ;;
  exec)
    [ -f "$dir/nodes" ] || die "no cluster in $dir"
    SLURM_CONF="$conf" in_ns "$ns_ctl" vctl "$@"
    ;;
  node)
    [ -f "$dir/nodes" ] || die "no cluster in $dir"
    i=$1
    shift
    SLURM_CONF=$conf in_ns "$(ns_node "$i")" "vn$i" "$@"
    ;;
  kill-node)
    [ -f "$dir/nodes" ] || die "no cluster in $dir"
    i=$1
    # a crash, not a shutdown: no FIN reaches the peers, the link just goes silent
    ip link set "$(veth_host "$i")" down
    pids=$(ip netns pids "$(ns_node "$i")")
    [ -n "$pids" ] && kill -9 $pids 2> /dev/null || true
    echo "vcluster: node vn$i crashed (link down, slurmd and its processes killed)" >&2
    ;;
  link) link "$*" ;;
  ping) ping_nodes "$@" ;;
  *) usage ;;
esac
