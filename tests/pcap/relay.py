#!/usr/bin/env python3
"""A wire between culvert's TAP and the kernel that can lose one frame: used by record.sh
to record a retransmission. Frames culvert writes to its TAP (NAME_A, no addresses, ARP
off) are read with an AF_PACKET socket and written into a second TAP (NAME_B) that holds
the kernel's addresses; the kernel's frames travel back the same way. With --drop-nth N
the N-th TCP segment with payload that culvert sends (its first transmission) is lost.
Usage: relay.py NAME_A NAME_B --drop-nth N  (inside the recording's network namespace)"""
import argparse, fcntl, os, select, socket, struct, sys

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def tcp_payload_key(frame):
    """(seq, payload length) of a TCP segment with payload over IPv4/IPv6, else None."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800:
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 6:
            return None
        total = struct.unpack("!H", frame[16:18])[0]
        tcp, end = 14 + ihl, 14 + total
    elif ethertype == 0x86DD:
        if frame[20] != 6:
            return None
        tcp, end = 54, 54 + struct.unpack("!H", frame[18:20])[0]
    else:
        return None
    doff = (frame[tcp + 12] >> 4) * 4
    if end - tcp - doff <= 0:
        return None
    return struct.unpack("!I", frame[tcp + 4:tcp + 8])[0], end - tcp - doff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("side_a")
    ap.add_argument("side_b")
    ap.add_argument("--drop-nth", type=int, default=0)
    args = ap.parse_args()
    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", args.side_b.encode(), IFF_TAP | IFF_NO_PI))
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    raw.bind((args.side_a, 0))
    print("relay ready", flush=True)
    seen, dropped = set(), False
    while True:
        ready, _, _ = select.select([tap, raw], [], [])
        if raw in ready:
            frame, addr = raw.recvfrom(65536)
            if addr[2] == PACKET_OUTGOING:  # our own writes towards culvert
                continue
            key = tcp_payload_key(frame)
            if key is not None and key not in seen:
                seen.add(key)
                if len(seen) == args.drop_nth and not dropped:
                    dropped = True
                    print("relay: dropped culvert's segment seq %d len %d" % key, flush=True)
                    continue
            os.write(tap, frame)
        if tap in ready:
            raw.send(os.read(tap, 65536))


if __name__ == "__main__":
    sys.exit(main())
