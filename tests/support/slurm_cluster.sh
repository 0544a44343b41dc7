#!/usr/bin/env bash
# A private one-node Slurm cluster on loopback for the integration test:
# munged, slurmctld and slurmd from Debian's slurm-wlm with their own key,
# sockets, config, state and logs under DIR, torn down by `stop`.
#   slurm_cluster.sh start DIR [CPUS]   prints the SLURM_CONF path
#   slurm_cluster.sh stop DIR
# Containers have no usable cgroups and no systemd: proctrack/linuxproc,
# task/none, no accounting daemon (sacct is then unavailable, which
# `ibx sweep status` handles by asking squeue).
set -euo pipefail
action=$1 dir=$(realpath -m "$2") cpus=${3:-8}
pids=(munged slurmctld slurmd)

stop() {
  for name in slurmd slurmctld munged; do
    [ -f "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
    rm -f "$dir/$name.pid"
  done
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi
[ "$action" = start ] || { echo "usage: $0 start|stop DIR [CPUS]" >&2; exit 2; }
mkdir -p "$dir"/{state,spool,log}
chmod 700 "$dir"
# munge: a fresh key and a private socket
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge.key"
munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"

free_port() { # a port nobody listens on (two daemons need one each)
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    ss -ltn 2> /dev/null | grep -q ":$p " || { echo "$p"; return; }
  done
  echo 26817
}
host=$(hostname -s)
ctl_port=$(free_port) d_port=$(free_port)
while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done
cat > "$dir/slurm.conf" <<CONF
ClusterName=ibxtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again only once its old credential
# expired (Slurm holds it back that long); the default 120 s would idle the test
AuthInfo=socket=$dir/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=defer_batch
MaxArraySize=1001
MinJobAge=600
KillWait=5
InactiveLimit=0
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  sinfo -h -o %T 2> /dev/null | grep -qE '^(idle|mixed|allocated)' && break
  sleep 0.2
done
sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)' || {
  echo "slurm_cluster: the node did not come up; logs:" >&2
  tail -n 20 "$dir"/log/*.log >&2
  stop
  exit 1
}
echo "$SLURM_CONF"
