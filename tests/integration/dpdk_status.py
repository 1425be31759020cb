#!/usr/bin/env python3
# Prints culvertd's status JSON (counters, interfaces with backend and DPDK port counters)
# by speaking the control protocol (src/channels/protocol.hpp): HELLO, then STATUS.
# Usage: dpdk_status.py SOCKET [JSON-PATH]   e.g. interfaces.0.device.rx_lent
import array
import json
import os
import socket
import struct
import sys

MAGIC = 0x43565254
VERSION = 1
OP_HELLO, OP_STATUS = 1, 15
REQUEST_BYTES = 16 + 24 + 24 + 128
REPLY_BYTES = 16 + 40 + 24 + 40 + 128


def request(op, seq, arg0=0, arg2=0):
    # header (magic, version, op, seq, payload_bytes), socket_id, arg0..2, value_bytes, reserved
    head = struct.pack("<IHHII", MAGIC, VERSION, op, seq, 0)
    body = struct.pack("<Iiiiii", 0, arg0, 0, arg2, 0, 0)
    return (head + body).ljust(REQUEST_BYTES, b"\0")


def call(sock, op, seq, **kw):
    sock.send(request(op, seq, **kw))
    fds = array.array("i")
    data, anc, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(16))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        os.close(fd)
    if len(data) < REPLY_BYTES:
        sys.exit("short reply")
    error = struct.unpack_from("<i", data, 16)[0]
    if error:
        sys.exit(f"culvertd refused op {op}: {os.strerror(error)}")
    return data[REPLY_BYTES:]


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(5)
    sock.connect(sys.argv[1])
    call(sock, OP_HELLO, 1, arg0=os.getpid(), arg2=VERSION)
    status = json.loads(call(sock, OP_STATUS, 2))
    if len(sys.argv) > 2:
        for part in sys.argv[2].split("."):
            status = status[int(part)] if isinstance(status, list) else status[part]
    print(json.dumps(status))


if __name__ == "__main__":
    main()
