#!/usr/bin/env bash
# What ibx-netdelay really adds to a link of the virtual cluster
# (tests/support/vcluster.sh link DIR "unlimited DELAY"; docs/performance.md).
#   bench/netdelay_accuracy.sh [BUILD_DIR] [OUT_FILE]        (root)
# Two network-namespace nodes (the network alone, no Slurm); for no daemon
# ("off") and a one-way delay of 0, 20us, 50us, 200us, 1ms on both nodes:
# COUNT (default 200) UDP round trips vn1 -> vn2, one every 10 ms
# (ibx-udpping), one line each. A round trip crosses two delays, so what the
# emulation adds one way is (RTT - RTT_off) / 2 - DELAY; delay 0 is the
# daemon's own cost (the NFQUEUE round trip through user space and the
# wake-up of an idle process). SPIN=30 passes --spin-us 30 to the daemons;
# DELAYS="0 20us" picks other delays.
set -euo pipefail
build=$(realpath "${1:-build}")
out=${2:-/dev/stdout}
here=$(cd "$(dirname "$0")" && pwd)
vcluster=$here/../tests/support/vcluster.sh
count=${COUNT:-200}
export IBX_NETDELAY=$build/ibx-netdelay IBX_UDPPING=$build/ibx-udpping
[ -n "${SPIN:-}" ] && export IBX_NETDELAY_OPTS="--spin-us $SPIN"
cl=$(mktemp -d /tmp/ibx-ndbench.XXXXXX)
trap 'bash "$vcluster" down "$cl"; rm -rf "$cl"' EXIT
bash "$vcluster" up-net "$cl" 2 2> /dev/null
{
  echo "# bench/netdelay_accuracy.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg), spin_us=${SPIN:-0}"
  for d in off ${DELAYS:-0 20us 50us 200us 1ms}; do
    if [ "$d" = off ]; then spec=off; else spec="unlimited $d"; fi
    bash "$vcluster" link "$cl" "$spec" 2> /dev/null
    echo "delay=$d $(bash "$vcluster" ping "$cl" 1 2 "$count" 10000)"
  done
  echo "# done, load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
