"""Network namespaces a test creates and removes: HTTP backends that say who they are and who
asked, and clients that send from an address of their own. Each namespace is joined to the host
by a veth pair on a /30; deleting the namespace deletes the pair."""

from __future__ import annotations

import http.client
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
