"""The apiserver's side of LoadBalancer Services (pure): defaults, validation with Kubernetes'
messages, health check node ports, fields dropped when the type changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api import defaults, errors, validation
from minik8s.api import resources as rt
from minik8s.apiserver import allocators, service_strategy

pytestmark = pytest.mark.unit

RANGE = (30000, 30100)


def lb(**spec: Any) -> dict[str, Any]:
    meta = {"name": "web", "namespace": "default"}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                     "ports": [{"port": 80}], **spec}}  # fmt: skip


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    defaults.apply_defaults(rt.SERVICES, obj)
    return obj


def causes(obj: dict[str, Any]) -> dict[str, str]:
    return {c.field: c.message for c in validation.validate_create(rt.SERVICES, defaulted(obj))}


def test_defaults_like_kubernetes() -> None:
    spec = defaulted(lb())["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert spec["externalTrafficPolicy"] == "Cluster"
    status = defaulted({**lb(), "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}})
    assert status["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.1", "ipMode": "VIP"}]


def test_load_balancer_fields_are_validated_with_kubernetes_messages() -> None:
    assert causes(lb(loadBalancerClass="example.com/lb", loadBalancerSourceRanges=["10.0.0.0/8"],
                     loadBalancerIP="203.0.113.9")) == {}  # fmt: skip
    assert causes(lb(loadBalancerClass="not a class!"))["spec.loadBalancerClass"].startswith(
        'Invalid value: "not a class!": name part must consist of'
    )
    only_lb = "Forbidden: may only be used when `type` is 'LoadBalancer'"
    cluster_ip = {"type": "ClusterIP", "selector": {"a": "b"}, "ports": [{"port": 80}]}
    found = causes({"metadata": {"name": "x", "namespace": "default"}, "spec": {
        **cluster_ip, "loadBalancerClass": "a/b", "allocateLoadBalancerNodePorts": True,
        "loadBalancerSourceRanges": ["10.0.0.0/8"], "healthCheckNodePort": 30005}})  # fmt: skip
    assert found == {
        "spec.loadBalancerClass": only_lb,
        "spec.allocateLoadBalancerNodePorts": only_lb,
        "spec.LoadBalancerSourceRanges": only_lb,
        "spec.healthCheckNodePort": "Forbidden: may only be set when `type` is 'LoadBalancer' "
        "and `externalTrafficPolicy` is 'Local'",
    }
    assert causes(lb(loadBalancerSourceRanges=["10.0.0.0/8", "nope"])) == {
        "spec.LoadBalancerSourceRanges": 'Invalid value: "[10.0.0.0/8 nope]": must be a list of '
        "IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "
    }
    annotated = lb()
    annotated["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/33"
    }
    assert list(causes(annotated)) == [
        "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]"
    ]
    assert "spec.loadBalancerIP" in causes(lb(loadBalancerIP="300.1.1.1"))


def test_load_balancer_class_may_not_change() -> None:
    old, new = defaulted(lb(loadBalancerClass="a.io/x")), defaulted(lb(loadBalancerClass="a.io/y"))
    found = {c.field: c.message for c in validation.validate_update(rt.SERVICES, new, old)}
    assert found == {"spec.loadBalancerClass": 'Invalid value: "a.io/y": may not change once set'}


def test_status_ingress_is_validated() -> None:
    old = defaulted(lb())

    def status_causes(ingress: list[dict[str, Any]]) -> dict[str, str]:
        new = {**old, "status": {"loadBalancer": {"ingress": ingress}}}
        return {c.field: c.message
                for c in validation.validate_status_update(rt.SERVICES, new, old)}  # fmt: skip

    assert status_causes([{"ip": "203.0.113.1", "ipMode": "VIP"}]) == {}
    assert status_causes([{"hostname": "lb.example.com"}]) == {}
    found = status_causes([{"ip": "x", "ipMode": "VIP"}, {"hostname": "1.2.3.4"},
                           {"ip": "203.0.113.2", "ipMode": "Magic"}])  # fmt: skip
    assert set(found) == {"status.loadBalancer.ingress[0].ip",
                          "status.loadBalancer.ingress[1].hostname",
                          "status.loadBalancer.ingress[2].ipMode"}  # fmt: skip


def assign(svc: dict[str, Any], others: list[dict[str, Any]], old: Any = None) -> dict[str, Any]:
    svc = defaulted(svc)
    allocators.assign_service_addresses(svc, others, "10.96.0.0/16", RANGE, old=old)
    return svc


def test_health_check_node_port_for_local_policy_only_kept_and_released() -> None:
    local = assign(lb(externalTrafficPolicy="Local"), [])
    port = local["spec"]["healthCheckNodePort"]
    assert RANGE[0] <= port <= RANGE[1] and port != local["spec"]["ports"][0]["nodePort"]
    assert "healthCheckNodePort" not in assign(lb(), [])["spec"]
    again = assign(lb(externalTrafficPolicy="Local"), [], old=local)
    assert again["spec"]["healthCheckNodePort"] == port  # kept
    with pytest.raises(errors.Invalid) as info:  # taken by the first one
        assign(lb(externalTrafficPolicy="Local", healthCheckNodePort=port), [local])
    assert info.value.causes[0].message.endswith("provided port is already allocated")
    with pytest.raises(errors.Invalid):
        assign(lb(externalTrafficPolicy="Local", healthCheckNodePort=port + 1), [], old=local)
    # Local → Cluster: the update drops the port it did not change
    update = copy.deepcopy(local)
    update["spec"]["externalTrafficPolicy"] = "Cluster"
    service_strategy.drop_type_dependent_fields(update, local)
    assert "healthCheckNodePort" not in assign(update, [], old=local)["spec"]


def test_allocate_load_balancer_node_ports_false_allocates_none() -> None:
    ports = [{"port": 80}, {"name": "b", "port": 81, "nodePort": 30042}]
    svc = assign(lb(allocateLoadBalancerNodePorts=False, ports=ports), [])
    assert [p.get("nodePort") for p in svc["spec"]["ports"]] == [None, 30042]


def test_changing_the_type_away_drops_what_the_apiserver_set_and_the_status() -> None:
    old = assign(lb(externalTrafficPolicy="Local", loadBalancerClass="a.io/x"), [])
    old["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.1", "ipMode": "VIP"}]}}
    new = copy.deepcopy(old)
    new["spec"]["type"] = "ClusterIP"
    service_strategy.drop_type_dependent_fields(new, old)
    spec = new["spec"]
    for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass", "healthCheckNodePort",
                  "externalTrafficPolicy"):  # fmt: skip
        assert field not in spec, field
    assert "nodePort" not in spec["ports"][0]
    assert new["status"]["loadBalancer"] == {}
    assert validation.validate_update(rt.SERVICES, defaulted(new), old) == []


def test_get_and_describe_show_the_external_ip_like_kubectl() -> None:
    from datetime import UTC, datetime

    from minik8s.cli.minikctl import describers
    from minik8s.printers import tables

    svc = assign(lb(externalTrafficPolicy="Local", loadBalancerSourceRanges=["10.0.0.0/8"]), [])
    svc["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    now = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    pending = tables.to_table(rt.SERVICES, [svc], now=now)["rows"][0]["cells"]
    assert pending[3] == "<pending>"
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.1", "ipMode": "VIP"}]}}
    cells = tables.to_table(rt.SERVICES, [svc], now=now)["rows"][0]["cells"]
    assert cells[1:4] == ["LoadBalancer", svc["spec"]["clusterIP"], "203.0.113.1"]
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert cells[4] == f"80:{node_port}/TCP"
    lines = describers.describe_service(svc, {})
    assert "LoadBalancer Ingress:\t203.0.113.1 (VIP)" in lines
    assert "External Traffic Policy:\tLocal" in lines
    assert f"HealthCheck NodePort:\t{svc['spec']['healthCheckNodePort']}" in lines
    assert "LoadBalancer Source Ranges:\t10.0.0.0/8" in lines
