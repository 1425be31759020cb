#!/usr/bin/env bash
# `culvert replay` end to end, no privileges needed: a deliberate stack change (a smaller
# MTU, so another MSS option) is caught at the first differing frame; another seed (other
# ISNs and ephemeral ports) still matches; bad captures exit 2 naming file and frame; the
# --output capture reads cleanly in tshark. Usage: pcap_replay_test.sh BINDIR CORPUS CASE
set -euo pipefail
bin=$(cd "$1" && pwd)
corpus=$(cd "$2" && pwd)
case_name=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; cat "$work/out" 2>/dev/null || true; exit 1; }
replay() {  # CASE ARGS... -> status in $rc, output in $work/out
  local c=$1
  shift
  set +e
  # shellcheck disable=SC2046
  "$bin/culvert" replay --input "$corpus/$c.peer.pcap" --expect "$corpus/$c.answer.pcap" \
    $(cat "$corpus/$c.args") "$@" >"$work/out" 2>&1
  rc=$?
  set -e
}

case "$case_name" in
  detects_mss_change)
    # MTU 1400: lwIP gets 1396 (mtu - 20 a multiple of 8, backend_netif.cpp), so MSS 1356.
    replay tcp_http_v4 --mtu 1400
    [ $rc -eq 1 ] || fail "exit $rc, want 1 (different)"
    grep -q "first difference at frame 9: TCP option 1" "$work/out" || fail "not frame 9's MSS option"
    grep -q "expected: MSS 1460" "$work/out" || fail "no expected value"
    grep -q "got:      MSS 1356" "$work/out" || fail "no got value"
    grep -q "reproduce with: culvert replay" "$work/out" || fail "no reproduce line"
    ;;
  detects_app_change)
    # culvert's app listens on another port: the peer's SYN now gets a RST, 40 bytes where
    # the recording has a 52-byte SYN-ACK.
    replay tcp_http_v4 --app http:8081
    [ $rc -eq 1 ] || fail "exit $rc, want 1"
    grep -q "first difference at frame 9: IPv4 total length" "$work/out" || fail "not frame 9's length"
    grep -q "expected: 52" "$work/out" || fail "no expected value"
    ;;
  other_seed_still_matches)
    # Seed 7 picks other ISNs and another ephemeral port: free values, mapped, not compared.
    replay tcp_bulk_loss_v4 --seed 7 --verbose
    [ $rc -eq 0 ] || fail "exit $rc, want 0"
    grep -q "ISN shifted by" "$work/out" || fail "the ISN did not change with the seed"
    grep -Eq "culvert port ([0-9]+) -> ([0-9]+)" "$work/out" || fail "no port mapping"
    ;;
  bad_inputs)
    printf 'not a capture at all' >"$work/garbage.pcap"
    head -c 100 "$corpus/icmp_echo.peer.pcap" >"$work/truncated.pcap"
    # Link type 113 (Linux cooked) instead of Ethernet: byte 20 of the header.
    python3 - "$corpus/icmp_echo.peer.pcap" "$work/sll.pcap" "$work/short.pcap" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
sll = bytearray(data); sll[20:24] = struct.pack("<I" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">I", 113)
open(sys.argv[2], "wb").write(sll)
le = data[:4] == b"\xd4\xc3\xb2\xa1"
hdr = struct.Struct(("<" if le else ">") + "IIII")
# A second frame of 10 bytes after the first one.
first_len = hdr.unpack_from(data, 24)[2]
out = data[:24 + 16 + first_len] + hdr.pack(1, 0, 10, 10) + b"\x00" * 10
open(sys.argv[3], "wb").write(out)
PY
    for f in garbage truncated sll short; do
      set +e
      "$bin/culvert" replay --input "$work/$f.pcap" --app none --mac 02:c7:00:00:00:02 \
        --as 10.99.0.2 >"$work/out" 2>&1
      rc=$?
      set -e
      [ $rc -eq 2 ] || fail "$f: exit $rc, want 2"
      grep -q "$work/$f.pcap" "$work/out" || fail "$f: the message does not name the file"
    done
    set +e; "$bin/culvert" replay --input "$work/short.pcap" --app none --as 10.99.0.2 \
      --mac 02:c7:00:00:00:02 >"$work/out" 2>&1; set -e
    grep -q "frame 2: 10 bytes is too short" "$work/out" || fail "short: no frame number"
    set +e; "$bin/culvert" replay --input "$work/sll.pcap" --app none --as 10.99.0.2 \
      --mac 02:c7:00:00:00:02 >"$work/out" 2>&1; set -e
    grep -q "not Ethernet" "$work/out" || fail "sll: does not say the link type is wrong"
    ;;
  output_reads_cleanly)
    replay icmp_echo --output "$work/got.pcap"
    [ $rc -eq 0 ] || fail "exit $rc"
    tshark -r "$work/got.pcap" >"$work/tshark.out" 2>"$work/tshark.err" || fail "tshark failed"
    if grep -v "Running as user" "$work/tshark.err" | grep -q .; then fail "tshark warned: $(cat "$work/tshark.err")"; fi
    [ "$(grep -c "Echo (ping) reply" "$work/tshark.out")" -eq 8 ] || fail "want 8 echo replies: $(cat "$work/tshark.out")"
    ;;
  *) fail "unknown case $case_name" ;;
esac
echo "PASS $case_name"
