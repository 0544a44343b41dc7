#!/usr/bin/env bash
# Installs every Debian package ibx needs to build, test and run on a fresh
# Debian 12 machine (run as root). Idempotent: packages already present are
# skipped without touching apt. One line when it installs, quiet otherwise.
#
#   scripts/setup.sh          build + test + run dependencies
#   scripts/setup.sh --dev    also python3-torch, -pandas, -matplotlib (golden
#                             fixtures, benchmarks, analysis/ and its tests),
#                             libnetfilter-queue-dev and iptables (ibx-netdelay:
#                             latency on the virtual cluster's links)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libopenblas-dev libopenblas-openmp-dev
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libcmocka-dev
  zlib1g-dev libpng-dev libjpeg62-turbo-dev
  libfftw3-dev libinih-dev libmatio-dev
  dataset-fashion-mnist
  fortunes
  python3-h5py python3-numpy
  slurmctld slurmd slurm-client munge gnuplot-nox
  chromium
  slurmdbd mariadb-server iproute2
  procps  # pgrep in the fault tests (tests/cli_run_*.sh, cli_*_interrupt.sh)
)
# analysis/ tests; bench/: reference scripts, /usr/bin/time, ratios; the virtual
# cluster's latency emulation (ibx-netdelay: NFQUEUE through iptables)
DEV_PACKAGES=(python3-torch python3-pandas python3-matplotlib time bc libnetfilter-queue-dev iptables)

want=("${PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
    --dev) want+=("${DEV_PACKAGES[@]}") ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: missing packages (${missing[*]}); run as root or install them yourself" >&2
  exit 1
fi

echo "setup.sh: installing ${#missing[@]} Debian package(s): ${missing[*]}"
log=$(mktemp /tmp/ibx-setup.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "setup.sh: apt-get failed installing: ${missing[*]} (log follows)" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
rm -f "$log"
