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
# DELAYS="0 20us" picks other delays. Then (BULK=0: not) one TCP stream of
# 400 MB vn1 -> vn2 (Python) per link of BULK_LINKS (default: off, a 20 us
# delay without a rate, 10 Gbit/s without and with 20 us, 1gbit 50us, 10gbit 1ms), one
# "bulk" line each, and the daemons' counters (held at once, overflows).
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
# one TCP stream of 400 MB vn1 -> vn2: "sent=MB seconds=S gbit_s=G"
bulk() {
  local tcp='
import socket, sys, time
if sys.argv[1] == "recv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], 7478)); s.listen(1); c, _ = s.accept()
    while c.recv(1 << 20): pass
    c.close()
else:
    s = socket.create_connection((sys.argv[2], 7478)); buf = b"x" * (1 << 20); n = 0; t = time.time()
    while n < 400e6: s.sendall(buf); n += len(buf)
    s.shutdown(socket.SHUT_WR); s.recv(1); dt = time.time() - t
    print("sent_mb=%.0f seconds=%.3f gbit_s=%.2f" % (n / 1e6, dt, n * 8 / dt / 1e9))
'
  bash "$vcluster" node "$cl" 2 python3 -c "$tcp" recv 10.214.14.12 &
  local rpid=$!
  sleep 0.5
  bash "$vcluster" node "$cl" 1 python3 -c "$tcp" send 10.214.14.12
  wait "$rpid"
}
{
  echo "# bench/netdelay_accuracy.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg), spin_us=${SPIN:-0}"
  for d in off ${DELAYS:-0 20us 50us 200us 1ms}; do
    if [ "$d" = off ]; then spec=off; else spec="unlimited $d"; fi
    bash "$vcluster" link "$cl" "$spec" 2> /dev/null
    echo "delay=$d $(bash "$vcluster" ping "$cl" 1 2 "$count" 10000)"
  done
  if [ "${BULK:-1}" = 1 ]; then
    bash "$vcluster" link "$cl" off 2> /dev/null
    rm -f "$cl"/log/netdelay-vn*.log
    for spec in ${BULK_LINKS:-off unlimited:20us 10gbit 10gbit:20us 1gbit:50us 10gbit:1ms}; do
      bash "$vcluster" link "$cl" "${spec/:/ }" 2> /dev/null
      echo "bulk link=$spec $(bulk)"
      bash "$vcluster" link "$cl" off 2> /dev/null # the daemons log their counters as they stop
      grep -h "at most" "$cl"/log/netdelay-vn*.log 2> /dev/null | sed 's/^/#   /' || true
      rm -f "$cl"/log/netdelay-vn*.log
    done
  fi
  echo "# done, load $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
