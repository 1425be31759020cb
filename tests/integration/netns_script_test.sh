#!/usr/bin/env bash
# Tests scripts/netns.sh: namespaces connected by veth pass IPv4 and IPv6 traffic, addresses
# outside 10/8 and fd00::/8 are refused, and everything is removed on a normal exit, on a
# failing `set -e` script, on SIGTERM, and (by the sweep) after SIGKILL.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
helpers="$here/scripts/netns.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  if [ -n "${CI:-}" ] && [ "${CI}" != false ]; then
    echo "FAIL: needs root and iproute2, and CI must run this test" >&2
    exit 1
  fi
  echo "SKIP: needs root and iproute2"
  exit 77
fi

failures=0
check() {  # check DESCRIPTION CMD...: runs CMD, reports
  local what=$1
  shift
  if "$@"; then
    echo "ok   - $what"
  else
    echo "FAIL - $what" >&2
    failures=$((failures + 1))
  fi
}
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
ns_gone() { ! ns_exists "$1"; }

. "$helpers"

# --- traffic across a veth pair between two namespaces ---
cvt_netns_create a
cvt_netns_create b
check "names are cvt-<pid>-<random>" bash -c "[[ $a == cvt-$$-* && $b == cvt-$$-* && $a != $b ]]"
cvt_veth "$a" cvta "$b" cvtb
cvt_addr "$a" cvta 10.78.0.1/24
cvt_addr "$b" cvtb 10.78.0.2/24
cvt_addr "$a" cvta fd78::1/64
cvt_addr "$b" cvtb fd78::2/64
check "IPv4 ping a -> b" cvt_netns_exec "$a" ping -q -n -c 1 -W 5 10.78.0.2
check "IPv6 ping b -> a" cvt_netns_exec "$b" ping -6 -q -n -c 1 -W 5 fd78::1
check "veth ends are not visible in the caller's namespace" bash -c '! ip link show cvta 2>/dev/null'
check "a public address is refused" bash -c "! (. '$helpers'; CVT_NETNS_LIST=('$a'); cvt_addr '$a' cvta 192.0.2.1/24 2>/dev/null)"
check "a global IPv6 address is refused" bash -c "! (. '$helpers'; CVT_NETNS_LIST=('$a'); cvt_addr '$a' cvta 2001:db8::1/64 2>/dev/null)"
check "...and was not added" bash -c "! ip -n '$a' addr show dev cvta | grep -q -e 192.0.2.1 -e 2001:db8"
check "foreign namespaces are refused" bash -c "! (. '$helpers'; cvt_netns_exec '$a' true 2>/dev/null)"
cvt_tap "$a" cvtt0
check "a TAP inside a namespace" ip -n "$a" link show cvtt0
cvt_netns_cleanup
check "cleanup removes both namespaces" bash -c "! ip netns list | grep -q -e '$a' -e '$b'"

# --- a failing set -e script still cleans up, including its processes ---
out=$(mktemp)
trap 'rm -f "$out"; cvt_netns_cleanup' EXIT
set +e
bash -c "set -e; . '$helpers'; cvt_netns_create n; echo \$n > '$out'
         cvt_netns_exec \$n sleep 300 & echo \$! >> '$out'; sleep 0.2; false; echo unreachable" >/dev/null 2>&1
status=$?
set -e
n=$(sed -n 1p "$out")
sleeper=$(sed -n 2p "$out")
check "the failing script failed" test "$status" -ne 0
check "its namespace $n is gone" ns_gone "$n"
gone() { for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
check "its process $sleeper in the namespace was stopped" gone "$sleeper"

# --- SIGTERM while waiting ---
bash -c ". '$helpers'; cvt_netns_create n; echo \$n > '$out'; cvt_netns_exec \$n sleep 300 & wait \$!" &
child=$!
for _ in $(seq 50); do [ -s "$out" ] && ns_exists "$(cat "$out")" && break; sleep 0.1; done
n=$(cat "$out")
check "namespace $n exists while its script runs" ns_exists "$n"
kill -TERM "$child"
wait "$child" || true
check "SIGTERM removes it" ns_gone "$n"

# --- SIGKILL leaves it behind; the sweep removes it, and only it ---
: > "$out"
bash -c ". '$helpers'; cvt_netns_create n; echo \$n > '$out'; exec sleep 300" &
child=$!
for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
n=$(cat "$out")
cvt_netns_create mine
kill -KILL "$child"
wait "$child" 2>/dev/null || true
check "SIGKILL leaves $n behind" ns_exists "$n"
cvt_netns_sweep_stale 2>/dev/null
check "the sweep removes it" ns_gone "$n"
check "the sweep keeps a live shell's namespace" ns_exists "$mine"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
