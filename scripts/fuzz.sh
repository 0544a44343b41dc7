#!/usr/bin/env bash
# Fuzz campaign for the binary dataset readers (tests/fuzz, libFuzzer).
#   bash scripts/fuzz.sh [SECONDS_PER_READER]      (default 600)
# Configures build-fuzz (clang, -DIBX_FUZZ=ON, the library instrumented with
# -fsanitize=fuzzer-no-link,address,undefined), builds the harnesses, then
# runs each one for SECONDS_PER_READER seconds (-max_total_time) on a working
# corpus seeded from tests/fuzz/corpus/<reader> (the committed seeds are only
# read) and prints, per reader, the executions, the corpus size and the
# result. Environment:
#   IBX_FUZZ_READERS  readers to run (default: idx cifar svhn stl10 cub h5 text
#                     text_h5)
#   IBX_FUZZ_JOBS     readers run at the same time, 1 or 2 (default 1)
#   IBX_FUZZ_FORK     readers run in libFuzzer's fork mode, which goes on
#                     after a crash (-fork=1 -ignore_crashes=1 ...) and keeps
#                     every crashing input (default: h5 and text_h5, whose libhdf5 1.10.8
#                     crashes on some corrupt files, docs/fuzzing.md); each
#                     crash is then replayed and its first stack frames shown
# Output under build-fuzz/: fuzz-logs/<reader>.log (libFuzzer's output),
# fuzz-corpus/<reader>/ (the grown corpus), fuzz-artifacts/<reader>/ (crash,
# leak, oom or timeout inputs) and fuzz-logs/summary-<readers>.txt. Exit status 1 when
# any reader found something.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
seconds=${1:-600}
readers=${IBX_FUZZ_READERS:-"idx cifar svhn stl10 cub h5 text text_h5"}
jobs=${IBX_FUZZ_JOBS:-1}
fork_readers=" ${IBX_FUZZ_FORK-h5 text_h5} "
case $seconds in '' | *[!0-9]*) echo "fuzz.sh: SECONDS_PER_READER must be a number" >&2; exit 2 ;; esac
case $jobs in 1 | 2) ;; *) echo "fuzz.sh: IBX_FUZZ_JOBS must be 1 or 2" >&2; exit 2 ;; esac

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DIBX_FUZZ=ON -DIBX_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-pass-failed" \
  >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 2; }
targets=()
for r in $readers; do targets+=("fuzz_$r"); done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -40 "$build.build.log"; exit 2; }

# The same runtime options as the smoke tests (tests/fuzz/CMakeLists.txt):
# failed huge allocations return NULL as outside ASan, full malloc stacks so
# that tests/fuzz/lsan.supp (leaks inside libmatio/libhdf5) matches.
export ASAN_OPTIONS=allocator_may_return_null=1:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp
export OMP_NUM_THREADS=1
logs=$build/fuzz-logs
mkdir -p "$logs"

run_one() {
  local r=$1 bin=$build/tests/fuzz/fuzz_$1
  local work=$build/fuzz-corpus/$r art=$build/fuzz-artifacts/$r
  local tmp=$build/fuzz-tmp/$r
  mkdir -p "$work" "$art" "$tmp"
  local cmd=("$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -max_len=65536
             -print_final_stats=1 -artifact_prefix="$art/")
  case $fork_readers in *" $r "*)
    cmd+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1) ;;
  esac
  cmd+=("$work" "$root/tests/fuzz/corpus/$r")
  echo "ASAN_OPTIONS=$ASAN_OPTIONS LSAN_OPTIONS=$LSAN_OPTIONS ${cmd[*]}" >"$logs/$r.cmd"
  # the harnesses' temporary files (a crashed process cannot remove its own)
  TMPDIR=$tmp "${cmd[@]}" >"$logs/$r.log" 2>&1
  echo $? >"$logs/$r.rc"
  rm -rf "$tmp"
}

start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
running=0
for r in $readers; do
  run_one "$r" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
{
  echo "ibx fuzz campaign, started $start, $seconds s per reader, $jobs at a time"
  echo "clang: $(clang --version | head -1)"
  printf '%-6s %8s %12s %10s %18s  %s\n' reader seconds executions exec/s corpus result
  for r in $readers; do
    log=$logs/$r.log
    rc=$(cat "$logs/$r.rc" 2>/dev/null || echo '?')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
    crashes=
    case $fork_readers in *" $r "*)
      # fork mode: "#N: cov: .. corp: C exec/s R oom/timeout/crash: a/b/c time: Ts .."
      last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
      execs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
      secs=$(echo "$last" | sed -n 's/.* time: \([0-9]*\)s.*/\1/p')
      rate=$(echo "$last" | sed -n 's/.* exec\/s \([0-9]*\).*/\1/p')
      corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1 inputs/p')
      crashes=$(echo "$last" | sed -n 's/.* oom\/timeout\/crash: \([0-9\/]*\).*/\1/p')
      ;;
    esac
    if [ -n "$crashes" ] && [ "$crashes" != "0/0/0" ]; then
      status=1
      result="FOUND oom/timeout/crash $crashes; inputs in $build/fuzz-artifacts/$r/:"
      for a in "$build/fuzz-artifacts/$r"/*; do
        [ -f "$a" ] || continue
        top=$("$build/tests/fuzz/fuzz_$r" "$a" 2>&1 | grep -E '^ +#[0-9]+ ' |
              grep -vE 'in (__interceptor_|__asan|__sanitizer|memcpy|__memcpy|fuzzer::)|sanitizer_common|libc\.so|memmove-vec' |
              head -3 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ (in )?//; s/ \(BuildId.*//' | tr '\n' ';')
        result="$result"$'\n'"         $(basename "$a"): $top"
      done
    elif [ "$rc" = 0 ]; then
      result="no crash"
    else
      status=1
      what=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [^(]*' "$log" | head -1)
      [ -z "$what" ] && what=$(grep -m1 -E 'runtime error|SUMMARY' "$log")
      result="FOUND (rc $rc): ${what:-see $log}; input in $build/fuzz-artifacts/$r/"
    fi
    printf '%-6s %8s %12s %10s %18s  %s\n' "$r" "${secs:-?}" "${execs:-?}" "${rate:-?}" \
      "${corp:-?}" "$result"
  done
  echo "commands: $logs/<reader>.cmd; logs: $logs/<reader>.log"
} | tee "$logs/summary-$(echo $readers | tr ' ' '-').txt"
exit $status
