# Shared by the CLI tests: source it after `tmp` (a scratch directory) is set.
#   fail MSG...                       print FAIL: MSG and exit 1
#   expect STATUS NEEDLE CMD...       CMD exits STATUS and its stderr is exactly
#                                     one line, containing NEEDLE
#   expect_once STATUS NEEDLE CMD...  CMD exits STATUS and NEEDLE is on exactly
#                                     one line of its stderr (other lines may
#                                     come from elsewhere, e.g. a launcher)
# Both print CMD's output when they fail.

fail() { echo "FAIL: $*"; exit 1; }

expect_run() { # STATUS NEEDLE CMD...: the status and the needle; stderr in $tmp/err
  local want=$1 needle=$2; shift 2
  set +e; "$@" > "$tmp/out" 2> "$tmp/err"; local got=$?; set -e
  [ $got -eq "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "'$*' exited $got, expected $want"; }
  grep -q -- "$needle" "$tmp/err" || { cat "$tmp/err"; fail "'$*': message lacks '$needle'"; }
}

expect() {
  expect_run "$@"
  local cmd=("${@:3}")
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { cat "$tmp/err"; fail "'${cmd[*]}': message is not one line"; }
}

expect_once() {
  expect_run "$@"
  local needle=$2 cmd=("${@:3}")
  [ "$(grep -c -- "$needle" "$tmp/err")" -eq 1 ] || { cat "$tmp/err"; fail "'${cmd[*]}': message repeated"; }
}
