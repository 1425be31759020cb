#!/usr/bin/env bash
# Runs the channel benchmarks of issues 2 and 3 (release preset) and prints the side-by-side
# table: ByteRing vs unix/TCP sockets, BipartiteRing vs UDP, and the level-triggered writer with
# the seed's eventfd block vs our socketpair vs Linux TCP. Results: docs/benchmarks.md.
#   bench/run_channels.sh                      # everything, 5 repetitions, medians (~2 minutes)
#   bench/run_channels.sh --benchmark_filter=LtWriter   # extra flags go to channels_bench
# The JSON of every run goes to build/release/channels_bench.json (override: CULVERT_BENCH_OUT).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cmake --preset release >/dev/null
cmake --build --preset release -j2 --target channels_bench >/dev/null

out=${CULVERT_BENCH_OUT:-$root/build/release/channels_bench.json}
# The kernel baselines run in the same process and the same run as culvert's channels: on a
# shared, noisy machine only medians and ratios within one run mean anything.
echo "machine: $(nproc) CPUs, $(uname -r), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$root/build/release/bin/channels_bench" \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json "$@"
