# Shared setup for the socket-service integration tests (source it; needs root): a private
# network namespace whose TAP culvertd drives (culvert 10.99.0.2 / fd99::2, kernel peer
# 10.99.0.1 / fd99::1), helpers to run programs under the preload, and culvertd's counters
# through `culvert status --json`. Everything is removed on every exit path.
#
#   svc_setup BINDIR        make the namespace, start culvertd, wait until it answers ping
#   svc_start_culvertd      (re)start culvertd and address the kernel side of its TAP
#   under CMD...            run CMD under the preload (on the host side: it reaches culvertd)
#   in_ns CMD...            run CMD on the kernel side inside the namespace
#   "${UNDER[@]}", "${IN_NS[@]}"  the same as command prefixes that exec CMD (so $! is CMD's
#                           pid, and `timeout` can wrap them)
#   status_get [JQ_OPTS] EXPR   a jq expression over `culvert status --json` (e.g. .lwip.tcp_pcbs)
#   wait_status EXPR WANT SECS   wait until EXPR equals WANT; fails the test otherwise
#   fail MSG                print MSG, culvertd's log and its status, exit 1
#   bg VAR CMD...           start CMD in the background, store its pid in VAR, kill it at exit

set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespace + TAP)"; exit 1; }
command -v jq >/dev/null || { echo "needs jq"; exit 1; }

SVC_V4_CULVERT=10.99.0.2
SVC_V4_KERNEL=10.99.0.1
SVC_V6_CULVERT=fd99::2
SVC_V6_KERNEL=fd99::1

_svc_tag=$(printf '%04x%04x' $RANDOM $RANDOM)
ns="cvt-svc-$$-$_svc_tag"
tap="cvs${_svc_tag:0:8}"
work=$(mktemp -d /tmp/culvert-svc.XXXXXX)
sock="$work/culvertd.sock"
_svc_pids=()
culvertd_pid=""

svc_cleanup() {
  local p
  for p in "${_svc_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$culvertd_pid" ]; then kill "$culvertd_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap svc_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "FAIL: $*"
  echo "--- culvertd log (last 40 lines)"
  tail -n 40 "$work/culvertd.log" 2>/dev/null || true
  if [ -n "$culvertd_pid" ] && kill -0 "$culvertd_pid" 2>/dev/null; then
    echo "--- culvert status"
    "$bin/culvert" status --socket "$sock" 2>&1 || true
  fi
  exit 1
}

bg() {
  local var=$1
  shift
  "$@" &
  _svc_pids+=($!)
  printf -v "$var" '%s' "$!"
}

IN_NS=(ip netns exec "$ns")
in_ns() { "${IN_NS[@]}" "$@"; }

_svc_spawn_culvertd() {
  "$bin/culvertd" --socket "$sock" --seed 7 \
    --iface "tap:$tap,ip=$SVC_V4_CULVERT/24,ip6=$SVC_V6_CULVERT/64,netns=$ns" >>"$work/culvertd.log" 2>&1 &
  culvertd_pid=$!
  local i
  for i in $(seq 100); do
    [ -S "$sock" ] && in_ns ip link show "$tap" >/dev/null 2>&1 && return 0
    kill -0 "$culvertd_pid" 2>/dev/null || fail "culvertd exited at start"
    sleep 0.05
  done
  fail "culvertd did not create its socket and TAP"
}

svc_setup() {
  bin=$(cd "$1" && pwd)
  ip netns add "$ns"
  in_ns ip link set lo up
  svc_start_culvertd

  # An ASan build of the preload needs the ASan runtime first in uninstrumented programs.
  # (Not `ldd | grep -q`: under pipefail, grep quitting early makes ldd die of SIGPIPE and
  # the test sometimes ran without the runtime.)
  preload="$bin/libculvert-preload.so"
  asan_rt=""
  local deps
  deps=$(ldd "$preload")
  if [[ $deps == *libasan* ]]; then
    asan_rt="$(gcc -print-file-name=libasan.so) "
    export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
  fi
  UNDER=(env CULVERT_SOCKET="$sock" LD_PRELOAD="$asan_rt$preload")
}

# The TAP is culvertd's: it comes (without addresses) and goes with each culvertd.
svc_start_culvertd() {
  _svc_spawn_culvertd
  in_ns ip addr add "$SVC_V4_KERNEL/24" dev "$tap"
  in_ns ip addr add "$SVC_V6_KERNEL/64" dev "$tap" nodad
  in_ns ip link set "$tap" up
  in_ns ping -c 1 -W 2 "$SVC_V4_CULVERT" >/dev/null || fail "culvert does not answer ping"
  in_ns ping -c 1 -W 2 "$SVC_V6_CULVERT" >/dev/null || fail "culvert does not answer IPv6 ping"
}

under() { "${UNDER[@]}" "$@"; }

status_get() {
  "$bin/culvert" status --socket "$sock" --json | jq -r "$@"
}

# wait_status EXPR WANT SECONDS: polls culvertd's counters (10 times a second).
wait_status() {
  local expr=$1 want=$2 secs=$3 got="" i
  for i in $(seq $((secs * 10))); do
    got=$(status_get "$expr") || fail "culvert status failed"
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  fail "culvertd: $expr is $got, expected $want after ${secs}s"
}

# wait_file FILE SECONDS: waits until FILE exists and is not empty.
wait_file() {
  local i
  for i in $(seq $(($2 * 20))); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
