#!/usr/bin/env bash
# Side-by-side service benchmark (DESIGN §8): iperf3 TCP/UDP and sockperf UDP ping-pong
# through culvert (preloaded program -> culvertd -> TAP -> kernel peer) next to the same
# programs kernel-to-kernel over a veth pair between two namespaces, in the same run.
# Needs root. Usage: bench/run_service.sh [BINDIR]   (default build/release/bin)
# Environment: SECONDS_PER_RUN (default 3), REPEAT (default 3; medians are reported).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bindir=${1:-$root/build/release/bin}
T=${SECONDS_PER_RUN:-3}
REPEAT=${REPEAT:-3}
. "$root/tests/integration/svc_lib.sh"

kns_a="cvt-bk-$$-a"
kns_b="cvt-bk-$$-b"
bench_cleanup() {
  ip netns pids "$kns_a" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns pids "$kns_b" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$kns_a" 2>/dev/null || true
  ip netns del "$kns_b" 2>/dev/null || true
  svc_cleanup
}
trap bench_cleanup EXIT

svc_setup "$bindir"
# Kernel baseline: two namespaces joined by a veth pair (the same one-hop shape as the TAP).
ip netns add "$kns_a"
ip netns add "$kns_b"
ip -n "$kns_a" link set lo up
ip -n "$kns_b" link set lo up
ip -n "$kns_a" link add veth-a type veth peer name veth-b netns "$kns_b"
ip -n "$kns_a" addr add 10.98.0.1/24 dev veth-a
ip -n "$kns_b" addr add 10.98.0.2/24 dev veth-b
ip -n "$kns_a" link set veth-a up
ip -n "$kns_b" link set veth-b up
A=(ip netns exec "$kns_a")
B=(ip netns exec "$kns_b")

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else print v[int((NR+1)/2)]}'; }

# iperf3 -J output -> Mbit/s received (TCP) or received datagram rate with loss (UDP).
iperf_mbps() { jq -r '(.end.sum_received.bits_per_second // .end.sum.bits_per_second) / 1e6' "$1"; }
iperf_loss() { jq -r '.end.sum.lost_percent // 0' "$1"; }

run_iperf() {  # NAME SERVER_PREFIX... -- CLIENT_PREFIX... -- HOST EXTRA_ARGS...
  local name=$1 port=5301
  shift
  local server=() client=()
  while [ "$1" != -- ]; do server+=("$1"); shift; done
  shift
  while [ "$1" != -- ]; do client+=("$1"); shift; done
  shift
  local host=$1
  shift
  local i f rates=() losses=()
  for i in $(seq "$REPEAT"); do
    f="$work/$name.$i.json"
    "${server[@]}" iperf3 -s -1 -p $port >/dev/null 2>&1 &
    local spid=$!
    sleep 0.5
    timeout $((T + 20)) "${client[@]}" iperf3 -c "$host" -p $port -t "$T" -J "$@" >"$f" || true
    wait "$spid" 2>/dev/null || true
    rates+=("$(iperf_mbps "$f")")
    losses+=("$(iperf_loss "$f")")
  done
  printf '%s %s %s\n' "$name" "$(printf '%s\n' "${rates[@]}" | median)" "$(printf '%s\n' "${losses[@]}" | median)"
}

# sockperf ping-pong: median of the runs' median one-way latency (us).
run_sockperf() {  # NAME SERVER_PREFIX... -- CLIENT_PREFIX... -- HOST
  local name=$1 port=11111
  shift
  local server=() client=()
  while [ "$1" != -- ]; do server+=("$1"); shift; done
  shift
  while [ "$1" != -- ]; do client+=("$1"); shift; done
  shift
  local host=$1 i lat=()
  "${server[@]}" sockperf sr -i "$host" -p $port >/dev/null 2>&1 &
  local spid=$!
  sleep 0.5
  for i in $(seq "$REPEAT"); do
    timeout $((T + 20)) "${client[@]}" sockperf pp -i "$host" -p $port -t "$T" -m 64 >"$work/$name.$i.txt" 2>&1 || true
    lat+=("$(awk '/percentile 50.000/ {print $NF}' "$work/$name.$i.txt" | tail -1)")
  done
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  printf '%s %s\n' "$name" "$(printf '%s\n' "${lat[@]}" | median)"
}

echo "# culvert service benchmark: $(date -u +%FT%TZ), ${T}s per run, median of $REPEAT runs"
echo "# $(uname -r), $(nproc) CPUs; culvert: $bindir"
{
  # TCP: the preloaded side sends (client under culvert) and receives (server under culvert).
  run_iperf tcp_kernel_veth "${B[@]}" -- "${A[@]}" -- 10.98.0.2
  run_iperf tcp_culvert_client "${IN_NS[@]}" -- "${UNDER[@]}" -- "$SVC_V4_KERNEL"
  run_iperf tcp_culvert_server "${UNDER[@]}" -- "${IN_NS[@]}" -- "$SVC_V4_CULVERT"
  run_iperf udp_kernel_veth "${B[@]}" -- "${A[@]}" -- 10.98.0.2 -u -b 0 -l 1400
  run_iperf udp_culvert_client "${IN_NS[@]}" -- "${UNDER[@]}" -- "$SVC_V4_KERNEL" -u -b 0 -l 1400
  run_iperf udp_culvert_server "${UNDER[@]}" -- "${IN_NS[@]}" -- "$SVC_V4_CULVERT" -u -b 0 -l 1400
} >"$work/iperf.txt"
{
  run_sockperf pp_kernel_veth "${B[@]}" -- "${A[@]}" -- 10.98.0.2
  run_sockperf pp_culvert_client "${IN_NS[@]}" -- "${UNDER[@]}" -- "$SVC_V4_KERNEL"
} >"$work/sockperf.txt"

awk '
  FILENAME ~ /iperf/ { rate[$1] = $2; loss[$1] = $3 }
  FILENAME ~ /sockperf/ { lat[$1] = $2 }
  END {
    printf "\n| iperf3 (%s) | Mbit/s received | loss %% | ratio to kernel |\n|---|---|---|---|\n", "median"
    n = split("tcp_kernel_veth tcp_culvert_client tcp_culvert_server udp_kernel_veth udp_culvert_client udp_culvert_server", k, " ")
    for (i = 1; i <= n; i++) {
      base = (k[i] ~ /^tcp/) ? rate["tcp_kernel_veth"] : rate["udp_kernel_veth"]
      printf "| %s | %.0f | %s | %.2f |\n", k[i], rate[k[i]], (k[i] ~ /^udp/ ? loss[k[i]] : "-"), (base > 0 ? rate[k[i]] / base : 0)
    }
    printf "\n| sockperf UDP ping-pong, 64 B | median one-way latency (us) | ratio to kernel |\n|---|---|---|\n"
    printf "| pp_kernel_veth | %s | 1.00 |\n", lat["pp_kernel_veth"]
    printf "| pp_culvert_client | %s | %.2f |\n", lat["pp_culvert_client"], (lat["pp_kernel_veth"] > 0 ? lat["pp_culvert_client"] / lat["pp_kernel_veth"] : 0)
  }' "$work/iperf.txt" "$work/sockperf.txt"
echo
echo "culvertd afterwards: $(status_get -c '{sockets, orphans, segment_bytes_in_use, pbuf_pool: .lwip.pbuf_pool}')"
