#!/usr/bin/env bash
# Side by side, in one run: two culvertd processes joined by DPDK's net_memif (programs under
# the preload on each side) versus two kernel network namespaces joined by a veth pair.
# iperf3 TCP and UDP throughput, sockperf UDP and TCP ping-pong latency; then the DPDK
# backend's microbenchmarks (transmit copy, zero-copy versus copying receive).
# Usage (root): bench/run_dpdk.sh [BINDIR] [SECONDS]    defaults: build/release/bin, 5
# Prints a Markdown table; numbers are from one run on a noisy machine: compare ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$here/build/release/bin}" && pwd)
secs=${2:-5}
py=/usr/bin/python3; [ -x "$py" ] || py=python3
[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces)"; exit 2; }
for tool in iperf3 sockperf; do command -v "$tool" >/dev/null || { echo "needs $tool"; exit 2; }; done

tag=$(printf '%04x' $RANDOM)
nsk1="cvt-bk1-$$-$tag"; nsk2="cvt-bk2-$$-$tag"; nsc="cvt-bc-$$-$tag"
work=$(mktemp -d)
daemons=()
cleanup() {
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$nsk1" "$nsk2" "$nsc"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

preload="$bin/libculvert-preload.so"
ncpu=$(nproc)
cpu_b=$((ncpu > 1 ? 1 : 0))

# --- measurements; $1/$2: how to run a command on the server / client side ---
iperf_tcp() {  # server-prefix client-prefix host -> Gbit/s received
  $1 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.5
  $2 iperf3 -c "$3" -p 5201 -t "$secs" -J >"$work/iperf.json" 2>/dev/null || { echo "-"; kill $srv 2>/dev/null; return; }
  wait $srv 2>/dev/null || true
  "$py" -c "
import json; j=json.load(open('$work/iperf.json'))
print(j['error'] if 'error' in j else '%.2f' % (j['end']['sum_received']['bits_per_second']/1e9))"
}
iperf_udp() {  # -> "Gbit/s received, loss %" at 1400-byte datagrams, unlimited rate
  $1 iperf3 -s -1 -p 5202 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.5
  $2 iperf3 -c "$3" -p 5202 -u -b 0 -l 1400 -t "$secs" -J >"$work/iperf.json" 2>/dev/null || { echo "-"; kill $srv 2>/dev/null; return; }
  wait $srv 2>/dev/null || true
  "$py" -c "
import json; j=json.load(open('$work/iperf.json'))
s = j.get('end', {}).get('sum')
print(j['error'] if 'error' in j else '%.2f Gbit/s, %.1f%% lost' % (s['bits_per_second']/1e9, s['lost_percent']))"
}
sockperf_pp() {  # server-prefix client-prefix host extra-args -> "median us (p99 us)"
  $1 sockperf sr -i "$3" -p 11111 $4 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.7
  $2 sockperf pp -i "$3" -p 11111 -t "$secs" -m 64 $4 >"$work/sockperf.txt" 2>&1 || true
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
  "$py" -c "
import re
t = open('$work/sockperf.txt').read()
p50 = re.search(r'percentile 50\.000 =\s*([0-9.]+)', t); p99 = re.search(r'percentile 99\.000 =\s*([0-9.]+)', t)
print('%s (%s)' % (p50.group(1), p99.group(1)) if p50 and p99 else '-')"
}

row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
echo "culvert DPDK benchmark: $(date -u +%F), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${secs}s per measurement"
echo
echo "| path | iperf3 TCP Gbit/s | iperf3 UDP 1400 B | sockperf UDP 64 B RTT µs p50 (p99) | sockperf TCP 64 B RTT µs p50 (p99) |"
echo "|---|---|---|---|---|"

# --- kernel to kernel over a veth pair ---
ip netns add "$nsk1"; ip netns add "$nsk2"
ip -n "$nsk1" link set lo up; ip -n "$nsk2" link set lo up
ip -n "$nsk1" link add vk1 type veth peer name vk2 netns "$nsk2"
ip -n "$nsk1" addr add 10.92.0.1/24 dev vk1; ip -n "$nsk2" addr add 10.92.0.2/24 dev vk2
ip -n "$nsk1" link set vk1 up; ip -n "$nsk2" link set vk2 up
ks="ip netns exec $nsk2"; kc="ip netns exec $nsk1"
row "kernel veth" "$(iperf_tcp "$ks" "$kc" 10.92.0.2)" "$(iperf_udp "$ks" "$kc" 10.92.0.2)" \
  "$(sockperf_pp "$ks" "$kc" 10.92.0.2 "")" "$(sockperf_pp "$ks" "$kc" 10.92.0.2 --tcp)"

# --- two culvertds over net_memif ---
ip netns add "$nsc"; ip -n "$nsc" link set lo up
run_pair() {  # id label poll zero_copy full|tcp
  local id=$1 label=$2 poll=$3 zc=$4 what=$5 eal="--no-huge --no-pci --no-shconf -m 512 --no-telemetry"
  local memif="net_memif0;socket=$work/memif-$id.sock;socket-abstract=no"
  for side in a b; do
    local role=server cpu=0 ip=10.93.0.1
    [ $side = b ] && { role=client; cpu=$cpu_b; ip=10.93.0.2; }
    ip netns exec "$nsc" "$bin/culvertd" --socket "$work/$id-$side.sock" --log-level warn \
      --dpdk-eal "$eal -l $cpu --file-prefix cvt-b$tag-$id-$side" \
      --iface "dpdk:m0,vdev=$memif;role=$role,ip=$ip/24,poll=$poll,rx_zero_copy=$zc" \
      >"$work/$id-$side.log" 2>&1 &
    daemons+=($!)
  done
  local up=""
  for _ in $(seq 300); do
    [ -S "$work/$id-a.sock" ] && [ -S "$work/$id-b.sock" ] &&
      [ "$("$py" "$here/tests/integration/dpdk_status.py" "$work/$id-b.sock" interfaces.0.link_up 2>/dev/null)" = true ] &&
      { up=1; break; }
    sleep 0.1
  done
  if [ -z "$up" ]; then
    row "culvert memif, $label" "culvertd pair did not come up: $(grep -h -v '^EAL' "$work/$id"-?.log | tail -n 2 | tr '\n' ' ')" "" "" ""
    for p in "${daemons[@]}"; do kill "$p" 2>/dev/null || true; done
    daemons=()
    return
  fi
  local cs="ip netns exec $nsc env CULVERT_SOCKET=$work/$id-a.sock LD_PRELOAD=$preload"
  local cc="ip netns exec $nsc env CULVERT_SOCKET=$work/$id-b.sock LD_PRELOAD=$preload"
  if [ "$what" = full ]; then
    row "culvert memif, $label" "$(iperf_tcp "$cs" "$cc" 10.93.0.1)" "$(iperf_udp "$cs" "$cc" 10.93.0.1)" \
      "$(sockperf_pp "$cs" "$cc" 10.93.0.1 "")" "$(sockperf_pp "$cs" "$cc" 10.93.0.1 --tcp)"
  else
    row "culvert memif, $label" "$(iperf_tcp "$cs" "$cc" 10.93.0.1)" "" "" ""
  fi
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${daemons[@]}" 2>/dev/null || true
  daemons=()
}
run_pair sleep "poll=sleep" sleep true full
run_pair busy "poll=busy" busy true full
run_pair copy "poll=sleep, rx copied" sleep false tcp

echo
echo "DPDK backend microbenchmarks (net_ring, one thread):"
echo
echo '```'
"$bin/dpdk_backend_bench" --benchmark_min_time=0.5 2>/dev/null |
  grep -E "^(BM_|Benchmark|-)" || echo "(dpdk_backend_bench failed)"
echo '```'
