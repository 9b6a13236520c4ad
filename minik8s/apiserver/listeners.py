"""Where the apiserver listens, and the address it advertises to the cluster's pods.

`--advertise-address` is what the `kubernetes` Service's Endpoints hold. As in Kubernetes,
when it is not given it is the bind address, unless that is unspecified or loopback: then the
address of the interface of the default route (read from /proc/net/route, no packet sent).
Unlike Kubernetes (one `--bind-address`), an advertise address given explicitly that the bind
address does not cover is listened on as well, on the same port: `minik8s up` binds loopback
and advertises the host's address on the pod bridge, so pods reach the apiserver through the
`kubernetes` Service and nothing else of the host is opened. It is bound with IP_FREEBIND:
that bridge may appear only when the kubelet creates it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from pathlib import Path

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
SIOCGIFADDR = 0x8915


def default_route_address(route_table: Path = Path("/proc/net/route")) -> str | None:
    """The IPv4 address of the interface the default route leaves through, if any."""
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return interface_address(fields[0])
    return None


def interface_address(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def advertise_address(advertise: str | None, bind: str) -> str | None:
    """The address the `kubernetes` Endpoints hold (None: no usable address found)."""
    if advertise:
        return advertise
    address = ipaddress.ip_address(bind)
    if not (address.is_unspecified or address.is_loopback):
        return bind
    return default_route_address()


def extra_listen_address(advertise: str | None, bind: str) -> str | None:
    """The explicit advertise address when the bind address does not already cover it."""
    if not advertise or advertise == bind:
        return None
    if ipaddress.ip_address(bind).is_unspecified:
        return None
    return advertise


def listen_sockets(bind: str, port: int, advertise: str | None) -> list[socket.socket]:
    """Bound, listening TCP sockets for uvicorn: the bind address, and the advertise address
    when `extra_listen_address` says so."""
    hosts = [bind]
    extra = extra_listen_address(advertise, bind)
    if extra is not None:
        hosts.append(extra)
    sockets = []
    try:
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if host != bind:
                s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            s.bind((host, port))
            s.listen(2048)
            s.set_inheritable(True)
    except OSError:
        for s in sockets:
            s.close()
        raise
    return sockets
