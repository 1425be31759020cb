#!/usr/bin/env bash
# Regenerates the replay corpus: culvertd on a TAP in a private network namespace talks to
# kernel peers while `--capture` records every frame at culvert's backend; the capture is
# split into CASE.peer.pcap (the kernel's frames) and CASE.answer.pcap (culvert's), and the
# case's replay arguments go to CASE.args. Each recording is replayed at once and kept only
# if the replay reproduces it exactly (else recorded again, up to 3 times).
# Usage (root): tests/pcap/record.sh BINDIR [CASE...]   (BINDIR: build/debug/bin)
set -euo pipefail
bin=$(cd "${1:?usage: record.sh BINDIR [CASE...]}" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "record.sh: needs root (network namespace + TAP)" >&2; exit 2; }
command -v tshark >/dev/null || { echo "record.sh: needs tshark to split captures" >&2; exit 2; }
all_cases=(icmp_echo tcp_http_v4 tcp_http_v6 udp_echo_v6 tcp_bulk_loss_v4)
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("${all_cases[@]}")

culvert_mac=02:c7:00:00:00:02
kernel_mac=02:4b:00:00:00:01
seed=1
work=$(mktemp -d)
ns=""
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$ns" ]; then
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The app culvert runs (live now, replayed later) and the kernel side of each case.
app_of() {
  case "$1" in
    icmp_echo) echo none ;;
    tcp_http_v4 | tcp_http_v6) echo http:8080 ;;
    udp_echo_v6) echo udp-echo:9000 ;;
    tcp_bulk_loss_v4) echo "tcp-send:10.99.0.1:9000,bytes=65536" ;;
  esac
}

# A kernel HTTP client that pauses between connecting and asking: whether culvert's app
# accepts before or after a request arrives changes what culvert sends (a window update or
# not), and the recording must not depend on that race.
http_get() {  # HOST BYTES
  ip netns exec "$ns" python3 -c "
import socket, sys, time
s = socket.create_connection(('$1', 8080))
time.sleep(0.05)
s.sendall(b'GET /$2 HTTP/1.1\\r\\nHost: culvert\\r\\n\\r\\n')
data = b''
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
    head, _, body = data.partition(b'\\r\\n\\r\\n')
    if len(body) >= $2:
        break
s.close()
want = bytes(97 + i % 26 for i in range($2))
sys.exit(0 if body == want else 'body differs')
"
}

kernel_side() {  # CASE: what the kernel peer does (culvert's app is already running)
  case "$1" in
    icmp_echo)
      ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 10.99.0.2 >/dev/null
      ip netns exec "$ns" ping -6 -c 3 -i 0.2 -W 2 fd99::2 >/dev/null ;;
    tcp_http_v4) http_get 10.99.0.2 3000 ;;
    tcp_http_v6) http_get fd99::2 2000 ;;
    udp_echo_v6)
      ip netns exec "$ns" python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
for i, n in enumerate([10, 500, 1400]):
    d = bytes((65 + (i + k) % 26) for k in range(n))
    s.sendto(d, ('fd99::2', 9000))
    r, _ = s.recvfrom(65536)
    assert r == d, 'echo %d differs' % i
" ;;
    tcp_bulk_loss_v4) ;;  # the sink below was started before culvert's app
  esac
}

record_once() {  # CASE -> $work/all.pcap, or fail
  local c=$1 tag tap_a tap_b sock relay=0 app
  tag=$(printf '%04x' $RANDOM)
  ns="cvt-rec-$$-$tag"
  tap_a="cvta$tag"; tap_b="cvtb$tag"
  sock="$work/culvertd.sock"
  app=$(app_of "$c")
  [ "$c" = tcp_bulk_loss_v4 ] && relay=1
  rm -f "$work/all.pcap"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  "$bin/culvertd" --socket "$sock" --seed $seed \
    --iface "tap:$tap_a,mac=$culvert_mac,ip=10.99.0.2/24,ip6=fd99::2/64,netns=$ns,capture=$work/all.pcap" \
    >"$work/culvertd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do [ -S "$sock" ] && ip -n "$ns" link show "$tap_a" >/dev/null 2>&1 && break; sleep 0.1; done
  local peer_if=$tap_a
  if [ $relay = 1 ]; then
    # culvert's TAP carries no kernel addresses; the relay bridges it to tap_b, which does.
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap_a.disable_ipv6=1"
    ip -n "$ns" link set "$tap_a" arp off up
    ip netns exec "$ns" python3 -u "$here/relay.py" "$tap_a" "$tap_b" --drop-nth 20 >"$work/relay.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q ready "$work/relay.log" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$work/relay.log"
    peer_if=$tap_b
  fi
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$peer_if.router_solicitations=0"
  # A fixed MAC (set while down, so the kernel's link-local address follows it) keeps the
  # kernel's frames the same from one recording to the next.
  ip -n "$ns" link set "$peer_if" down
  ip -n "$ns" link set "$peer_if" address $kernel_mac
  ip -n "$ns" addr add 10.99.0.1/24 dev "$peer_if"
  ip -n "$ns" addr add fd99::1/64 dev "$peer_if" nodad
  ip -n "$ns" link set "$peer_if" up
  ip netns exec "$ns" ping -c 1 -W 2 10.99.0.2 >/dev/null
  ip netns exec "$ns" ping -6 -c 1 -W 2 fd99::2 >/dev/null
  if [ "$c" = tcp_bulk_loss_v4 ]; then
    ip netns exec "$ns" python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.99.0.1', 9000)); l.listen(1)
print('listening', flush=True)
c, _ = l.accept(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
c.close(); print('sink got', n)
" >"$work/sink.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do grep -q listening "$work/sink.log" 2>/dev/null && break; sleep 0.1; done
    timeout 20 "$bin/culvert" replay --live --socket "$sock" --app "$app"
    sleep 0.5
    grep -q "sink got 65536" "$work/sink.log" || { cat "$work/sink.log"; return 1; }
    grep -q "dropped" "$work/relay.log" || { echo "no segment was dropped"; return 1; }
  else
    "$bin/culvert" replay --live --socket "$sock" --app "$app" >"$work/app.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    kernel_side "$c"
  fi
  sleep 0.5
  teardown
  [ -s "$work/all.pcap" ]
}

teardown() {  # stops culvertd (which closes the capture) and everything in the namespace
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  if [ -n "$ns" ]; then
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  fi
  ns=""
}

for c in "${cases[@]}"; do
  app=$(app_of "$c")
  [ -n "$app" ] || { echo "record.sh: unknown case $c (known: ${all_cases[*]})" >&2; exit 2; }
  ok=0
  for attempt in 1 2 3; do
    # A subshell with errexit on (not ignored, as it would be under `if`) and its own
    # teardown, so a failed step ends just this attempt.
    set +e
    (set -e; trap teardown EXIT; record_once "$c")
    status=$?
    set -e
    if [ $status -ne 0 ]; then
      echo "record.sh: $c: recording failed (attempt $attempt)"
      cat "$work/culvertd.log" "$work/relay.log" 2>/dev/null || true
      continue
    fi
    tshark -r "$work/all.pcap" -F pcap -w "$work/peer.pcap" -Y "eth.src != $culvert_mac" 2>/dev/null
    tshark -r "$work/all.pcap" -F pcap -w "$work/answer.pcap" -Y "eth.src == $culvert_mac" 2>/dev/null
    if "$bin/culvert" replay --input "$work/peer.pcap" --expect "$work/answer.pcap" --seed $seed \
         --app "$app" >"$work/replay.log" 2>&1; then
      cp "$work/peer.pcap" "$here/$c.peer.pcap"
      cp "$work/answer.pcap" "$here/$c.answer.pcap"
      printf -- "--seed %s --app %s\n" "$seed" "$app" >"$here/$c.args"
      echo "record.sh: $c: $(tail -n 1 "$work/replay.log")"
      ok=1
      break
    fi
    echo "record.sh: $c: the replay does not reproduce the recording (attempt $attempt):"
    cat "$work/replay.log"
    if [ -n "${CULVERT_RECORD_KEEP:-}" ]; then  # a directory to keep failed recordings in
      cp "$work/peer.pcap" "$CULVERT_RECORD_KEEP/$c.$attempt.peer.pcap"
      cp "$work/answer.pcap" "$CULVERT_RECORD_KEEP/$c.$attempt.answer.pcap"
    fi
  done
  [ $ok = 1 ] || { echo "record.sh: $c: giving up" >&2; exit 1; }
done
