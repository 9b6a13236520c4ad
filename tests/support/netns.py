"""Network namespaces a test creates and removes: HTTP backends that say who they are and who
asked, and clients that send from an address of their own. Each namespace is joined to the host
by a veth pair on a /30; deleting the namespace deletes the pair."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from tests.support.waiting import wait_for

SERVER = """
import http.server, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} {self.client_address[0]}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 drops a burst of connections' SYNs
S(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"""
"""Answers `<name> <client address>`."""


def sh(*argv: str, check: bool = True, timeout: float = 30) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Namespace:
    name: str
    ip: str
    """Its address (the host's end of the pair is the one before)."""
    server: subprocess.Popen[bytes] | None = None

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> str:
        return sh("ip", "netns", "exec", self.name, *argv, check=check, timeout=timeout)

    def curl(self, url: str, timeout: float = 1.0) -> str | None:
        """The body, or None when no answer came in time (refused, dropped)."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, "curl", "-s", "--max-time", str(timeout), url],
            capture_output=True, text=True, timeout=timeout + 10, check=False,
        )  # fmt: skip
        return result.stdout if result.returncode == 0 else None


def create(prefix: str, subnet: str, index: int) -> Namespace:
    """A namespace on `<subnet>.<4i+2>/30`, the host on `.<4i+1>`, routed through the host."""
    tag = uuid.uuid4().hex[:4]
    name, host_if, ns_if = (
        f"{prefix}-{tag}{index}",
        f"{prefix[:6]}{tag}{index}h",
        f"{prefix[:6]}{tag}{index}n",
    )
    host_ip, ns_ip = f"{subnet}.{4 * index + 1}", f"{subnet}.{4 * index + 2}"
    sh("ip", "netns", "add", name)
    namespace = Namespace(name, ns_ip)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", name)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        inside = [
            ("addr", "add", f"{ns_ip}/30", "dev", ns_if),
            ("link", "set", ns_if, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", host_ip),
        ]
        for args in inside:
            namespace.run("ip", *args)
    except BaseException:
        delete([namespace])
        raise
    return namespace


def serve(namespace: Namespace, label: str, port: int) -> None:
    """Start the HTTP server in `namespace`, answering `<label> <client>`; wait for it."""
    namespace.server = subprocess.Popen(
        ["ip", "netns", "exec", namespace.name, sys.executable, "-c", SERVER, label, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: get(namespace.ip, port).startswith(label), f"{label} on {namespace.ip}", 30)


def delete(namespaces: Iterable[Namespace]) -> None:
    for namespace in namespaces:
        if namespace.server is not None:
            namespace.server.kill()
            namespace.server.wait(5)
        sh("ip", "netns", "del", namespace.name, check=False)  # the veth pair goes with it


def get(host: str, port: int, timeout: float = 2.0) -> str:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read().decode()
    except OSError:
        return ""
    finally:
        connection.close()


def free_subnet(prefix: str, thirds: range) -> str:
    """`<prefix>.<third>` of the first /24 that no route of this host covers but the default
    one (so nothing a test sends there can leave the machine by another route)."""
    routes = json.loads(sh("ip", "-j", "route", "show"))
    taken = [ipaddress.ip_network(r["dst"], strict=False) for r in routes
             if r.get("dst") not in (None, "default")]  # fmt: skip
    for third in thirds:
        subnet = ipaddress.ip_network(f"{prefix}.{third}.0/24")
        if not any(subnet.overlaps(network) for network in taken):
            return f"{prefix}.{third}"
    raise AssertionError(f"no free {prefix}.x.0/24 in {thirds}")


def create_bridge(name: str, address: str) -> None:
    """A bridge of the test's own holding `address` (`a.b.c.1/24`): the host's side of a LAN
    of namespaces ("machines") that `create_on_bridge` plugs into it."""
    sh("ip", "link", "add", name, "type", "bridge")
    try:
        sh("ip", "addr", "add", address, "dev", name)
        sh("ip", "link", "set", name, "up")
    except BaseException:
        sh("ip", "link", "del", name, check=False)
        raise


def create_on_bridge(prefix: str, bridge: str, address: str, gateway: str) -> Namespace:
    """A namespace with `address` (`a.b.c.N/24`) on a veth pair whose other end is in
    `bridge`; its default route is `gateway` (the bridge's address)."""
    tag = uuid.uuid4().hex[:4]
    name, host_if, ns_if = f"{prefix}-{tag}", f"{prefix[:6]}{tag}h", f"{prefix[:6]}{tag}n"
    sh("ip", "netns", "add", name)
    namespace = Namespace(name, address.split("/")[0])
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", name)
        sh("ip", "link", "set", host_if, "master", bridge)
        sh("ip", "link", "set", host_if, "up")
        for args in (
            ("addr", "add", address, "dev", ns_if),
            ("link", "set", ns_if, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", gateway),
        ):
            namespace.run("ip", *args)
    except BaseException:
        delete([namespace])
        raise
    return namespace


def pids(namespace: Namespace) -> list[int]:
    """The processes running in `namespace`."""
    return [int(p) for p in sh("ip", "netns", "pids", namespace.name, check=False).split()]


def vanish(namespace: Namespace) -> None:
    """The machine is gone: SIGKILL every process in the namespace, then delete it (and with
    it its end of the veth pair)."""
    for pid in pids(namespace):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not pids(namespace), f"the processes of {namespace.name} to die", 10)
    delete([namespace])
