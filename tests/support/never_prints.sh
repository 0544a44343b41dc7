#!/usr/bin/env bash
# The libraries never print (README, docs/architecture.md): no object in
# them refers to stdout, stderr or the printing calls that go there; they
# report through ibx_errmsg(), a FILE * or a callback the caller passes.
#   never_prints.sh LIB.a ...
set -euo pipefail
bad=0
for lib in "$@"; do
  hits=$(nm -A -u "$lib" | grep -wE 'stdout|stderr|printf|vprintf|puts|putchar|perror' || true)
  if [ -n "$hits" ]; then
    echo "FAILED: $(basename "$lib") prints:"
    echo "$hits" | sed 's/^/  /'
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "1 passed, 0 failed: $* print nothing"
exit $bad
