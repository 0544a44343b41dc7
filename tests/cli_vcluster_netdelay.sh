#!/usr/bin/env bash
# Latency emulation on the virtual cluster's links (tests/support/vcluster.sh
# link DIR "unlimited 1ms": ibx-netdelay, NFQUEUE, on a kernel without netem).
# Two network-namespace nodes (the network alone, no Slurm). UDP round trips
# vn1 -> vn2 (ibx-udpping):
#  - with a 1 ms one-way delay on every node, no round trip may take less than
#    2 ms (each direction is held at least 1 ms by construction) and the median
#    must grow by 1.8 to 12 ms over the undelayed one (generous: the machine is
#    shared; this is not a timing benchmark, but a delay applied one way only,
#    or not at all, fails);
#  - `link off` stops the daemons, their iptables rules are gone, and the
#    fastest round trip is under 1.5 ms again;
#  - `down` leaves no daemon running (each logged its clean shutdown).
# Skipped (exit 77) when not root, without network namespaces, or when
# ibx-netdelay was not built (libnetfilter-queue-dev missing).
set -euo pipefail
bin=$(dirname "$(realpath "$1")")
here=$(cd "$(dirname "$0")" && pwd)
vcluster=$here/support/vcluster.sh
. "$here/support/vcluster_require.sh"
if [ ! -x "$bin/ibx-netdelay" ] || ! command -v iptables > /dev/null; then
  echo "SKIP: ibx-netdelay not built or iptables missing (scripts/setup.sh --dev: libnetfilter-queue-dev, iptables)"
  exit 77
fi
export IBX_NETDELAY=$bin/ibx-netdelay IBX_UDPPING=$bin/ibx-udpping
work=$(pwd)/netdelay-test.$$
cl=$work/c
cleanup() {
  bash "$vcluster" down "$cl" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"
fail() {
  echo "FAILED: $*"
  tail -n 5 "$cl"/log/netdelay-*.log 2> /dev/null || true
  exit 1
}
field() { grep -oE "(^| )$1=[0-9.]+" <<< "$2" | cut -d= -f2; }
rtt() { bash "$vcluster" ping "$cl" 1 2 100 2000; }

bash "$vcluster" up-net "$cl" 2 2> /dev/null
base=$(rtt)
echo "no delay:     $base"
bash "$vcluster" link "$cl" "unlimited 1ms" 2> /dev/null
pids=$(cat "$cl"/run/netdelay-vn*.pid)
[ "$(wc -w <<< "$pids")" = 2 ] || fail "expected one ibx-netdelay per node, pid files: $pids"
delayed=$(rtt)
echo "1 ms one way: $delayed"
awk -v m="$(field min "$delayed")" 'BEGIN { exit !(m >= 2000) }' ||
  fail "a round trip took less than 2 ms with 1 ms each way: $delayed"
awk -v d="$(field p50 "$delayed")" -v b="$(field p50 "$base")" \
  'BEGIN { g = d - b; exit !(g >= 1800 && g <= 12000) }' ||
  fail "median round trip grew from $(field p50 "$base") to $(field p50 "$delayed") us, not by ~2 ms"

bash "$vcluster" link "$cl" off 2> /dev/null
for p in $pids; do ! kill -0 "$p" 2> /dev/null || fail "ibx-netdelay $p still runs after 'link off'"; done
for i in 1 2; do
  rules=$(bash "$vcluster" node "$cl" "$i" iptables -w -S 2> /dev/null || true)
  ! grep -q IBXDELAY <<< "$rules" || fail "vn$i still has its NFQUEUE rules after 'link off': $rules"
done
undelayed=$(rtt)
echo "off again:    $undelayed"
awk -v m="$(field min "$undelayed")" 'BEGIN { exit !(m < 1500) }' ||
  fail "still delayed after 'link off': $undelayed"

bash "$vcluster" link "$cl" "unlimited 1ms" 2> /dev/null
pids=$(cat "$cl"/run/netdelay-vn*.pid)
bash "$vcluster" down "$cl"
for p in $pids; do ! kill -0 "$p" 2> /dev/null || fail "ibx-netdelay $p still runs after 'down'"; done
for i in 1 2; do
  grep -q "stopped:" "$cl/log/netdelay-vn$i.log" || fail "vn$i's ibx-netdelay did not log a clean shutdown"
done
[ -z "$(ls "$cl"/run/netdelay-*.pid 2> /dev/null)" ] || fail "pid files left after 'down'"
echo "ok"
