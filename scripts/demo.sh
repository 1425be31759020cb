#!/usr/bin/env bash
# The demo (README quick start): set-up, build, then culvertd on a TAP inside a private
# network namespace with real unmodified programs under the preload talking to kernel-side
# peers: curl fetching from a kernel HTTP server, a kernel curl fetching from a server
# under the preload, UDP echo (IPv4 and IPv6), and short iperf3 runs; culvertd's counters
# after each. Everything is removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
for c in curl_client_v4 curl_client_v6 curl_server_v4 curl_server_v6 udp_echo_v4 udp_echo_v6; do
  echo "== demo: $c"
  CULVERT_SHOW_STATUS=1 bash tests/integration/service_test.sh build/release/bin "$c" | grep -vE "^[0-9]{4}-"
done
# A short iperf3 each way (TCP) and UDP, with the client and then the server under culvert.
for c in iperf_tcp_client_v4 iperf_tcp_server_v4 iperf_udp_client_v4; do
  echo "== demo: $c"
  bash tests/integration/svc_cases.sh build/release/bin "$c" | grep -vE "^[0-9]{4}-"
done
