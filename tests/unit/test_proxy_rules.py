"""Golden tests of the proxy's pure parts: rule rendering, sync planning, parsing helpers."""

from __future__ import annotations

import base64
import hashlib
import random
from fractions import Fraction
from typing import Any

import pytest

from minik8s.proxy import iptables, restore, rules

pytestmark = pytest.mark.unit

OPTIONS = rules.RuleOptions(cluster_cidr="10.244.0.0/16")
SVC = "MINIK8S-SVC-CDGGSHYLG3RE2FKL"  # default/web:http + tcp
SEP_2 = "MINIK8S-SEP-UIQK3OSOSTRHRPBX"  # … + 10.244.1.2:8080
SEP_3 = "MINIK8S-SEP-2AZ33KU3V5PGPQZH"  # … + 10.244.1.3:8080


def service(name: str = "web", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("ports", [{"name": "http", "protocol": "TCP", "port": 80,
                               "targetPort": 8080}])  # fmt: skip
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def endpoints(
    *ips: str, name: str = "web", namespace: str = "default", port: int = 8080, port_name="http"
) -> dict[str, Any]:
    subsets = [{"addresses": [{"ip": ip} for ip in ips],
                "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]  # fmt: skip
    return {"metadata": {"namespace": namespace, "name": name}, "subsets": subsets if ips else []}


GOLDEN_CLUSTER_IP = """\
*filter
:MINIK8S-SERVICES - [0:0]
:MINIK8S-EXTERNAL-SERVICES - [0:0]
:MINIK8S-FORWARD - [0:0]
:MINIK8S-FIREWALL - [0:0]
-A MINIK8S-FORWARD -m comment --comment "minik8s forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A MINIK8S-FORWARD -m comment --comment "minik8s forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A MINIK8S-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
*nat
:MINIK8S-SERVICES - [0:0]
:MINIK8S-NODEPORTS - [0:0]
:MINIK8S-POSTROUTING - [0:0]
:MINIK8S-MARK-MASQ - [0:0]
:MINIK8S-SVC-CDGGSHYLG3RE2FKL - [0:0]
:MINIK8S-SEP-UIQK3OSOSTRHRPBX - [0:0]
:MINIK8S-SEP-2AZ33KU3V5PGPQZH - [0:0]
-A MINIK8S-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j MINIK8S-SVC-CDGGSHYLG3RE2FKL
-A MINIK8S-SERVICES -m comment --comment "minik8s service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j MINIK8S-NODEPORTS
-A MINIK8S-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A MINIK8S-POSTROUTING -j MARK --xor-mark 0x4000
-A MINIK8S-POSTROUTING -m comment --comment "minik8s service traffic requiring SNAT" -j MASQUERADE --random-fully
-A MINIK8S-MARK-MASQ -j MARK --or-mark 0x4000
-A MINIK8S-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j MINIK8S-MARK-MASQ
-A MINIK8S-SVC-CDGGSHYLG3RE2FKL -m comment --comment default/web:http -m statistic --mode random --probability 0.5000000000 -j MINIK8S-SEP-UIQK3OSOSTRHRPBX
-A MINIK8S-SVC-CDGGSHYLG3RE2FKL -m comment --comment default/web:http -j MINIK8S-SEP-2AZ33KU3V5PGPQZH
-A MINIK8S-SEP-UIQK3OSOSTRHRPBX -s 10.244.1.2/32 -m comment --comment default/web:http -j MINIK8S-MARK-MASQ
-A MINIK8S-SEP-UIQK3OSOSTRHRPBX -p tcp -m comment --comment default/web:http -m tcp -j DNAT --to-destination 10.244.1.2:8080
-A MINIK8S-SEP-2AZ33KU3V5PGPQZH -s 10.244.1.3/32 -m comment --comment default/web:http -j MINIK8S-MARK-MASQ
-A MINIK8S-SEP-2AZ33KU3V5PGPQZH -p tcp -m comment --comment default/web:http -m tcp -j DNAT --to-destination 10.244.1.3:8080
COMMIT
"""  # noqa: E501


def test_cluster_ip_golden() -> None:
    text = rules.render_rules(
        [service()], [endpoints("10.244.1.3", "10.244.1.2")], "node-1", OPTIONS
    )
    assert text == GOLDEN_CLUSTER_IP


def test_chain_names_hash_like_kubernetes() -> None:
    def h(text: str) -> str:
        return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]

    assert SVC == "MINIK8S-SVC-" + h("default/web:httptcp")
    assert SEP_2 == "MINIK8S-SEP-" + h("default/web:httptcp10.244.1.2:8080")
    assert all(len(name) <= 28 for name in (SVC, SEP_2))  # iptables' limit on chain names


def test_node_port_golden() -> None:
    svc = service(type="NodePort")
    svc["spec"]["ports"][0]["nodePort"] = 30080
    nat = rules.build_rules([svc], [endpoints("10.244.1.2")], "node-1", OPTIONS).tables["nat"]
    assert nat[rules.NODEPORTS] == [
        f"-p tcp -m comment --comment default/web:http -m tcp --dport 30080 -j {rules.MARK_MASQ}",
        f"-p tcp -m comment --comment default/web:http -m tcp --dport 30080 -j {SVC}",
    ]
    assert nat[SVC][-1] == f"-m comment --comment default/web:http -j {SEP_2}"
    assert nat[rules.SERVICES][-1].endswith(f"--dst-type LOCAL -j {rules.NODEPORTS}")


def test_multiple_ports_get_a_chain_each_with_their_own_endpoint_port() -> None:
    svc = service(ports=[{"name": "http", "protocol": "TCP", "port": 80},
                         {"name": "dns", "protocol": "UDP", "port": 53}])  # fmt: skip
    eps = {"metadata": {"namespace": "default", "name": "web"}, "subsets": [{
        "addresses": [{"ip": "10.244.1.2"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "dns", "port": 5353, "protocol": "UDP"}]}]}  # fmt: skip
    nat = rules.build_rules([svc], [eps], "node-1", OPTIONS).tables["nat"]
    svcs = [c for c in nat if c.startswith(rules.SVC_PREFIX)]
    assert len(svcs) == 2
    dnat = [rule for c, rs in nat.items() if c.startswith(rules.SEP_PREFIX) for rule in rs
            if "DNAT" in rule]  # fmt: skip
    assert sorted(dnat) == [
        "-p tcp -m comment --comment default/web:http -m tcp -j DNAT --to-destination "
        "10.244.1.2:8080",
        "-p udp -m comment --comment default/web:dns -m udp -j DNAT --to-destination "
        "10.244.1.2:5353",
    ]
    assert any("-p udp" in rule and "--dport 53" in rule for rule in nat[rules.SERVICES])


def test_no_endpoints_rejects_in_filter_and_writes_no_nat_chain() -> None:
    svc = service(type="NodePort")
    svc["spec"]["ports"][0]["nodePort"] = 30080
    ruleset = rules.build_rules([svc], [endpoints()], "node-1", OPTIONS)
    assert ruleset.tables["filter"][rules.SERVICES] == [
        '-d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http has no endpoints" '
        "-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
    ]
    assert ruleset.tables["filter"][rules.EXTERNAL_SERVICES] == [
        '-m comment --comment "default/web:http has no endpoints" -m addrtype --dst-type LOCAL '
        "-p tcp -m tcp --dport 30080 -j REJECT --reject-with icmp-port-unreachable"
    ]
    assert not [c for c in ruleset.tables["nat"] if c.startswith(rules.SVC_PREFIX)]
    assert ruleset.tables["nat"][rules.NODEPORTS] == []


def test_session_affinity_golden() -> None:
    svc = service(sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})  # fmt: skip
    nat = rules.build_rules([svc], [endpoints("10.244.1.2", "10.244.1.3")], "n", OPTIONS).tables[
        "nat"
    ]
    recent = "--mask 255.255.255.255 --rsource"
    assert nat[SVC][1:] == [
        f"-m comment --comment default/web:http -m recent --name {SEP_2} {recent} --rcheck "
        f"--seconds 60 --reap -j {SEP_2}",
        f"-m comment --comment default/web:http -m recent --name {SEP_3} {recent} --rcheck "
        f"--seconds 60 --reap -j {SEP_3}",
        f"-m comment --comment default/web:http -m statistic --mode random --probability "
        f"0.5000000000 -j {SEP_2}",
        f"-m comment --comment default/web:http -j {SEP_3}",
    ]
    assert nat[SEP_2][1] == (
        f"-p tcp -m comment --comment default/web:http -m recent --name {SEP_2} {recent} --set "
        "-m tcp -j DNAT --to-destination 10.244.1.2:8080"
    )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10])
def test_probabilities_give_every_endpoint_an_equal_share(n: int) -> None:
    ips = [f"10.244.0.{i + 1}" for i in range(n)]
    nat = rules.build_rules([service()], [endpoints(*ips)], "n", OPTIONS).tables["nat"]
    jumps = nat[SVC][1:]
    assert len(jumps) == n
    remaining, shares = Fraction(1), []
    for rule in jumps:
        if "--probability" in rule:
            p = Fraction(rule.split("--probability ")[1].split()[0]).limit_denominator(1000)
        else:
            p = Fraction(1)
        shares.append(remaining * p)
        remaining -= remaining * p
    assert remaining == 0
    assert sum(shares) == 1
    assert all(share == Fraction(1, n) for share in shares)


def test_output_is_deterministic() -> None:
    services = [service(f"s{i}", clusterIP=f"10.96.1.{i}") for i in range(1, 20)]
    eps = [endpoints(f"10.244.2.{i}", f"10.244.3.{i}", name=f"s{i}") for i in range(1, 20)]
    expected = rules.render_rules(services, eps, "n", OPTIONS)
    for seed in range(5):
        random.Random(seed).shuffle(services)
        random.Random(seed + 100).shuffle(eps)
        assert rules.render_rules(services, eps, "n", OPTIONS) == expected


def test_headless_external_name_and_unmatched_ports_are_skipped() -> None:
    services = [service("headless", clusterIP="None"),
                service("ext", type="ExternalName", clusterIP="")]  # fmt: skip
    text = rules.render_rules(services, [], "n", OPTIONS)
    assert rules.SVC_PREFIX not in text and "REJECT" not in text
    ruleset = rules.build_rules([service()], [endpoints("10.244.1.2", port_name="other")], "n")
    assert "has no endpoints" in ruleset.tables["filter"][rules.SERVICES][0]


def test_without_cluster_cidr_all_cluster_ip_traffic_is_masqueraded() -> None:
    nat = rules.build_rules([service()], [endpoints("10.244.1.2")], "n").tables["nat"]
    assert nat[SVC][0].startswith("-d 10.96.0.10/32 -p tcp")


def test_memo_gives_the_same_output_as_a_fresh_build() -> None:
    def versioned(obj: dict[str, Any], version: str) -> dict[str, Any]:
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}

    services = [versioned(service(f"s{i}", clusterIP=f"10.96.1.{i}"), "1") for i in range(1, 5)]
    eps = [versioned(endpoints(f"10.244.2.{i}", name=f"s{i}"), "1") for i in range(1, 5)]
    memo = rules.Memo()
    assert rules.build_rules(services, eps, "n", OPTIONS, memo) == rules.build_rules(
        services, eps, "n", OPTIONS
    )
    eps[2] = versioned(endpoints("10.244.9.9", name="s3"), "2")
    del services[0]
    assert rules.build_rules(services, eps, "n", OPTIONS, memo) == rules.build_rules(
        services, eps, "n", OPTIONS
    )
    assert len(memo.fragments) == 3 and len(memo.ports) == 3


# --- planning syncs ---------------------------------------------------------------------


def desired(*ips: str) -> dict[restore.ChainKey, tuple[str, ...]]:
    return restore.flatten(rules.build_rules([service()], [endpoints(*ips)], "n", OPTIONS))


def test_first_sync_is_one_call_with_every_chain() -> None:
    want = desired("10.244.1.2")
    steps = restore.plan(want, {}, set(), chunk=300)
    assert len(steps) == 1 and steps[0].written == want


def test_nothing_changed_means_no_call() -> None:
    want = desired("10.244.1.2")
    assert restore.plan(want, want, set(want), chunk=300) == []


def test_changed_endpoint_writes_its_chains_and_deletes_the_stale_one() -> None:
    old, new = desired("10.244.1.2"), desired("10.244.1.3")
    (step,) = restore.plan(new, old, set(old), chunk=300)
    assert set(step.written) == {("nat", SVC), ("nat", SEP_3)}
    assert step.deleted == [("nat", SEP_2)]
    text = step.render()
    assert text.startswith("*nat\n") and text.count("COMMIT") == 1
    assert f":{SEP_2} - [0:0]\n" in text and text.rstrip().endswith(f"-X {SEP_2}\nCOMMIT")


def test_large_sync_is_staged_leaves_first_then_stale_flushed_then_deleted() -> None:
    old, new = desired("10.244.1.2"), desired("10.244.1.3", "10.244.1.4")
    steps = restore.plan(new, {}, set(old), chunk=2)
    written = [key for step in steps for key in step.written]
    levels = [rules.chain_level(chain) for _, chain in written]
    assert levels == sorted(levels) and set(written) == set(new)
    assert [s.flushed for s in steps if s.flushed] == [[("nat", SEP_2)]]
    assert steps[-1].deleted == [("nat", SEP_2)]
    assert all(step.size() <= 2 for step in steps)


# --- parsing helpers of the iptables module ----------------------------------------------


def test_parse_nft_chains_keeps_ours_in_our_tables() -> None:
    listing = """table ip filter {
\tchain DOCKER {
\t}
\tchain MINIK8S-SERVICES {
\t}
}
table ip nat {
\tchain PREROUTING {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t}
\tchain MINIK8S-SVC-AAAA {
\t}
}
table ip mangle {
\tchain MINIK8S-ELSEWHERE {
\t}
}
"""
    assert iptables._parse_nft_chains(listing) == {
        ("filter", "MINIK8S-SERVICES"), ("nat", "MINIK8S-SVC-AAAA")
    }  # fmt: skip


def test_jumps_to_ours() -> None:
    assert iptables._jumps_to_ours(["-A", "OUTPUT", "-j", "MINIK8S-SERVICES"])
    assert not iptables._jumps_to_ours(["-A", "OUTPUT", "-j", "DOCKER"])
    assert not iptables._jumps_to_ours(["-A", "OUTPUT", "-m", "comment", "--comment", "MINIK8S-"])
