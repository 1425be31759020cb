#!/usr/bin/env bash
# Integration: two culvertd processes joined by a DPDK net_memif link (no NIC, no hugepages);
# unmodified programs under the preload on each side talk TCP and UDP through both stacks,
# with content checked. Everything runs inside a private network namespace, so a socket that
# escaped culvert could not reach any real network. Usage: dpdk_memif_test.sh BINDIR CASE
#   tcp_sleep       64 MiB each way (socat echo), poll=sleep, zero-copy receive
#   tcp_busy        8 MiB each way with the defaults: busy polling, zero-copy receive
#   tcp_sleep_copy  16 MiB each way, poll=sleep, rx_zero_copy=false
#   udp             datagrams of 1..8000 bytes (fragmented) echoed, IPv4 and IPv6, poll=sleep
# Two busy-polling culvertds take both cores of a small CI machine from the programs they
# serve (and from everything else running there): only tcp_busy uses the default, briefly.
set -euo pipefail
bin=$(cd "$1" && pwd)
case_name=$2
here=$(cd "$(dirname "$0")" && pwd)
# Debian's interpreter: a version manager's shim can take seconds to start on a busy machine.
py=/usr/bin/python3; [ -x "$py" ] || py=python3
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespace)"; exit 1; }

tag=$(printf '%04x%04x' $RANDOM $RANDOM)
ns="cvt-dm-$$-$tag"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in server client; do
    [ -s "$work/$f.log" ] && { echo "--- $f log"; tail -n 20 "$work/$f.log"; }
  done
  for side in a b; do
    echo "--- culvertd $side log"; tail -n 30 "$work/$side.log" 2>/dev/null || true
    echo "--- culvertd $side status"
    "$py" "$here/dpdk_status.py" "$work/$side.sock" 2>/dev/null || true
  done
  exit 1
}
inns() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
inns ip link set lo up

poll=sleep; zero_copy=true
case "$case_name" in
  tcp_busy) poll=busy ;;
  tcp_sleep_copy) zero_copy=false ;;
esac
# Each culvertd has its own EAL (--file-prefix) and its own core when there are two.
eal="--no-huge --no-pci --no-shconf -m 256 --no-telemetry"
last_cpu=$(($(nproc) - 1))
memif="net_memif0;socket=$work/memif.sock;socket-abstract=no"
start() {  # side role cpu ip ip6
  inns "$bin/culvertd" --socket "$work/$1.sock" --seed 7 \
    --dpdk-eal "$eal -l $3 --file-prefix cvt-$tag-$1" \
    --iface "dpdk:m0,vdev=$memif;role=$2,ip=$4/24,ip6=$5/64,poll=$poll,rx_zero_copy=$zero_copy" \
    >"$work/$1.log" 2>&1 &
  pids+=($!)
}
start a server 0 10.77.0.1 fd77::1
start b client "$last_cpu" 10.77.0.2 fd77::2

status() { "$py" "$here/dpdk_status.py" "$work/$1.sock" "$2"; }
# Up when both culvertds serve their socket and memif reports the link connected.
for _ in $(seq 100); do
  if [ -S "$work/a.sock" ] && [ -S "$work/b.sock" ] &&
     [ "$(status a interfaces.0.link_up 2>/dev/null)" = true ] &&
     [ "$(status b interfaces.0.link_up 2>/dev/null)" = true ]; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || fail "culvertd a exited"
  kill -0 "${pids[1]}" 2>/dev/null || fail "culvertd b exited"
  sleep 0.1
done
[ "$(status a interfaces.0.link_up)" = true ] || fail "memif link did not come up"

# An ASan build of the preload needs the ASan runtime loaded first in uninstrumented programs.
preload="$bin/libculvert-preload.so"
asan_rt=""
if ldd "$preload" | grep -q libasan; then
  asan_rt="$(gcc -print-file-name=libasan.so) "
  export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
fi
under() {  # side cmd...
  local side=$1; shift
  inns env CULVERT_SOCKET="$work/$side.sock" LD_PRELOAD="$asan_rt$preload" timeout 120 "$@"
}

case "$case_name" in
  tcp_sleep|tcp_busy|tcp_sleep_copy)
    mib=64
    [ "$case_name" = tcp_busy ] && mib=8
    [ "$case_name" = tcp_sleep_copy ] && mib=16
    head -c $((mib << 20)) /dev/urandom >"$work/blob_ab"
    head -c $((mib << 20)) /dev/urandom >"$work/blob_ba"
    # Two one-way streams at once, one per direction (an echo through blocking writes can
    # deadlock once every buffer on the loop is full, with any TCP stack): a receives on
    # :5000 what b sends, b downloads from :5001 what a serves. socat, no fork (culvert
    # sockets do not survive fork).
    under a socat -u -b 65536 TCP-LISTEN:5000,reuseaddr CREATE:"$work/got_ab" 2>"$work/server.log" &
    sink=$!
    under a socat -u -b 65536 OPEN:"$work/blob_ba" TCP-LISTEN:5001,reuseaddr 2>>"$work/server.log" &
    source=$!
    pids+=("$sink" "$source")
    start_ns=$(date +%s%N)
    under b socat -u -b 65536 OPEN:"$work/blob_ab" TCP:10.77.0.1:5000,retry=50,interval=0.1 \
      2>"$work/client.log" &
    up=$!
    under b socat -u -b 65536 TCP:10.77.0.1:5001,retry=50,interval=0.1 CREATE:"$work/got_ba" \
      2>>"$work/client.log" &
    down=$!
    for p in $up $down $sink $source; do wait "$p" || fail "socat under the preload failed"; done
    ms=$((($(date +%s%N) - start_ns) / 1000000))
    for dir in ab ba; do
      size=$(stat -c %s "$work/got_$dir")
      [ "$size" -eq $((mib << 20)) ] || fail "$dir: received $size bytes, sent $((mib << 20))"
      cmp -s "$work/blob_$dir" "$work/got_$dir" || fail "$dir: content differs"
    done
    echo "$mib MiB each way in $ms ms ($((mib * 2 * 8 * 1000 / (ms + 1))) Mbit/s both directions together)"
    lent=$(status a interfaces.0.device.rx_lent)
    copied=$(status a interfaces.0.device.rx_copied)
    echo "culvertd a: rx_lent=$lent rx_copied=$copied"
    if [ "$zero_copy" = true ]; then
      [ "$lent" -gt $((mib << 20 >> 11)) ] || fail "receive was not zero-copy (rx_lent=$lent)"
    else
      [ "$lent" -eq 0 ] || fail "rx_zero_copy=false still lent $lent frames"
    fi
    ;;
  udp)
    for fam in AF_INET AF_INET6; do
      host=10.77.0.1; [ $fam = AF_INET6 ] && host=fd77::1
      under a "$py" -c "
import socket
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.bind(('$host', 9000))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
" &
      pids+=($!)
      sleep 0.5
      under b "$py" -c "
import socket, os, sys
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.settimeout(2)
ok = 0
for i in range(300):
    n = [1, 64, 1400, 1472, 2000, 8000][i % 6]
    d = os.urandom(n)
    for attempt in range(3):
        s.sendto(d, ('$host', 9000))
        try:
            r, a = s.recvfrom(65536)
            break
        except socket.timeout:
            continue
    else:
        sys.exit('no echo for datagram %d (%d bytes)' % (i, n))
    if r != d:
        sys.exit('datagram %d differs (%d vs %d bytes)' % (i, len(r), len(d)))
    ok += 1
print('$fam: %d datagrams echoed intact' % ok)
" || fail "UDP ($fam) echo between the culvertds failed"
    done
    ;;
  *) fail "unknown case $case_name" ;;
esac
for p in "${pids[0]}" "${pids[1]}"; do kill -0 "$p" || fail "a culvertd died"; done
# Every lent buffer came back (nothing leaked in lwIP) once the sockets are gone.
echo "PASS $case_name"
