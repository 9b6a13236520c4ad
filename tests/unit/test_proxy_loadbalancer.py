"""kube-proxy's LoadBalancer data path (pure): Kubernetes' EXT/FW/SVL pattern in our chains,
traffic policies, source ranges, health check node ports."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.proxy import healthcheck, restore, rules
from tests.support.slices import endpoint, endpoint_slice
from tests.unit.test_proxy_rules import ours, simulate

pytestmark = pytest.mark.unit

OPTIONS = rules.RuleOptions(cluster_cidr="10.244.0.0/16", node_name="node-1")
SVC = "MINIK8S-SVC-CDGGSHYLG3RE2FKL"  # default/web:http + tcp
EXT = "MINIK8S-EXT-CDGGSHYLG3RE2FKL"
FW = "MINIK8S-FW-CDGGSHYLG3RE2FKL"
SVL = "MINIK8S-SVL-CDGGSHYLG3RE2FKL"
SEP_2 = "MINIK8S-SEP-UIQK3OSOSTRHRPBX"  # … + 10.244.1.2:8080 (on node-1)
SEP_3 = "MINIK8S-SEP-2AZ33KU3V5PGPQZH"  # … + 10.244.1.3:8080 (on node-2)
VIP = "203.0.113.7"


def lb_service(
    ip: str | None = VIP, node_port: int | None = 30080, annotations: Any = None, **spec: Any
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    spec = {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "ports": [port],
            "externalTrafficPolicy": "Cluster", **spec}  # fmt: skip
    ingress = [{"ip": ip, "ipMode": "VIP"}] if ip else []
    meta = {"namespace": "default", "name": "web", "annotations": annotations or {}}
    return {"metadata": meta, "spec": spec, "status": {"loadBalancer": {"ingress": ingress}}}


def endpoints(*addresses: tuple[str, str], service: str = "web") -> dict[str, Any]:
    return endpoint_slice(service, [endpoint(ip, node) for ip, node in addresses])


BOTH = endpoints(("10.244.1.2", "node-1"), ("10.244.1.3", "node-2"))


def build(service: dict[str, Any], eps: dict[str, Any] = BOTH) -> rules.RuleSet:
    return rules.build_rules([service], [eps], "node-1", OPTIONS)


def test_cluster_policy_ingress_ip_goes_through_the_ext_chain_like_the_node_port() -> None:
    ruleset = build(lb_service())
    nat = ruleset.tables["nat"]
    assert nat[rules.SERVICES][:2] == [
        '-d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" '
        f"-m tcp --dport 80 -j {SVC}",
        f'-d {VIP}/32 -p tcp -m comment --comment "default/web:http loadbalancer IP" '
        f"-m tcp --dport 80 -j {EXT}",
    ]
    assert nat[rules.NODEPORTS] == [
        f"-p tcp -m comment --comment default/web:http -m tcp --dport 30080 -j {EXT}"
    ]
    assert nat[EXT] == [
        '-m comment --comment "masquerade traffic for default/web:http external destinations" '
        f"-j {rules.MARK_MASQ}",
        f"-j {SVC}",
    ]
    assert FW not in nat and SVL not in nat
    assert ruleset.tables["filter"][rules.PROXY_FIREWALL] == []


def test_without_node_ports_the_ingress_ip_still_works() -> None:
    """`allocateLoadBalancerNodePorts: false`: no node port rule, the ingress IP is captured."""
    nat = build(lb_service(node_port=None, allocateLoadBalancerNodePorts=False)).tables["nat"]
    assert nat[rules.NODEPORTS] == []
    assert any(f"-d {VIP}/32" in rule and rule.endswith(EXT) for rule in nat[rules.SERVICES])


def test_source_ranges_go_through_the_fw_chain_and_the_rest_is_dropped_in_filter() -> None:
    ruleset = build(lb_service(loadBalancerSourceRanges=["192.0.2.10/32", "198.51.100.0/24"]))
    nat, filter_ = ruleset.tables["nat"], ruleset.tables["filter"]
    assert f'-d {VIP}/32 -p tcp -m comment --comment "default/web:http loadbalancer IP" ' \
           f"-m tcp --dport 80 -j {FW}" in nat[rules.SERVICES]  # fmt: skip
    assert nat[FW] == [
        f'-m comment --comment "default/web:http loadbalancer IP" -s 192.0.2.10/32 -j {EXT}',
        f'-m comment --comment "default/web:http loadbalancer IP" -s 198.51.100.0/24 -j {EXT}',
        '-m comment --comment "other traffic to default/web:http will be dropped by '
        'MINIK8S-PROXY-FIREWALL"',
    ]
    assert filter_[rules.PROXY_FIREWALL] == [
        f'-d {VIP}/32 -p tcp -m comment --comment "default/web:http traffic not accepted by '
        f'{FW}" -m tcp --dport 80 -j DROP'
    ]
    # node ports are not subject to the source ranges (as in Kubernetes)
    assert nat[rules.NODEPORTS][0].endswith(f"-j {EXT}")


def test_source_ranges_from_the_annotation_and_normalised() -> None:
    annotation = {"service.beta.kubernetes.io/load-balancer-source-ranges": "10.1.2.3/8, x"}
    nat = build(lb_service(annotations=annotation)).tables["nat"]
    assert nat[FW][0].endswith(f"-s 10.0.0.0/8 -j {EXT}") and len(nat[FW]) == 2  # x dropped


def test_local_policy_sends_external_traffic_to_local_endpoints_only() -> None:
    service = lb_service(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    ruleset = build(service)
    nat, filter_ = ruleset.tables["nat"], ruleset.tables["filter"]
    for_ = "for default/web:http external destinations"
    assert nat[EXT] == [
        f'-s 10.244.0.0/16 -m comment --comment "pod traffic {for_}" -j {SVC}',
        f'-m comment --comment "masquerade LOCAL traffic {for_}" -m addrtype --src-type LOCAL '
        f"-j {rules.MARK_MASQ}",
        f'-m comment --comment "route LOCAL traffic {for_}" -m addrtype --src-type LOCAL -j {SVC}',
        f"-j {SVL}",
    ]
    assert nat[SVL] == [  # only node-1's endpoint, no masquerade, accepted by MINIK8S-FORWARD
        '-m comment --comment "accept default/web:http traffic to local endpoints" '
        "-j MARK --or-mark 0x2000",
        f"-m comment --comment default/web:http -j {SEP_2}",
    ]
    assert set(nat[SVC][1:]) == {  # cluster IP traffic still reaches every endpoint
        f"-m comment --comment default/web:http -m statistic --mode random --probability "
        f"0.5000000000 -j {SEP_2}",
        f"-m comment --comment default/web:http -j {SEP_3}",
    }
    assert filter_[rules.NODEPORTS] == [
        '-m comment --comment "default/web:http health check node port" -p tcp -m tcp '
        "--dport 32000 -j ACCEPT"
    ]
    assert filter_[rules.EXTERNAL_SERVICES] == []
    assert any("0x2000/0x2000 -j ACCEPT" in rule for rule in filter_[rules.FORWARD])


def test_local_policy_without_a_local_endpoint_drops_external_traffic() -> None:
    service = lb_service(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    ruleset = build(service, endpoints(("10.244.1.3", "node-2")))
    nat, filter_ = ruleset.tables["nat"], ruleset.tables["filter"]
    assert SVL not in nat and not nat[EXT][-1].endswith(SVL)  # pods and the node still get in
    comment = '-m comment --comment "default/web:http has no local endpoints"'
    assert filter_[rules.EXTERNAL_SERVICES] == [
        f"-d {VIP}/32 -p tcp {comment} -m tcp --dport 80 -j DROP",
        f"{comment} -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j DROP",
    ]


def test_local_policy_falls_back_to_this_nodes_terminating_endpoints() -> None:
    """KEP-1669: a node whose endpoints are all terminating (drained) still serves its
    external traffic with them while they serve, though others are ready elsewhere; cluster
    traffic goes to the ready ones only."""
    service = lb_service(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    draining = endpoint("10.244.1.2", "node-1", ready=False, serving=True, terminating=True)
    slice_ = endpoint_slice("web", [draining, endpoint("10.244.1.3", "node-2")])
    nat = rules.build_rules([service], [slice_], "node-1", OPTIONS).tables["nat"]
    assert nat[SVC][1:] == [f"-m comment --comment default/web:http -j {SEP_3}"]
    assert nat[SVL][-1] == f"-m comment --comment default/web:http -j {SEP_2}"
    assert nat[SEP_2][-1].endswith("DNAT --to-destination 10.244.1.2:8080")
    gone = endpoint("10.244.1.2", "node-1", ready=False, serving=False, terminating=True)
    slice_["endpoints"][0] = gone  # no longer serving: the node drops external traffic
    nat = rules.build_rules([service], [slice_], "node-1", OPTIONS).tables["nat"]
    assert SVL not in nat and SEP_2 not in nat
    counts = healthcheck.local_endpoint_counts([slice_], {("default", "web"): 1}, "node-1")
    assert counts == {("default", "web"): 0}  # the health check counts ready ones only


def test_no_endpoints_rejects_the_ingress_ip_and_keeps_the_health_check_port_open() -> None:
    service = lb_service(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    ruleset = build(service, endpoints())
    filter_ = ruleset.tables["filter"]
    reject = "-j REJECT --reject-with icmp-port-unreachable"
    assert f'-d {VIP}/32 -p tcp -m comment --comment "default/web:http has no endpoints" ' \
           f"-m tcp --dport 80 {reject}" in filter_[rules.EXTERNAL_SERVICES]  # fmt: skip
    assert len(filter_[rules.NODEPORTS]) == 1
    assert not [c for c in ruleset.tables["nat"] if c.startswith(rules.EXT_PREFIX)]


def test_proxy_mode_ingress_and_pending_services_capture_nothing() -> None:
    proxied = lb_service()
    proxied["status"]["loadBalancer"]["ingress"][0]["ipMode"] = "Proxy"
    for service in (proxied, lb_service(ip=None)):
        nat = build(service).tables["nat"]
        assert not any("loadbalancer IP" in rule for rule in nat[rules.SERVICES])


def test_chain_levels_keep_every_jump_downwards() -> None:
    service = lb_service(externalTrafficPolicy="Local", loadBalancerSourceRanges=["10.0.0.0/8"])
    desired = restore.flatten(build(service))
    for (_, chain), chain_rules in desired.items():
        for target in restore._targets(chain_rules):
            assert rules.chain_level(target) < rules.chain_level(chain), (chain, target)


def many_lb(n: int, per: int, local_every: int = 3) -> dict[restore.ChainKey, tuple[str, ...]]:
    services, eps = [], []
    for i in range(n):
        service = lb_service(ip=f"203.0.113.{i + 1}", node_port=30000 + i,
                             externalTrafficPolicy="Local" if i % local_every == 0 else "Cluster",
                             loadBalancerSourceRanges=["10.0.0.0/8"] if i % 2 else [])  # fmt: skip
        service["metadata"]["name"] = f"s{i}"
        service["spec"]["clusterIP"] = f"10.96.1.{i + 1}"
        services.append(service)
        addresses = [(f"10.244.{i}.{j + 1}", f"node-{j % 2 + 1}") for j in range(per)]
        eps.append(endpoints(*addresses, service=f"s{i}"))
    return restore.flatten(rules.build_rules(services, eps, "node-1", OPTIONS))


def test_a_large_staged_sync_of_load_balancers_stays_consistent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(restore, "MIN_RULES_PER_CALL", 10)
    old, new = many_lb(30, 3), many_lb(30, 4)
    stages = restore.plan(new, {}, set(old), budget=20, parallel=2)
    assert len(stages) > 2
    assert ours(simulate(stages, old)) == {key: list(value) for key, value in new.items()}


def test_streamed_groups_carry_the_external_chains_of_their_port() -> None:
    services = [lb_service(externalTrafficPolicy="Local", loadBalancerSourceRanges=["10.0.0.0/8"])]
    builder = rules.Builder(services, [BOTH], OPTIONS)
    groups = list(builder.groups())
    assert {chain for chain, _ in groups[0]} == {SVC, SEP_2, SEP_3, EXT, SVL, FW}
    steps = list(restore.service_transactions(groups, budget=20))
    leaves = {key: value for key, value in restore.flatten(builder.rules).items()
              if rules.chain_level(key[1]) == 0}  # fmt: skip
    simulate([[[step] for step in steps]], leaves)  # complete on their own


# --- health check node ports ---------------------------------------------------------------


def test_health_check_ports_and_local_endpoint_counts() -> None:
    local = lb_service(externalTrafficPolicy="Local", healthCheckNodePort=32000)
    cluster = lb_service(healthCheckNodePort=32001)  # not needed: Cluster policy
    cluster["metadata"] = {"namespace": "default", "name": "other"}
    ports = healthcheck.health_check_ports([local, cluster])
    assert ports == {("default", "web"): 32000}
    assert healthcheck.local_endpoint_counts([BOTH], ports, "node-1") == {("default", "web"): 1}
    assert healthcheck.local_endpoint_counts([BOTH], ports, "node-3") == {("default", "web"): 0}
    assert healthcheck.local_endpoint_counts([], ports, "node-1") == {("default", "web"): 0}


def test_health_check_answers_like_kube_proxy() -> None:
    server = healthcheck.ServiceHealthServer()
    server._counts = {("default", "web"): 2}
    code, body = server.answer(("default", "web"))
    assert code == 200
    assert body == (b'{\n\t"service": {\n\t\t"namespace": "default",\n\t\t"name": "web"\n\t},\n'
                    b'\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}')  # fmt: skip
    assert server.answer(("default", "none"))[0] == 503
    server.proxy_healthy = lambda: False
    assert server.answer(("default", "web"))[0] == 503
