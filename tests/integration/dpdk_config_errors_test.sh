#!/usr/bin/env bash
# Integration: culvertd refuses bad DPDK configurations with exit code 2 and exactly one
# error line that names the cause: unknown vdev driver, a port that does not exist (by name
# and by PCI address), an EAL failure (bad core list), hugepages missing or unusable without
# --no-huge, a driver refusing its arguments, an invalid key value, a network namespace that
# does not exist (TAP and DPDK). No root, no network.
# Usage: dpdk_config_errors_test.sh BINDIR
set -euo pipefail
bin=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
eal="--no-huge --no-pci --no-shconf -m 128 --no-telemetry -l 0"
failures=0

expect_refusal() {  # name eal-args iface-spec expected-substring...
  local name=$1 eal_args=$2 spec=$3
  shift 3
  local rc=0
  timeout 60 "$bin/culvertd" --socket "$work/c.sock" --dpdk-eal "$eal_args --file-prefix cvt-err-$$" \
    --iface "$spec" >"$work/out" 2>&1 || rc=$?
  local errors
  errors=$(grep -c -E "^culvertd: | error " "$work/out" || true)
  local ok=1
  [ "$rc" -eq 2 ] || { echo "FAIL $name: exit code $rc, want 2"; ok=0; }
  [ "$errors" -eq 1 ] || { echo "FAIL $name: $errors error lines, want exactly one"; ok=0; }
  for want in "$@"; do
    grep -E "^culvertd: | error " "$work/out" | grep -qF -- "$want" || { echo "FAIL $name: no '$want'"; ok=0; }
  done
  if [ "$ok" = 1 ]; then
    echo "ok   $name: $(grep -E "^culvertd: | error " "$work/out" | sed 's/^.* error *//' | cut -c1-160)"
  else
    echo "--- output"; cat "$work/out"; failures=$((failures + 1))
  fi
}

expect_refusal unknown-vdev "$eal" "dpdk:d0,vdev=net_nosuch0,ip=10.0.0.2/24" \
  "interface d0" "no DPDK driver for virtual device 'net_nosuch0'"
expect_refusal missing-port "$eal" "dpdk:d0,port=net_ring5,ip=10.0.0.2/24" \
  "no DPDK port named 'net_ring5'"
expect_refusal missing-pci-port "$eal" "dpdk:d0,port=0000:42:00.0,ip=10.0.0.2/24" \
  "DPDK port '0000:42:00.0' does not exist and cannot be probed" "vfio-pci"
expect_refusal eal-bad-cores "--no-huge --no-pci --no-shconf -m 128 -l 64" "dpdk:d0,vdev=net_ring0" \
  "DPDK EAL initialisation failed: invalid EAL arguments" "invalid core list"
expect_refusal eal-unknown-option "$eal --frobnicate" "dpdk:d0,vdev=net_ring0" \
  "DPDK EAL initialisation failed: invalid EAL arguments" "--frobnicate"
expect_refusal driver-refuses "$eal" "dpdk:d0,vdev=net_memif0;role=bogus;socket=$work/m.sock" \
  "cannot create virtual device 'net_memif0,role=bogus" "Unknown role: bogus"
expect_refusal bad-key "$eal" "dpdk:d0,vdev=net_ring0,queues=0" "queues" "1..64"
expect_refusal missing-netns "$eal" "dpdk:d0,vdev=net_ring0,netns=cvt-nosuch-$$" \
  "cannot enter network namespace 'cvt-nosuch-$$'"
expect_refusal tap-missing-netns "$eal" "tap:cvtnons$$,netns=cvt-nosuch-$$" \
  "cannot enter network namespace 'cvt-nosuch-$$'"
expect_refusal in-memory-no-huge "$eal --in-memory" "dpdk:d0,vdev=net_ring0" "--in-memory with --no-huge"

# Without --no-huge the EAL needs hugepages. With none reserved, culvertd says so; with
# some reserved, pointing the EAL at a directory that is not hugetlbfs makes them unusable.
hugepages=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
if [ "${hugepages:-0}" -eq 0 ]; then
  expect_refusal no-hugepages "--no-pci --no-shconf -m 128 --no-telemetry -l 0" "dpdk:d0,vdev=net_ring0" \
    "no hugepages are reserved" "--no-huge"
else
  mkdir -p "$work/not-hugetlbfs"
  expect_refusal unusable-hugepages "--no-pci --no-shconf -m 128 --no-telemetry -l 0 --huge-dir $work/not-hugetlbfs" \
    "dpdk:d0,vdev=net_ring0" "DPDK EAL initialisation failed" "hugetlbfs"
fi

[ "$failures" -eq 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "PASS config errors"
