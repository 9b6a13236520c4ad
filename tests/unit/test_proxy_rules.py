"""Golden tests of the proxy's pure parts: rule rendering, sync planning, parsing helpers."""

from __future__ import annotations

import base64
import hashlib
import random
from fractions import Fraction
from typing import Any

import pytest

from minik8s.proxy import iptables, restore, rules
from tests.support.slices import endpoint, endpoint_slice

pytestmark = pytest.mark.unit

OPTIONS = rules.RuleOptions(cluster_cidr="10.244.0.0/16")
SVC = "MINIK8S-SVC-CDGGSHYLG3RE2FKL"  # default/web:http + tcp
SEP_2 = "MINIK8S-SEP-UIQK3OSOSTRHRPBX"  # … + 10.244.1.2:8080
SEP_3 = "MINIK8S-SEP-2AZ33KU3V5PGPQZH"  # … + 10.244.1.3:8080
EXT = "MINIK8S-EXT-CDGGSHYLG3RE2FKL"  # the SVC chain's hash, as in Kubernetes


def service(name: str = "web", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    spec.setdefault("clusterIP", "10.96.0.10")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("ports", [{"name": "http", "protocol": "TCP", "port": 80,
                               "targetPort": 8080}])  # fmt: skip
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def endpoints(
    *ips: str, name: str = "web", namespace: str = "default", port: int = 8080, port_name="http"
) -> dict[str, Any]:
    ports = [{"name": port_name, "port": port, "protocol": "TCP"}]
    return endpoint_slice(name, ips, namespace=namespace, ports=ports)


GOLDEN_CLUSTER_IP = """\
*filter
:MINIK8S-SERVICES - [0:0]
:MINIK8S-EXTERNAL-SERVICES - [0:0]
:MINIK8S-NODEPORTS - [0:0]
:MINIK8S-PROXY-FIREWALL - [0:0]
:MINIK8S-FORWARD - [0:0]
:MINIK8S-FIREWALL - [0:0]
:MINIK8S-POD-FIREWALL - [0:0]
-A MINIK8S-FORWARD -m comment --comment "minik8s forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A MINIK8S-FORWARD -m comment --comment "minik8s forwarding rules for local endpoints" -m mark --mark 0x2000/0x2000 -j ACCEPT
-A MINIK8S-FORWARD -m comment --comment "minik8s forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A MINIK8S-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A MINIK8S-POD-FIREWALL ! -s 10.244.0.0/16 -j RETURN
-A MINIK8S-POD-FIREWALL -m comment --comment "minik8s pod firewall: replies" -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A MINIK8S-POD-FIREWALL -m addrtype --dst-type LOCAL -m comment --comment "minik8s pod firewall: pods may not reach their node" -j REJECT --reject-with icmp-port-unreachable
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
-A MINIK8S-SEP-UIQK3OSOSTRHRPBX -p tcp -m comment --comment default/web:http -j DNAT --to-destination 10.244.1.2:8080
-A MINIK8S-SEP-2AZ33KU3V5PGPQZH -s 10.244.1.3/32 -m comment --comment default/web:http -j MINIK8S-MARK-MASQ
-A MINIK8S-SEP-2AZ33KU3V5PGPQZH -p tcp -m comment --comment default/web:http -j DNAT --to-destination 10.244.1.3:8080
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


def test_hash_is_the_first_16_base32_characters_of_sha256() -> None:
    for i in range(2000):
        text = f"ns-{i}/svc-{i * 7}:port{i % 3}tcp10.244.{i % 256}.{i // 256}:{8000 + i}"
        digest = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()
        assert rules._hash(text) == digest[:16]


LARGE = rules.RuleOptions(cluster_cidr="10.244.0.0/16", large_cluster_endpoints=1)


def test_large_cluster_mode_leaves_out_per_endpoint_comments_like_kubernetes() -> None:
    """Kubernetes' largeClusterMode: above 1 000 endpoints in all (1 here), the SEP rules and
    the SVC endpoint-selection rules lose their `-m comment`; the cluster IP comments stay."""
    ruleset = rules.build_rules([service()], [endpoints("10.244.1.3", "10.244.1.2")], "n", LARGE)
    nat = ruleset.tables["nat"]
    assert nat[SVC] == [
        '! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http '
        f'cluster IP" -m tcp --dport 80 -j {rules.MARK_MASQ}',
        f"-m statistic --mode random --probability 0.5000000000 -j {SEP_2}",
        f"-j {SEP_3}",
    ]
    assert nat[SEP_2] == [
        f"-s 10.244.1.2/32 -j {rules.MARK_MASQ}",
        "-p tcp -j DNAT --to-destination 10.244.1.2:8080",
    ]
    assert nat[rules.SERVICES][0] == (
        '-d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp '
        f"--dport 80 -j {SVC}"
    )
    svc = service(sessionAffinity="ClientIP")
    nat = rules.build_rules([svc], [endpoints("10.244.1.2", "10.244.1.3")], "n", LARGE).tables[
        "nat"
    ]
    recent = "--mask 255.255.255.255 --rsource"
    assert (
        nat[SVC][1]
        == f"-m recent --name {SEP_2} {recent} --rcheck --seconds 10800 --reap -j {SEP_2}"
    )
    assert nat[SEP_2][1] == (
        f"-p tcp -m recent --name {SEP_2} {recent} --set -j DNAT --to-destination 10.244.1.2:8080"
    )
    small = rules.build_rules([service()], [endpoints("10.244.1.2")], "n", LARGE).tables["nat"]
    assert "-m comment --comment default/web:http" in small[SVC][-1]  # 1 endpoint: not large


def test_services_rules_are_in_descending_order_of_their_svc_chain() -> None:
    services = [service(f"s{i}", clusterIP=f"10.96.1.{i}", type="NodePort",
                        ports=[{"name": "http", "protocol": "TCP", "port": 80,
                                "nodePort": 30000 + i}]) for i in range(1, 20)]  # fmt: skip
    eps = [endpoints(f"10.244.2.{i}", name=f"s{i}") for i in range(1, 20)]
    nat = rules.build_rules(services, eps, "n", OPTIONS).tables["nat"]
    targets = [rule.split()[-1] for rule in nat[rules.SERVICES]]
    assert targets[-1] == rules.NODEPORTS  # still last
    assert targets[:-1] == sorted(targets[:-1], reverse=True) and len(targets) == 20
    exts = [rule.split()[-1] for rule in nat[rules.NODEPORTS]]  # node ports → EXT chains
    assert exts == [rules.EXT_PREFIX + t[len(rules.SVC_PREFIX) :] for t in targets[:-1]]


def test_node_port_golden() -> None:
    svc = service(type="NodePort")
    svc["spec"]["ports"][0]["nodePort"] = 30080
    nat = rules.build_rules([svc], [endpoints("10.244.1.2")], "node-1", OPTIONS).tables["nat"]
    assert nat[rules.NODEPORTS] == [
        f"-p tcp -m comment --comment default/web:http -m tcp --dport 30080 -j {EXT}",
    ]
    assert nat[EXT] == [  # Kubernetes' KUBE-EXT chain of externalTrafficPolicy: Cluster
        '-m comment --comment "masquerade traffic for default/web:http external destinations" '
        f"-j {rules.MARK_MASQ}",
        f"-j {SVC}",
    ]
    assert nat[SVC][-1] == f"-m comment --comment default/web:http -j {SEP_2}"
    assert nat[rules.SERVICES][-1].endswith(f"--dst-type LOCAL -j {rules.NODEPORTS}")


def test_endpoints_come_from_every_slice_of_the_service_by_their_conditions() -> None:
    """kube-proxy's reading of EndpointSlices: the slices labelled with the Service's name, of
    address type IPv4, merged; ready endpoints (conditions unset count as ready); only when
    none is ready, the serving terminating ones; never one that is neither."""
    not_ready = endpoint("10.244.1.9", ready=False)
    stopped = endpoint("10.244.1.8", ready=False, serving=False, terminating=True)
    slices = [
        endpoint_slice("web", ["10.244.1.2", not_ready], name="web-a"),
        endpoint_slice("web", [{"addresses": ["10.244.1.3"]}, stopped], name="web-b"),
        endpoint_slice("web", ["10.244.1.2"], name="web-again"),  # an address counts once
        endpoint_slice("other", ["10.244.5.5"], name="web-other"),
        {**endpoint_slice("web", ["fd00::1"], name="web-v6"), "addressType": "IPv6"},
    ]
    nat = rules.build_rules([service()], slices, "n", OPTIONS).tables["nat"]
    assert sorted(c for c in nat if c.startswith(rules.SEP_PREFIX)) == sorted([SEP_2, SEP_3])
    draining = [endpoint(ip, ready=False, serving=True, terminating=True)
                for ip in ("10.244.1.2", "10.244.1.3")]  # fmt: skip
    slices = [endpoint_slice("web", [*draining, not_ready])]
    nat = rules.build_rules([service()], slices, "n", OPTIONS).tables["nat"]
    assert sorted(c for c in nat if c.startswith(rules.SEP_PREFIX)) == sorted([SEP_2, SEP_3])
    slices = [endpoint_slice("web", [not_ready, stopped])]
    filter_ = rules.build_rules([service()], slices, "n", OPTIONS).tables["filter"]
    assert any("has no endpoints" in rule for rule in filter_[rules.SERVICES])


def test_multiple_ports_get_a_chain_each_with_their_own_endpoint_port() -> None:
    svc = service(ports=[{"name": "http", "protocol": "TCP", "port": 80},
                         {"name": "dns", "protocol": "UDP", "port": 53}])  # fmt: skip
    eps = endpoint_slice("web", ["10.244.1.2"], ports=[
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "dns", "port": 5353, "protocol": "UDP"}])  # fmt: skip
    nat = rules.build_rules([svc], [eps], "node-1", OPTIONS).tables["nat"]
    svcs = [c for c in nat if c.startswith(rules.SVC_PREFIX)]
    assert len(svcs) == 2
    dnat = [rule for c, rs in nat.items() if c.startswith(rules.SEP_PREFIX) for rule in rs
            if "DNAT" in rule]  # fmt: skip
    assert sorted(dnat) == [
        "-p tcp -m comment --comment default/web:http -j DNAT --to-destination 10.244.1.2:8080",
        "-p udp -m comment --comment default/web:dns -j DNAT --to-destination 10.244.1.2:5353",
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
        "-j DNAT --to-destination 10.244.1.2:8080"
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
    assert rules.SVC_PREFIX not in text and "has no endpoints" not in text
    ruleset = rules.build_rules([service()], [endpoints("10.244.1.2", port_name="other")], "n")
    assert "has no endpoints" in ruleset.tables["filter"][rules.SERVICES][0]


def test_pods_reach_the_node_only_through_the_cluster_services() -> None:
    """The apiserver's and the DNS's endpoints on the node are open to pods, on their port and
    through their Service only; the rest of the node and the forbidden networks are closed."""
    options = rules.RuleOptions(
        cluster_cidr="10.244.0.0/16", forbidden_pod_destinations=("172.18.0.0/16",)
    )
    services = [
        service("kubernetes", ports=[{"name": "https", "port": 443, "protocol": "TCP"}]),
        service("kube-dns", "kube-system", clusterIP="10.96.0.11",
                ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]),
        service("web", clusterIP="10.96.0.12"),
    ]  # fmt: skip
    eps = [
        endpoints("10.244.0.1", name="kubernetes", port=6443, port_name="https"),
        endpoint_slice("kube-dns", ["172.18.0.5"], namespace="kube-system",
                       ports=[{"name": "dns", "port": 53, "protocol": "UDP"}]),
        endpoints("10.244.1.2"),
    ]  # fmt: skip
    chain = rules.build_rules(services, eps, "n", options).tables["filter"][rules.POD_FIREWALL]
    assert chain[0] == "! -s 10.244.0.0/16 -j RETURN"
    allowed = [r for r in chain if "--ctstate DNAT" in r]
    assert [r.split(" -m comment")[0] for r in allowed] == [
        "-d 10.244.0.1/32 -p tcp -m tcp --dport 6443",
        "-d 172.18.0.5/32 -p udp -m udp --dport 53",
    ]
    assert chain.index(allowed[-1]) < next(i for i, r in enumerate(chain) if "LOCAL" in r)
    assert chain[-1].startswith("-d 172.18.0.0/16 ")
    assert chain[-1].endswith("-j REJECT --reject-with icmp-port-unreachable")
    assert not rules.build_rules(services, eps, "n").tables["filter"][rules.POD_FIREWALL]


def test_without_cluster_cidr_all_cluster_ip_traffic_is_masqueraded() -> None:
    nat = rules.build_rules([service()], [endpoints("10.244.1.2")], "n").tables["nat"]
    assert nat[SVC][0].startswith("-d 10.96.0.10/32 -p tcp")


def versioned(obj: dict[str, Any], version: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}


def test_memo_gives_the_same_output_as_a_fresh_build() -> None:
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
    large = rules.RuleOptions(cluster_cidr="10.244.0.0/16", large_cluster_endpoints=2)
    assert rules.build_rules(services, eps, "n", large, memo) == rules.build_rules(
        services, eps, "n", large
    )  # the mode changed: fragments built in the other one are not reused
    assert memo.large


def test_finish_chains_is_the_flattened_rule_set_sharing_unchanged_chains() -> None:
    services = [versioned(service(f"s{i}", clusterIP=f"10.96.1.{i}"), "1") for i in range(1, 5)]
    eps = [versioned(endpoints(f"10.244.2.{i}", name=f"s{i}"), "1") for i in range(1, 5)]
    memo = rules.Memo()
    first = rules.Builder(services, eps, OPTIONS, memo).finish_chains()
    assert first == restore.flatten(rules.build_rules(services, eps, "n", OPTIONS))
    assert list(first) == list(restore.flatten(rules.build_rules(services, eps, "n", OPTIONS)))
    eps[2] = versioned(endpoints("10.244.9.9", name="s3"), "2")
    second = rules.Builder(services, eps, OPTIONS, memo).finish_chains()
    assert second == restore.flatten(rules.build_rules(services, eps, "n", OPTIONS))
    changed = {key for key in second if second[key] is not first.get(key)}
    own = {key for key in changed if rules.chain_level(key[1]) in (1, 2)}
    assert {key[1] for key in own} == {  # only s3's own chains are new objects
        chain for chain in rules.build_rules([services[2]], [eps[2]], "n", OPTIONS).tables["nat"]
        if rules.chain_level(chain) in (1, 2)
    }  # fmt: skip
    (((step,),),) = restore.plan(second, first, set(first))
    assert step.table == "nat" and set(step.written) <= {key[1] for key in changed}


# --- planning syncs ---------------------------------------------------------------------


def desired(*ips: str) -> dict[restore.ChainKey, tuple[str, ...]]:
    return restore.flatten(rules.build_rules([service()], [endpoints(*ips)], "n", OPTIONS))


def many(n: int, per: int, port: int = 8080) -> dict[restore.ChainKey, tuple[str, ...]]:
    services = [service(f"s{i}", clusterIP=f"10.96.{i // 250}.{i % 250 + 1}") for i in range(n)]
    eps = [endpoints(*(f"10.244.{i // 50}.{(i % 50) * 5 + j + 1}" for j in range(per)),
                     name=f"s{i}", port=port) for i in range(n)]  # fmt: skip
    return restore.flatten(rules.build_rules(services, eps, "n", OPTIONS))


def steps_of(stages: list[restore.Stage]) -> list[restore.Step]:
    return [step for stage in stages for call in stage for step in call]


def test_first_sync_is_one_call_with_every_chain() -> None:
    want = desired("10.244.1.2")
    ((call,),) = restore.plan(want, {}, set())
    assert [step.table for step in call] == ["filter", "nat"]
    assert {key for step in call for key in step.keys()[0]} == set(want)


def test_nothing_changed_means_no_call() -> None:
    want = desired("10.244.1.2")
    assert restore.plan(want, want, set(want)) == []


def test_changed_endpoint_writes_its_chains_and_deletes_the_stale_one() -> None:
    old, new = desired("10.244.1.2"), desired("10.244.1.3")
    (((step,),),) = restore.plan(new, old, set(old))
    assert step.table == "nat" and set(step.written) == {SVC, SEP_3}
    assert step.deleted == [SEP_2]
    text = step.render()
    assert text.startswith(f"*nat\n:{SEP_3} - [0:0]\n") and text.count("COMMIT") == 1
    assert text.rstrip().endswith(f":{SEP_2} - [0:0]\n-X {SEP_2}\nCOMMIT")
    assert text.index(f":{SEP_3} ") < text.index(f":{SVC} ")  # the target is declared first


def test_transaction_lists_leaves_first_each_chain_with_its_rules_in_descending_names() -> None:
    step = restore.Step("nat", written={c: r for (t, c), r in many(3, 2).items() if t == "nat"})
    declared = [line[1:].split()[0] for line in step.render().splitlines() if line[:1] == ":"]
    levels = [rules.chain_level(chain) for chain in declared]
    assert levels == sorted(levels)
    for level in set(levels):
        names = [c for c, lv in zip(declared, levels, strict=True) if lv == level]
        assert names == sorted(names, reverse=True)
    lines = step.render().splitlines()
    for i, line in enumerate(lines):  # every -A right after its chain's declaration or rules
        if line.startswith("-A "):
            chain = line.split()[1]
            assert lines[i - 1] == f":{chain} - [0:0]" or lines[i - 1].startswith(f"-A {chain} ")


def test_jumps_are_inserted_with_the_top_chains_in_one_transaction() -> None:
    want = desired("10.244.1.2")
    ((call,),) = restore.plan(want, {}, set(), jumps=rules.JUMPS)
    nat = next(step for step in call if step.table == "nat").render()
    assert (
        '-I PREROUTING -m comment --comment "minik8s service portals" -j MINIK8S-SERVICES\n' in nat
    )
    assert nat.index(":MINIK8S-SERVICES ") < nat.index("-I PREROUTING ")
    text = restore.render_call(call)
    assert text.count("-I ") == len(rules.JUMPS)


def test_large_sync_is_staged_by_level_in_parallel_calls_and_stays_consistent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(restore, "MIN_RULES_PER_CALL", 10)
    old, new = many(40, 3), many(40, 3, port=9090)  # every SEP chain changes
    stages = restore.plan(new, {}, set(old), jumps=rules.JUMPS, budget=20, parallel=2)
    assert len(stages) > 2 and any(len(stage) == 2 for stage in stages)
    for stage in stages:
        keys = [key for call in stage for step in call for key in step.keys()[0]]
        assert len(keys) == len(set(keys))  # calls of a stage never write the same chain
    for step in steps_of(stages):  # within budget, unless one chain alone exceeds it
        assert len(step.written) == 1 or restore._cost(step.written.items()) <= 20
    final = simulate(stages, old)
    assert ours(final) == {key: list(value) for key, value in new.items()}
    jumps = {(t, c, rule) for (t, c), rs in final.items() if not c.startswith(rules.PREFIX)
             for rule in rs}  # fmt: skip
    assert jumps == {(t, c, restore._quote(rule)) for t, c, rule in rules.JUMPS}


def test_a_large_sync_writes_each_svc_chain_with_its_sep_chains_in_one_transaction() -> None:
    old, new = many(40, 3), many(40, 3, port=9090)
    stages = restore.plan(new, {}, set(old), jumps=rules.JUMPS, budget=20, parallel=2)
    service_stage = next(stage for stage in stages if len(stage) > 1)
    for step in (step for call in service_stage for step in call):
        seps = {c for c in step.written if c.startswith(rules.SEP_PREFIX)}
        targets = {
            t
            for c in step.written
            if c.startswith(rules.SVC_PREFIX)
            for t in restore._targets(step.written[c])
            if t.startswith(rules.SEP_PREFIX)
        }
        assert seps == targets and restore._cost(step.written.items()) <= 20  # fmt: skip
    assert ours(simulate(stages, old)) == {key: list(value) for key, value in new.items()}


def test_svc_chains_count_the_unchanged_sep_chains_they_jump_to_against_the_budget() -> None:
    old = many(40, 3)
    moved = {key: tuple(rule.replace("-d 10.96.", "-d 10.97.") for rule in value)
             for key, value in old.items()}  # fmt: skip
    assert {key for key in old if old[key] != moved[key]} >= {
        key for key in old if key[1].startswith(rules.SVC_PREFIX)
    }
    stages = restore.plan(moved, old, set(old), budget=20, parallel=2)
    for step in steps_of(stages):
        assert restore._cost(step.written.items()) <= 20
    assert ours(simulate(stages, old)) == {key: list(value) for key, value in moved.items()}


def test_builder_in_parts_gives_what_build_rules_gives() -> None:
    services = [service(f"s{i}", clusterIP=f"10.96.1.{i}") for i in range(1, 30)]
    eps = [endpoints(*(f"10.244.{i}.{j}" for j in range(1, i % 4 + 1)), name=f"s{i}")
           for i in range(1, 30)]  # fmt: skip
    builder = rules.Builder(services, eps, OPTIONS, rules.Memo())
    groups = list(builder.groups())
    whole = builder.finish()
    assert whole == rules.build_rules(services, eps, "n", OPTIONS)
    nat = whole.tables["nat"]
    assert {chain for group in groups for chain, _ in group} == {
        chain for chain in nat if rules.chain_level(chain) in (1, 2)
    }
    for (svc, svc_rules), *seps in groups:
        assert svc.startswith(rules.SVC_PREFIX) and nat[svc] == list(svc_rules)
        targets = [t for t in restore._targets(svc_rules) if t != rules.MARK_MASQ]
        assert [sep for sep, _ in seps] == targets


def test_service_groups_go_whole_in_transactions_within_budget() -> None:
    builder = rules.Builder(
        [service(f"s{i}", clusterIP=f"10.96.1.{i}") for i in range(1, 41)],
        [endpoints(f"10.244.{i}.1", f"10.244.{i}.2", name=f"s{i}") for i in range(1, 41)],
        OPTIONS,
    )
    groups = list(builder.groups())
    steps = list(restore.service_transactions(groups, budget=7))
    assert len(steps) > 2
    assert all(restore._cost(step.written.items()) <= 7 for step in steps)
    written = [set(step.written) for step in steps]
    for group in groups:  # each group in exactly one transaction
        assert sum({chain for chain, _ in group} <= chains for chains in written) == 1
    leaves = {key: value for key, value in restore.flatten(builder.rules).items()
              if rules.chain_level(key[1]) == 0}  # fmt: skip
    final = simulate([[[step] for step in steps]], leaves)  # in any order, consistent
    assert len(ours(final)) == len(leaves) + sum(len(group) for group in groups)


def test_deleting_everything_is_one_transaction_per_table_highest_level_first() -> None:
    chains = set(many(3, 2))
    steps = restore.deletion(chains)
    assert [step.table for step in steps] == ["filter", "nat"]
    declared = [line[1:].split()[0] for line in steps[1].render().splitlines() if line[:1] == ":"]
    levels = [rules.chain_level(chain) for chain in declared]
    assert levels == sorted(levels, reverse=True)
    assert ours(simulate([[steps]], many(3, 2))) == {}


def simulate(
    stages: list[restore.Stage], start: dict[restore.ChainKey, tuple[str, ...]]
) -> dict[restore.ChainKey, list[str]]:
    """Apply the rendered calls to a model of the kernel, each stage's calls in both orders;
    after every transaction every jump of ours must have its target (nothing dangles) and
    a deleted chain must be empty and unreferenced."""
    results = []
    for reverse in (False, True):
        kernel = {key: list(value) for key, value in start.items()}
        for stage in stages:
            for call in reversed(stage) if reverse else stage:
                for section in restore.render_call(call).split("COMMIT\n")[:-1]:
                    kernel = _apply_section(kernel, section)
        results.append(kernel)
    assert results[0] == results[1]
    return results[0]


def ours(kernel: dict[restore.ChainKey, list[str]]) -> dict[restore.ChainKey, list[str]]:
    return {key: value for key, value in kernel.items() if key[1].startswith(rules.PREFIX)}


def _apply_section(
    kernel: dict[restore.ChainKey, list[str]], section: str
) -> dict[restore.ChainKey, list[str]]:
    lines = section.splitlines()
    assert lines[0].startswith("*")
    table = lines[0][1:]
    new = {key: list(value) for key, value in kernel.items()}

    def target(rule: str) -> str | None:
        words = rule.split()
        return words[words.index("-j") + 1] if "-j" in words else None

    for line in lines[1:]:
        if line.startswith(":"):
            new[(table, line[1:].split()[0])] = []
        elif line.startswith(("-A ", "-I ")):
            _, chain, rule = line.split(" ", 2)
            jump = target(rule)
            if jump and jump.startswith(rules.PREFIX):
                assert (table, jump) in new, f"jump to {jump} before it exists"
            if chain.startswith(rules.PREFIX):
                assert (table, chain) in new, f"rule for {chain} before it exists"
            chain_rules = new.setdefault((table, chain), [])
            chain_rules.insert(0 if line[1] == "I" else len(chain_rules), rule)
        elif line.startswith("-X "):
            chain = line.split()[1]
            assert new[(table, chain)] == [], f"{chain} deleted with rules"
            assert not any(target(rule) == chain for (t, _), rs in new.items() if t == table
                           for rule in rs), f"{chain} deleted while referenced"  # fmt: skip
            del new[(table, chain)]
    for (t, _), chain_rules in new.items():  # the committed state: nothing dangles
        for rule in chain_rules:
            jump = target(rule)
            assert t != table or not jump or not jump.startswith(rules.PREFIX) or (t, jump) in new
    return new


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


def test_binaries_read_their_input_from_memory_and_failures_say_what_ran() -> None:
    text = "*nat\nCOMMIT\n" * 50_000  # more than a pipe holds
    assert iptables._run(("cat",), text, True) == text
    assert iptables._run(("cat",), None, True) == ""
    with pytest.raises(iptables.IptablesError, match=r"exited 3: no$"):
        iptables._run(("sh", "-c", "echo no >&2; exit 3"), None, True)
    assert iptables._run(("sh", "-c", "exit 3"), None, False) == ""


def test_jumps_to_ours() -> None:
    assert iptables._jumps_to_ours(["-A", "OUTPUT", "-j", "MINIK8S-SERVICES"])
    assert not iptables._jumps_to_ours(["-A", "OUTPUT", "-j", "DOCKER"])
    assert not iptables._jumps_to_ours(["-A", "OUTPUT", "-m", "comment", "--comment", "MINIK8S-"])
