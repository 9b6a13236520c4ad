"""The DNS's answers from its zone, judged by dnspython: records per the Kubernetes DNS
specification, negative answers with the SOA, truncation, EDNS, bad input (pure, no sockets)."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from minik8s.dns import records, wire
from minik8s.dns.endpointnames import EndpointNames
from minik8s.dns.resolver import Forward, Parsed, Resolver, careful
from minik8s.dns.zone import Zone

pytestmark = pytest.mark.unit
ZONE = "cluster.local"


def svc(name: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    spec.setdefault("clusterIP", "10.96.3.4")
    spec.setdefault("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def eps(*addresses: dict[str, Any], port: int = 8080) -> dict[str, Any]:
    """An EndpointSlice of ready endpoints at `addresses` (`{"ip": …, "hostname": …}`)."""
    ports = [{"name": "http", "port": port, "protocol": "TCP"}]
    endpoints = [{"addresses": [a["ip"]], **{k: v for k, v in a.items() if k == "hostname"}}
                 for a in addresses]  # fmt: skip
    return {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}


class Cluster:
    """Services and EndpointSlices as the informers would hold them, fed to a zone and to the
    on-demand endpoint names, as `sync.ZoneSync` does."""

    def __init__(self) -> None:
        self.zone = Zone(ZONE, 5)
        self.zone.set_owner("", records.zone_records(ZONE))
        self.services: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.names = EndpointNames(ZONE, self.services.get, self.endpoints.get)

    def set(self, key: str, service: dict[str, Any] | None, endpoints: Any = None) -> None:
        for store, value in ((self.services, service), (self.endpoints, endpoints)):
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value
        self.names.update(key, service, endpoints)
        found = records.service_records(service, endpoints, ZONE) if service else []
        self.zone.set_owner(key, found)

    def resolver(self) -> Resolver:
        return Resolver(self.zone, self.names)


def make_cluster() -> Cluster:
    cluster = Cluster()
    web_eps = eps({"ip": "10.244.0.5"}, {"ip": "10.244.0.6", "hostname": "pet-0"})
    cluster.set("default/web", svc("web"), web_eps)
    cluster.set("default/hl", svc("hl", clusterIP="None"), web_eps)
    ext = svc("ext", type="ExternalName", externalName="web.default.svc.cluster.local.")
    cluster.set("default/ext", ext)
    return cluster


def ask(resolver: Resolver, query: dns.message.Message, udp: bool = True) -> bytes | Forward:
    data = query.to_wire()
    parsed = wire.parse_query(data, udp)
    if parsed is None:
        result = careful(data, udp)
        assert isinstance(result, Parsed), result
        parsed = result.query
    return resolver.answer(parsed)


def answer(resolver: Resolver, name: str, rdtype: str, **kw: Any) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)
    out = ask(resolver, query)
    assert isinstance(out, bytes), out
    response = dns.message.from_wire(out)
    assert response.id == query.id and response.flags & dns.flags.QR
    return response


def texts(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer for rd in rrset)


def test_cluster_ip_service_records() -> None:
    r = make_cluster().resolver()
    a = answer(r, "web.default.svc.cluster.local", "A")
    assert a.rcode() == dns.rcode.NOERROR and a.flags & dns.flags.AA
    assert texts(a) == ["10.96.3.4"] and a.answer[0].ttl == 5
    srv = answer(r, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert texts(srv) == ["0 100 80 web.default.svc.cluster.local."]
    assert texts(answer(r, "4.3.96.10.in-addr.arpa", "PTR")) == ["web.default.svc.cluster.local."]
    assert texts(answer(r, "pet-0.web.default.svc.cluster.local", "A")) == ["10.244.0.6"]


def test_headless_service_records() -> None:
    r = make_cluster().resolver()
    assert texts(answer(r, "hl.default.svc.cluster.local", "A")) == ["10.244.0.5", "10.244.0.6"]
    assert texts(answer(r, "pet-0.hl.default.svc.cluster.local", "A")) == ["10.244.0.6"]
    assert texts(answer(r, "10-244-0-5.hl.default.svc.cluster.local", "A")) == ["10.244.0.5"]
    assert texts(answer(r, "_http._tcp.hl.default.svc.cluster.local", "SRV")) == [
        "0 50 8080 10-244-0-5.hl.default.svc.cluster.local.",
        "0 50 8080 pet-0.hl.default.svc.cluster.local.",
    ]
    ptr = texts(answer(r, "6.0.244.10.in-addr.arpa", "PTR"))
    assert ptr == ["pet-0.hl.default.svc.cluster.local.", "pet-0.web.default.svc.cluster.local."]


def test_a_headless_services_slices_are_merged_and_only_ready_endpoints_answer() -> None:
    """As CoreDNS reads EndpointSlices: every slice of the Service, ready endpoints only (unset
    `ready` counts as ready), each endpoint's first IPv4 address."""
    first = eps({"ip": "10.244.0.5"}, {"ip": "10.244.0.7"})
    first["endpoints"][1]["conditions"] = {"ready": False, "serving": True, "terminating": True}
    second = eps({"ip": "10.244.0.6", "hostname": "pet-0"})
    second["endpoints"][0]["conditions"] = {"ready": True}
    v6 = {"addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}], "ports": []}
    merged = records.merge([records.slice_info(s) for s in (first, second, v6)])
    cluster = Cluster()
    cluster.set("default/hl", svc("hl", clusterIP="None"), {"dns": merged})
    r = cluster.resolver()
    assert texts(answer(r, "hl.default.svc.cluster.local", "A")) == ["10.244.0.5", "10.244.0.6"]
    assert texts(answer(r, "pet-0.hl.default.svc.cluster.local", "A")) == ["10.244.0.6"]
    compact = records.compact_slice(
        {
            **first,
            "metadata": {
                "name": "hl-x",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "hl"},
            },
        }
    )
    assert compact["service"] == "default/hl" and compact["dns"] == records.slice_info(first)


def test_external_name_cname_chases_inside_the_zone_and_forwards_outside() -> None:
    cluster = make_cluster()
    r = cluster.resolver()
    response = answer(r, "ext.default.svc.cluster.local", "A")
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert texts(response) == ["10.96.3.4", "web.default.svc.cluster.local."]
    cluster.set("default/ext", svc("ext", type="ExternalName", externalName="db.example.com"))
    out = ask(r, dns.message.make_query("ext.default.svc.cluster.local", "A"))
    assert isinstance(out, Forward) and out.cname == wire.name_to_wire("db.example.com")


def test_case_is_kept_and_ignored() -> None:
    response = answer(make_cluster().resolver(), "WeB.DEFAULT.svc.Cluster.Local.", "A")
    assert response.answer[0].name.to_text() == "WeB.DEFAULT.svc.Cluster.Local."
    assert texts(response) == ["10.96.3.4"]


def test_negative_answers_carry_the_soa() -> None:
    r = make_cluster().resolver()
    nx = answer(r, "nothere.default.svc.cluster.local", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and not nx.answer
    soa = nx.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "cluster.local."
    assert soa[0].minimum == 5 and soa[0].mname.to_text() == "ns.dns.cluster.local."
    nodata = answer(r, "web.default.svc.cluster.local", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    for empty_non_terminal in ("default.svc.cluster.local", "svc.cluster.local",
                               "_tcp.web.default.svc.cluster.local"):  # fmt: skip
        assert answer(r, empty_non_terminal, "A").rcode() == dns.rcode.NOERROR
    # a headless Service without ready endpoints does not exist (the specification)
    cluster = make_cluster()
    cluster.set("default/hl", svc("hl", clusterIP="None"))
    assert answer(cluster.resolver(), "hl.default.svc.cluster.local", "A").rcode() == 3


def test_removing_a_service_removes_its_names_and_empty_parents() -> None:
    cluster = Cluster()
    cluster.set("other/db", svc("db", "other"), eps({"ip": "10.244.9.9"}))
    r = cluster.resolver()
    assert answer(r, "other.svc.cluster.local", "A").rcode() == dns.rcode.NOERROR
    assert texts(answer(r, "9.9.244.10.in-addr.arpa", "PTR")) == [
        "10-244-9-9.db.other.svc.cluster.local."
    ]
    cluster.set("other/db", None)
    assert answer(r, "db.other.svc.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN
    assert answer(r, "other.svc.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN
    for reverse in ("4.3.96.10.in-addr.arpa", "9.9.244.10.in-addr.arpa"):
        ptr = dns.message.make_query(reverse, "PTR")
        assert isinstance(ask(r, ptr), Forward)  # no longer ours: upstream (CoreDNS does too)
    assert answer(r, "10-244-9-9.db.other.svc.cluster.local", "A").rcode() == 3


def test_pod_names_zone_apex_and_version() -> None:
    r = make_cluster().resolver()
    assert texts(answer(r, "10-1-2-3.shop.pod.cluster.local", "A")) == ["10.1.2.3"]
    assert answer(r, "shop.pod.cluster.local", "A").rcode() == dns.rcode.NOERROR
    assert answer(r, "10-1-2.shop.pod.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN
    assert texts(answer(r, "cluster.local", "NS")) == ["ns.dns.cluster.local."]
    assert answer(r, "cluster.local", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert texts(answer(r, "dns-version.cluster.local", "TXT")) == ['"1.1.0"']


def test_other_names_go_upstream() -> None:
    r = make_cluster().resolver()
    for name in ("example.com", "9.9.9.10.in-addr.arpa", "cluster.local.example.com"):
        assert isinstance(ask(r, dns.message.make_query(name, "A")), Forward)


def test_truncation_over_udp_and_edns_sizes() -> None:
    zone = Zone(ZONE, 5)
    many = eps(*({"ip": f"10.244.1.{i}"} for i in range(1, 120)))
    zone.set_owner("default/big", records.service_records(svc("big", clusterIP="None"), many, ZONE))
    r = Resolver(zone)
    name = "big.default.svc.cluster.local"
    small = answer(r, name, "A")
    assert small.flags & dns.flags.TC and not small.answer  # 119 records do not fit 512 bytes
    edns = answer(r, name, "A", use_edns=0, payload=4096)
    assert edns.flags & dns.flags.TC and edns.edns == 0  # nor 1232 (this server's limit)
    query = dns.message.make_query(name, "A")
    tcp = ask(r, query, udp=False)
    assert isinstance(tcp, bytes) and len(dns.message.from_wire(tcp).answer[0]) == 119
    fits = answer(r, "web.default.svc.cluster.local", "A", use_edns=0, want_dnssec=True)
    assert fits.edns == 0 and fits.ednsflags & dns.flags.DO and fits.payload == 1232


def raw(data: bytes) -> bytes | None:
    out = careful(data, True)
    assert not isinstance(out, Parsed)
    return out


def test_bad_input_gets_the_right_rcode_or_nothing() -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    good = query.to_wire()
    assert raw(good[:5]) is None  # no header: dropped
    response = dns.message.make_response(query).to_wire()
    assert raw(response) is None  # a response is never answered (no loops)
    assert dns.message.from_wire(raw(good[:14]) or b"").rcode() == dns.rcode.FORMERR
    looped = good[:12] + b"\xc0\x0c" + good[-4:]  # a compression pointer to itself
    assert dns.message.from_wire(raw(looped) or b"").rcode() == dns.rcode.FORMERR
    notify = dns.message.make_query("cluster.local", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(raw(notify.to_wire()) or b"").rcode() == dns.rcode.NOTIMP
    chaos = dns.message.make_query("version.bind", "TXT", "CH").to_wire()
    assert dns.message.from_wire(raw(chaos) or b"").rcode() == dns.rcode.REFUSED
    axfr = dns.message.make_query("cluster.local", "AXFR").to_wire()
    assert dns.message.from_wire(raw(axfr) or b"").rcode() == dns.rcode.NOTIMP
    badvers = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=1)
    assert dns.message.from_wire(raw(badvers.to_wire()) or b"").rcode() == dns.rcode.BADVERS
    two = good[:4] + b"\x00\x02" + good[6:] + good[12:]
    assert dns.message.from_wire(raw(two) or b"").rcode() == dns.rcode.FORMERR


def test_the_fast_parser_accepts_only_plain_queries() -> None:
    plain = dns.message.make_query("a.b", "A").to_wire()
    assert wire.parse_query(plain, True) is not None
    edns = dns.message.make_query("a.b", "A", use_edns=0).to_wire()
    assert wire.parse_query(edns, True) is not None
    for odd in (plain[:-1], plain + b"x", edns[:-1], b"\x00" * 17,
                dns.message.make_query("a.b", "A", use_edns=1).to_wire()):  # fmt: skip
        assert wire.parse_query(odd, True) is None
