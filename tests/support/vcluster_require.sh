# Sourced by the virtual-cluster tests after setting $vcluster: exits 77
# (ctest's skip code) with the reason when this machine cannot build the
# cluster: not root, or no network namespaces (vcluster.sh check says why).
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the virtual cluster creates network namespaces and starts daemons: needs root"
  exit 77
fi
if ! why=$(bash "$vcluster" check /tmp 2>&1); then
  echo "SKIP: $why"
  exit 77
fi
