#!/usr/bin/env bash
# Integration: culvertd on DPDK's net_pcap virtual device reads frames from a capture file
# and writes what it sends to another: an ARP request, a ping and a datagram to a closed port
# go in; the ARP reply, the echo reply (same id, sequence, payload) and an ICMP port
# unreachable quoting the datagram must come out. No root, no network: files only.
# Usage: dpdk_pcap_test.sh BINDIR
set -euo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3; [ -x "$py" ] || py=python3
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- culvertd log"; grep -v "^EAL" "$work/culvertd.log" || true; exit 1; }

# The peer 10.90.0.1 (02:00:00:00:00:09) talks to culvert 10.90.0.2 (02:c7:00:00:90:02).
"$py" - "$work/in.pcap" <<'EOF'
import struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

peer_mac, our_mac = bytes.fromhex("020000000009"), bytes.fromhex("02c700009002")
peer_ip, our_ip = bytes([10, 90, 0, 1]), bytes([10, 90, 0, 2])

def ipv4(proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0, peer_ip, our_ip)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

arp = b"\xff" * 6 + peer_mac + b"\x08\x06" + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, peer_mac, peer_ip, b"\0" * 6, our_ip)
data = bytes((i * 7) & 0xFF for i in range(200))
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 7) + data
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ping = our_mac + peer_mac + b"\x08\x00" + ipv4(1, icmp, 1)
udp = struct.pack("!HHHH", 40000, 9, 8 + 5, 0) + b"hello"
dgram = our_mac + peer_mac + b"\x08\x00" + ipv4(17, udp, 2)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, frame in enumerate([arp, ping, dgram]):
        frame = frame.ljust(60, b"\0")
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)
EOF

"$bin/culvertd" --socket "$work/c.sock" --seed 7 \
  --dpdk-eal "--no-huge --no-pci --no-shconf -m 128 --no-telemetry -l 0 --file-prefix cvt-pcap-$$" \
  --iface "dpdk:p0,vdev=net_pcap0;rx_pcap=$work/in.pcap;tx_pcap=$work/out.pcap,ip=10.90.0.2/24,mac=02:c7:00:00:90:02" \
  >"$work/culvertd.log" 2>&1 &
pid=$!
# Replies are written as culvertd sends them; give it up to 10 s to answer all three.
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || fail "culvertd exited"
  [ -S "$work/c.sock" ] && [ "$("$py" "$here/dpdk_status.py" "$work/c.sock" lwip.udp_rx 2>/dev/null)" != 0 ] &&
    [ "$("$py" "$here/dpdk_status.py" "$work/c.sock" interfaces.0.backend.rx_frames 2>/dev/null)" = 3 ] && break
  sleep 0.1
done
sleep 0.5
kill "$pid"
wait "$pid" || fail "culvertd did not stop cleanly"
pid=""

"$py" - "$work/out.pcap" <<'EOF' || fail "out.pcap lacks an answer"
import struct, sys

data = open(sys.argv[1], "rb").read()
magic, = struct.unpack_from("<I", data, 0)
assert magic in (0xA1B2C3D4, 0xA1B23C4D), "not a pcap file"  # micro- or nanosecond stamps
frames, at = [], 24
while at + 16 <= len(data):
    _, _, incl, _ = struct.unpack_from("<IIII", data, at)
    frames.append(data[at + 16:at + 16 + incl])
    at += 16 + incl
print("%d frames written by culvert" % len(frames))
peer_mac, our_mac = bytes.fromhex("020000000009"), bytes.fromhex("02c700009002")

def find(pred, what):
    for f in frames:
        if pred(f):
            return f
    sys.exit("no " + what + " in out.pcap")

arp = find(lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02", "ARP reply")
assert arp[0:6] == peer_mac and arp[22:28] == our_mac and arp[28:32] == bytes([10, 90, 0, 2]), "ARP reply fields"
assert arp[32:38] == peer_mac and arp[38:42] == bytes([10, 90, 0, 1]), "ARP reply target"
pong = find(lambda f: f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0, "echo reply")
assert pong[0:6] == peer_mac and pong[6:12] == our_mac, "echo reply MACs"
assert pong[38:42] == struct.pack("!HH", 0x4242, 7), "echo reply id/seq"
assert pong[42:242] == bytes((i * 7) & 0xFF for i in range(200)), "echo reply payload"
unreach = find(lambda f: f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 3, "ICMP unreachable")
assert unreach[35] == 3, "code: port unreachable"
# RFC 792: the IP header and the first 8 bytes of the datagram (our UDP header) are quoted.
assert unreach[42 + 12:42 + 20] == bytes([10, 90, 0, 1, 10, 90, 0, 2]), "quoted IP addresses"
assert unreach[62:66] == struct.pack("!HH", 40000, 9), "quoted UDP ports"
print("ARP reply, echo reply and port unreachable are in out.pcap")
EOF
echo "PASS pcap"
