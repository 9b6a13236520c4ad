"""The Node name of a scaled compose worker: `worker-3` for the container `<project>_worker_3`.

    python nodename.py IP SERVICE

Asks Docker's embedded DNS (127.0.0.11, inside the container's own network namespace) for the
PTR record of the container's IP, which names the container (`/etc/hosts` would only give the
hostname, the container id); prints that id when anything fails.
"""

from __future__ import annotations

import re
import secrets
import socket
import struct
import sys

EMBEDDED_DNS = ("127.0.0.11", 53)


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def read_name(data: bytes, offset: int) -> str:
    """A (possibly compressed) domain name at `offset` of a DNS message."""
    labels = []
    for _ in range(64):
        length = data[offset]
        if length == 0:
            break
        if length & 0xC0 == 0xC0:
            offset = struct.unpack(">H", data[offset : offset + 2])[0] & 0x3FFF
            continue
        labels.append(data[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    return ".".join(labels)


def ptr(ip: str, timeout: float = 2.0) -> str:
    question = encode_name(".".join(reversed(ip.split("."))) + ".in-addr.arpa")
    ident = secrets.randbelow(65536)
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 12, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, EMBEDDED_DNS)
        data = s.recv(4096)
    got_id, _, _, answers = struct.unpack(">HHHH", data[:8])
    if got_id != ident or answers == 0:
        raise LookupError(f"no PTR record for {ip}")
    offset = 12 + len(question) + 4
    read_name(data, offset)
    offset += 2 if data[offset] & 0xC0 == 0xC0 else len(encode_name(read_name(data, offset)))
    return read_name(data, offset + 10)


def node_name(container: str, service: str) -> str | None:
    match = re.search(rf"[-_]{re.escape(service)}[-_](\d+)$", container.split(".")[0])
    return f"{service}-{match[1]}" if match else None


def main() -> None:
    ip, service = sys.argv[1], sys.argv[2]
    try:
        print(node_name(ptr(ip), service) or socket.gethostname())
    except (OSError, LookupError, IndexError, struct.error, UnicodeDecodeError):
        print(socket.gethostname())


if __name__ == "__main__":
    main()
