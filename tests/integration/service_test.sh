#!/usr/bin/env bash
# Integration: culvertd on a TAP inside a private network namespace; real unmodified
# programs under the preload talk to kernel-side peers in the namespace, both directions,
# IPv4 and IPv6, TCP and UDP, with content checked. Usage: service_test.sh BINDIR CASE
set -euo pipefail
bin=$(cd "$1" && pwd)
case_name=$2
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespace + TAP)"; exit 1; }

tag=$(printf '%04x' $((RANDOM)))
ns="cvt-it-$$-$tag"
tap="cvt$tag"
work=$(mktemp -d)
sock="$work/culvertd.sock"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP  # run the EXIT trap on signals too (ctest timeouts send TERM)
# Namespaces of earlier runs that were killed outright (SIGKILL): their creator is gone.
for old in $(ip netns list | awk '/^cvt-it-[0-9]+-/ {print $1}'); do
  owner=${old#cvt-it-}; owner=${owner%%-*}
  kill -0 "$owner" 2>/dev/null || ip netns del "$old" 2>/dev/null || true
done
fail() { echo "FAIL: $*"; echo "--- culvertd log"; cat "$work/culvertd.log" || true; exit 1; }

ip netns add "$ns"
"$bin/culvertd" --socket "$sock" --iface "tap:$tap,ip=10.99.0.2/24,ip6=fd99::2/64,netns=$ns" \
  >"$work/culvertd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && ip netns exec "$ns" ip link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$ns" ip addr add 10.99.0.1/24 dev "$tap"
ip netns exec "$ns" ip addr add fd99::1/64 dev "$tap" nodad
ip netns exec "$ns" ip link set "$tap" up
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ping -c 1 -W 2 10.99.0.2 >/dev/null || fail "culvert does not answer ping"

under() { "$bin/culvert" run --socket "$sock" -- "$@"; }
under_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$bin/culvert" run --socket "$sock" -- "$@"; }
head -c 4000000 /dev/urandom >"$work/blob"
want=$(sha256sum <"$work/blob" | cut -d' ' -f1)

wait_port() {  # netns-or-empty host port
  for _ in $(seq 50); do
    if [ -n "$1" ]; then ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    else bash -c "true" && sleep 0.2 && return 0; fi
    sleep 0.1
  done
  return 1
}

case "$case_name" in
  curl_client_v4|curl_client_v6)
    # A kernel-side HTTP server; curl under the preload fetches through culvert.
    (cd "$work" && exec ip netns exec "$ns" python3 -m http.server 8080 --bind :: >/dev/null 2>&1) &
    pids+=($!)
    wait_port "$ns" 10.99.0.1 8080 || fail "http server did not start"
    url=http://10.99.0.1:8080/blob
    [ "$case_name" = curl_client_v6 ] && url="http://[fd99::1]:8080/blob"
    under curl -sS --max-time 60 -o "$work/got" "$url" || fail "curl under the preload failed"
    got=$(sha256sum <"$work/got" | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "content differs: $got != $want"
    ;;
  curl_server_v4|curl_server_v6)
    # An HTTP server under the preload; a kernel-side curl fetches from it through culvert.
    (cd "$work" && exec "$bin/culvert" run --socket "$sock" -- \
       python3 -m http.server 8081 --bind :: >"$work/server.log" 2>&1) &
    pids+=($!)
    host=10.99.0.2; url=http://10.99.0.2:8081/blob
    [ "$case_name" = curl_server_v6 ] && { host=fd99::2; url="http://[fd99::2]:8081/blob"; }
    sleep 1
    ip netns exec "$ns" curl -sS --retry 5 --retry-connrefused --max-time 60 -o "$work/got" "$url" \
      || { cat "$work/server.log"; fail "kernel curl from the server under the preload failed"; }
    got=$(sha256sum <"$work/got" | cut -d' ' -f1)
    [ "$got" = "$want" ] || fail "content differs: $got != $want"
    ;;
  udp_echo_v4|udp_echo_v6|udp_echo_segment|udp_echo_other_uid)
    host=10.99.0.1; fam=AF_INET
    [ "$case_name" = udp_echo_v6 ] && { host=fd99::1; fam=AF_INET6; }
    runner=under
    if [ "$case_name" = udp_echo_segment ]; then
      # Datagram payloads through the shared segment instead of process_vm_readv/writev.
      export CULVERT_COPY_MODE=segment
    fi
    if [ "$case_name" = udp_echo_other_uid ]; then
      # A client of another uid: the kernel refuses process_vm_* into culvertd (root), so
      # the client must say so and fall back to the segment. The socket must be reachable.
      chmod 755 "$work"
      chmod 666 "$sock"
      runner=under_nobody
    fi
    ip netns exec "$ns" python3 -c "
import socket
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.bind(('$host', 9000))
while True:
    d, a = s.recvfrom(65536)
    s.sendto(d, a)
" &
    pids+=($!)
    sleep 0.5
    $runner python3 -c "
import socket, os, sys
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.settimeout(3)
for i in range(200):
    n = [1, 64, 1400, 2000, 8000][i % 5]
    d = os.urandom(n)
    for attempt in range(3):
        s.sendto(d, ('$host', 9000))
        try:
            r, a = s.recvfrom(65536)
            break
        except socket.timeout:
            continue
    else:
        sys.exit('no echo for datagram %d' % i)
    if r != d:
        sys.exit('datagram %d differs (%d vs %d bytes)' % (i, len(r), len(d)))
print('200 datagrams echoed intact')
" 2>"$work/client.err" || { cat "$work/client.err"; fail "UDP echo through culvert failed"; }
    if [ "$case_name" != udp_echo_v4 ] && [ "$case_name" != udp_echo_v6 ]; then
      grep -q "datagrams are copied through shared memory" "$work/client.err" \
        || { cat "$work/client.err"; fail "the client did not say it uses the segment copy path"; }
    else
      ! grep -q "shared memory" "$work/client.err" || fail "process_vm path expected"
    fi
    ;;
  *) fail "unknown case $case_name" ;;
esac
# culvertd must still be alive and serving after the case.
kill -0 "${pids[0]}" || fail "culvertd died"
if [ -n "${CULVERT_SHOW_STATUS:-}" ]; then "$bin/culvert" status --socket "$sock" || true; fi
echo "PASS $case_name"
