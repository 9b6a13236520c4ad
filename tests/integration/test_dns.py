"""The cluster DNS as a real process against a real apiserver and etcd, judged by dnspython.

Services and EndpointSlices written through the API are answered by name within a deadline and
forgotten once deleted; forwarding goes to a stub upstream on loopback (never a real
resolver); TCP, truncation, bad packets (a fuzz of 10 000), restarts of the DNS and of the
apiserver.
"""

from __future__ import annotations

import random
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from tests.support import slices
from tests.support.api import Api
from tests.support.dnsserver import DnsProcess
from tests.support.dnsstub import ADDRESS, StubUpstream
from tests.support.processes import Apiserver, Etcd
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    upstream = StubUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def dns_server(
    apiserver: Apiserver, stub: StubUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DnsProcess]:
    work = tmp_path_factory.mktemp("dns")
    kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
    server = DnsProcess(kubeconfig, work, upstream=stub.address).start()
    yield server
    assert server.stop() == 0, "SIGTERM ends the DNS cleanly"


def service(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": spec}  # fmt: skip


def endpoints(name: str, ns: str, *addresses: dict[str, Any], port: int = 8080) -> dict[str, Any]:
    """The Service's EndpointSlice (what the DNS reads), ready endpoints at `addresses`."""
    found = [{"addresses": [a["ip"]], **{k: v for k, v in a.items() if k == "hostname"}}
             for a in addresses]  # fmt: skip
    ports = [{"name": "http", "port": port, "protocol": "TCP"}]
    return slices.endpoint_slice(name, found, namespace=ns, ports=ports)


def create(api: Api, ns: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    group = "apis/discovery.k8s.io/v1" if kind == "endpointslices" else "api/v1"
    response = api.post(f"/{group}/namespaces/{ns}/{kind}", body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def addresses(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer for rd in rrset)


def test_a_service_resolves_at_once_and_is_forgotten_when_deleted(
    api: Api, ns: str, dns_server: DnsProcess
) -> None:
    created = time.monotonic()
    ip = create(api, ns, "services", service("web", ns))["spec"]["clusterIP"]
    name = f"web.{ns}.svc.cluster.local"
    found = wait_for(lambda: addresses(dns_server.query(name)), f"{name} to resolve", 5, 0.01)
    took = time.monotonic() - created
    assert found == [ip], found
    assert took < 2.0, f"a new Service took {took:.2f}s to resolve"
    srv = dns_server.query(f"_http._tcp.{name}", "SRV")
    assert addresses(srv) == [f"0 100 80 {name}."]
    reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    assert addresses(dns_server.query(reverse, "PTR")) == [f"{name}."]
    assert dns_server.query(f"nothere.{ns}.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    assert api.delete(f"/api/v1/namespaces/{ns}/services/web").status_code == 200
    wait_for(lambda: dns_server.query(name).rcode() == dns.rcode.NXDOMAIN, f"{name} to go", 5, 0.01)


def test_headless_endpoints_with_hostnames_and_srv(
    api: Api, ns: str, dns_server: DnsProcess
) -> None:
    create(api, ns, "services", service("db", ns, clusterIP="None"))
    create(api, ns, "endpointslices", endpoints(
        "db", ns, {"ip": "10.244.7.1", "hostname": "db-0"}, {"ip": "10.244.7.2"}, port=5432
    ))  # fmt: skip
    name = f"db.{ns}.svc.cluster.local"
    wait_for(lambda: len(addresses(dns_server.query(name))) == 2, f"{name}'s endpoints", 5, 0.01)
    assert addresses(dns_server.query(name)) == ["10.244.7.1", "10.244.7.2"]
    assert addresses(dns_server.query(f"db-0.{name}")) == ["10.244.7.1"]
    assert addresses(dns_server.query(f"_http._tcp.{name}", "SRV")) == [
        f"0 50 5432 10-244-7-2.{name}.", f"0 50 5432 db-0.{name}.",
    ]  # fmt: skip
    assert addresses(dns_server.query("1.7.244.10.in-addr.arpa", "PTR")) == [f"db-0.{name}."]
    nodata = dns_server.query(name, "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA and nodata.authority[0].ttl == 5


def test_external_names_and_forwarding_use_the_upstream_once(
    api: Api, ns: str, dns_server: DnsProcess, stub: StubUpstream
) -> None:
    create(api, ns, "services", service("ext", ns, type="ExternalName",
                                         externalName="db.example.test", ports=[]))  # fmt: skip
    name = f"ext.{ns}.svc.cluster.local"
    response = wait_for(lambda: dns_server.query(name).answer and dns_server.query(name),
                        f"{name} to answer", 5, 0.01)  # fmt: skip
    types = [rrset.rdtype for rrset in response.answer]
    assert types == [dns.rdatatype.CNAME, dns.rdatatype.A], response
    assert addresses(response) == [ADDRESS, "db.example.test."]
    www = f"www-{secrets.token_hex(3)}.example.test"
    for _ in range(3):
        assert addresses(dns_server.query(www)) == [ADDRESS]
    assert stub.seen[f"{www}."] == 1, "the cache answers again without asking upstream"
    forwarded = dns_server.query(www)
    assert 0 < forwarded.answer[0].ttl <= 30, "cached for at most 30s, TTL counted down"
    assert dns_server.query("nothere.invalid").rcode() == dns.rcode.NXDOMAIN


def test_large_answers_truncate_over_udp_and_come_whole_over_tcp(
    api: Api, ns: str, dns_server: DnsProcess
) -> None:
    create(api, ns, "services", service("big", ns, clusterIP="None"))
    many = [{"ip": f"10.244.8.{i}"} for i in range(1, 101)]
    create(api, ns, "endpointslices", endpoints("big", ns, *many))
    name = f"big.{ns}.svc.cluster.local"
    wait_for(lambda: dns_server.query(name).flags & dns.flags.TC, f"{name} to be truncated", 5)
    whole = dns_server.query(name, tcp=True)
    assert len(addresses(whole)) == 100 and not whole.flags & dns.flags.TC


def test_bad_packets_do_not_stop_it_answering(api: Api, ns: str, dns_server: DnsProcess) -> None:
    """10 000 random and mutated packets over UDP, garbage over TCP; then a good query."""
    create(api, ns, "services", service("fuzz", ns))
    name = f"fuzz.{ns}.svc.cluster.local"
    wait_for(lambda: addresses(dns_server.query(name)), f"{name} to resolve", 5, 0.01)
    rng = random.Random(16)
    seeds = [
        dns.message.make_query(name, t, use_edns=e).to_wire()
        for t in ("A", "SRV", "PTR", "TXT") for e in (-1, 0)
    ]  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.setblocking(False)
        for i in range(10_000):
            if i % 3 == 0:
                packet = rng.randbytes(rng.randrange(0, 600))
            else:
                packet = bytearray(rng.choice(seeds))
                for _ in range(rng.randrange(1, 6)):
                    packet[rng.randrange(len(packet))] = rng.randrange(256)
                if rng.random() < 0.2:
                    packet = packet[: rng.randrange(len(packet))]
            try:
                udp.sendto(bytes(packet), (dns_server.host, dns_server.port))
            except BlockingIOError:
                time.sleep(0.001)
            if i % 200 == 0:
                while True:  # drain answers so the socket never fills up
                    try:
                        udp.recv(65535)
                    except BlockingIOError:
                        break
    for garbage in (b"\x00\x05hello", b"\xff\xff" + rng.randbytes(100), b"\x00"):
        with socket.create_connection((dns_server.host, dns_server.port), timeout=3) as tcp:
            tcp.sendall(garbage)
    assert dns_server.process is not None and dns_server.process.alive()

    def answers() -> bool:
        try:
            return addresses(dns_server.query(name)) != []
        except dns.exception.Timeout:
            return False  # still working through the packets queued before it

    wait_for(answers, f"{name} to resolve after the fuzz", 30, 0.1)
    assert addresses(dns_server.query(name, tcp=True)) != []
    metrics = httpx.get(f"{dns_server.health_url}/metrics", timeout=5).text
    assert 'minik8s_dns_responses_total{rcode="FORMERR"}' in metrics
    assert 'minik8s_dns_requests_total{proto="udp",type="A"}' in metrics


ADVERTISED = "192.0.2.10"


def listening_tcp() -> set[tuple[str, int]]:
    """The IPv4 addresses and ports listened on in this network namespace (/proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":  # LISTEN
            address, port = local.split(":")
            ip = socket.inet_ntoa(int(address, 16).to_bytes(4, "little"))
            found.add((ip, int(port, 16)))
    return found


def test_a_restarted_dns_answers_again_once_its_informers_synced(
    apiserver: Apiserver, api: Api, ns: str, tmp_path: Path
) -> None:
    """Issue 16's fault: the DNS restarted (same port, as kube-dns's Endpoints point at it) is
    ready only once its informers have relisted, and then answers at once, including a
    Service created while it was down and without a Service deleted meanwhile."""
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    server = DnsProcess(kubeconfig, tmp_path / "dns").start()
    try:
        kept_ip = create(api, ns, "services", service("kept", ns))["spec"]["clusterIP"]
        create(api, ns, "services", service("gone", ns))
        kept, gone = f"kept.{ns}.svc.cluster.local", f"gone.{ns}.svc.cluster.local"
        wait_for(lambda: addresses(server.query(gone)), f"{gone} to resolve", 5, 0.01)
        assert server.stop() == 0, "SIGTERM ends the DNS cleanly"
        assert api.delete(f"/api/v1/namespaces/{ns}/services/gone").status_code == 200
        new_ip = create(api, ns, "services", service("new", ns))["spec"]["clusterIP"]
        server.start(wait_ready=False)
        wait_for(server.ready, "the restarted DNS to be ready (informers synced)", 20, 0.05)
        # ready means synced: no further waiting for what was written while it was down
        assert addresses(server.query(kept)) == [kept_ip]
        assert addresses(server.query(f"new.{ns}.svc.cluster.local")) == [new_ip]
        assert server.query(gone).rcode() == dns.rcode.NXDOMAIN
    finally:
        server.stop()


def test_the_kubernetes_service_and_a_restarted_apiserver(fresh_etcd: Etcd, tmp_path: Path) -> None:
    """The apiserver keeps `default/kubernetes` (10.96.0.1:443 → itself) and listens on its
    advertise address; the DNS answers from its cache while the apiserver is down and sees
    new Services once it is back (its watches resume)."""
    # a documentation address (TEST-NET-1), bound with IP_FREEBIND, never sent to: Endpoints
    # may not hold a loopback address
    server = Apiserver(fresh_etcd.url, tmp_path / "api", token=secrets.token_hex(8),
                       extra_args=["--advertise-address", ADVERTISED])  # fmt: skip
    server.start()
    dns_server: DnsProcess | None = None
    api = Api(server)
    try:
        path = "/api/v1/namespaces/default/endpoints/kubernetes"
        found = wait_for(lambda: (r := api.get(path)).status_code == 200 and r.json(),
                         "the kubernetes Endpoints", 10)  # fmt: skip
        assert found["subsets"] == [{
            "addresses": [{"ip": ADVERTISED}],
            "ports": [{"name": "https", "port": server.port, "protocol": "TCP"}],
        }]  # fmt: skip
        svc = api.get("/api/v1/namespaces/default/services/kubernetes").json()["spec"]
        assert svc["clusterIP"] == "10.96.0.1"
        assert svc["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                 "targetPort": server.port}]  # fmt: skip
        assert (ADVERTISED, server.port) in listening_tcp(), "it listens on that address too"
        dns_server = DnsProcess(
            server.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "dns"
        ).start()
        name = "kubernetes.default.svc.cluster.local"
        assert addresses(dns_server.query(name)) == ["10.96.0.1"]
        ns = api.namespace()
        server.stop()
        assert addresses(dns_server.query(name)) == ["10.96.0.1"], "answers from its cache"
        server.start()
        ip = create(api, ns, "services", service("after", ns))["spec"]["clusterIP"]
        after = f"after.{ns}.svc.cluster.local"
        wait_for(lambda: addresses(dns_server.query(after)) == [ip],
                 f"{after} once the DNS's watches resumed", 30, 0.1)  # fmt: skip
    finally:
        api.close()
        if dns_server is not None:
            dns_server.stop()
        server.stop()
