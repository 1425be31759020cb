#!/usr/bin/env bash
# culvertd's capture and pcap backend for real. capture_tap/capture_filter (root): culvertd
# on a TAP in a private netns with capture=FILE records a kernel ping exchange that tshark
# reads without warnings (with capture_filter=icmp: nothing else). pcap_daemon (no root): a
# pcap interface plays a recorded peer capture in real time and writes culvert's answers.
# Usage: pcap_capture_test.sh BINDIR CORPUS CASE
set -euo pipefail
bin=$(cd "$1" && pwd)
corpus=$(cd "$2" && pwd)
case_name=$3
work=$(mktemp -d)
ns=""
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$ns" ]; then
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$work/culvertd.log" 2>/dev/null || true; exit 1; }
tshark_clean() {  # FILE -> decoded lines in $work/tshark.out; fails on any warning
  tshark -r "$1" >"$work/tshark.out" 2>"$work/tshark.err" || fail "tshark cannot read $1"
  if grep -v "Running as user" "$work/tshark.err" | grep -q .; then fail "tshark warned: $(cat "$work/tshark.err")"; fi
}
stop_culvertd() {
  kill -TERM "$pid"
  wait "$pid" || fail "culvertd exited with an error"
  pid=""
}

case "$case_name" in
  capture_tap | capture_filter)
    if [ "$(id -u)" -ne 0 ]; then
      [ -n "${CI:-}" ] && fail "needs root (network namespace + TAP)"
      echo "SKIP: needs root"; exit 0
    fi
    tag=$(printf '%04x' $RANDOM)
    ns="cvt-cap-$$-$tag"
    tap="cvtc$tag"
    ip netns add "$ns"
    extra=""
    [ "$case_name" = capture_filter ] && extra=",capture_filter=icmp"
    "$bin/culvertd" --socket "$work/s.sock" \
      --iface "tap:$tap,ip=10.98.0.2/24,netns=$ns,capture=$work/cap.pcap$extra" >"$work/culvertd.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do ip -n "$ns" link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "$ns" addr add 10.98.0.1/24 dev "$tap"
    ip -n "$ns" link set "$tap" up
    ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 10.98.0.2 >/dev/null || fail "no ping answers"
    stop_culvertd
    tshark_clean "$work/cap.pcap"
    [ "$(grep -c "Echo (ping) request" "$work/tshark.out")" -eq 3 ] || fail "want 3 requests: $(cat "$work/tshark.out")"
    [ "$(grep -c "Echo (ping) reply" "$work/tshark.out")" -eq 3 ] || fail "want 3 replies: $(cat "$work/tshark.out")"
    if [ "$case_name" = capture_filter ]; then
      ! grep -q "ARP" "$work/tshark.out" || fail "the filter let ARP through"
      [ "$(wc -l <"$work/tshark.out")" -eq 6 ] || fail "want only the 6 ICMP frames"
    else
      grep -q "ARP" "$work/tshark.out" || fail "no ARP captured"
    fi
    ;;
  pcap_daemon)
    "$bin/culvertd" --socket "$work/s.sock" --seed 1 \
      --iface "pcap:replay0,mac=02:c7:00:00:00:02,ip=10.99.0.2/24,ip6=fd99::2/64,input=$corpus/icmp_echo.peer.pcap,output=$work/out.pcap" \
      >"$work/culvertd.log" 2>&1 &
    pid=$!
    # The input spans about two seconds of stack time from culvertd's start.
    sleep 3
    stop_culvertd
    tshark_clean "$work/out.pcap"
    [ "$(grep -c "Echo (ping) reply" "$work/tshark.out")" -eq 8 ] || fail "want 8 echo replies: $(cat "$work/tshark.out")"
    ;;
  *) fail "unknown case $case_name" ;;
esac
echo "PASS $case_name"
