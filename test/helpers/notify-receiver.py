"""A stand-in for systemd's notify socket that reports who sent each datagram.

Node cannot receive SCM_CREDENTIALS, and the sender's pid is the point: under NotifyAccess=main
systemd drops datagrams whose credentials do not name the main PID. Binds an AF_UNIX SOCK_DGRAM
socket at argv[1] with SO_PASSCRED and prints one JSON line per datagram, flushed. Exits (and
removes the socket) when stdin closes, so the parent's death never leaves it running.
Stdlib only.
"""

import json
import os
import select
import socket
import struct
import sys
import time

CREDENTIALS = struct.Struct("=iII")  # struct ucred: pid_t pid, uid_t uid, gid_t gid


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main():
    path = sys.argv[1]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    try:
        emit({"bound": path})
        stdin = sys.stdin.fileno()
        while True:
            readable, _, _ = select.select([sock, stdin], [], [])
            if sock in readable:
                data, ancillary, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(CREDENTIALS.size))
                pid = uid = gid = -1
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        pid, uid, gid = CREDENTIALS.unpack(payload[: CREDENTIALS.size])
                emit({
                    "pid": pid,
                    "uid": uid,
                    "gid": gid,
                    "message": data.decode("utf-8", "replace"),
                    # Lets a test check MONOTONIC_USEC against the real CLOCK_MONOTONIC.
                    "monotonic_usec": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000,
                })
            if stdin in readable and not os.read(stdin, 4096):
                return
    finally:
        sock.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
