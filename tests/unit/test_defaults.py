from typing import Any

import pytest

from minik8s.api import defaults
from minik8s.api import resources as rt


def nginx_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [
            {"containerPort": 80}]}]},
    }  # fmt: skip


def test_pod_spec_defaults() -> None:
    pod = nginx_pod()
    defaults.apply_defaults(rt.PODS, pod)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["resources"] == {}
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_defaults_never_overwrite_what_the_user_wrote() -> None:
    pod = nginx_pod()
    pod["spec"]["restartPolicy"] = "Never"
    pod["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    pod["status"] = {"phase": "Running"}
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["status"] == {"phase": "Running"}


def test_null_counts_as_absent() -> None:
    pod = nginx_pod()
    pod["spec"]["dnsPolicy"] = None
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["spec"]["dnsPolicy"] == "ClusterFirst"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/nginx", "Always"),
        ("localhost:5000/nginx:v1", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("busybox:latest@sha256:" + "b" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = nginx_pod()
    pod["spec"]["containers"][0]["image"] = image
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_probe_defaults() -> None:
    pod = nginx_pod()
    container = pod["spec"]["containers"][0]
    container["livenessProbe"] = {"httpGet": {"port": 80}}
    container["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 3}
    defaults.apply_defaults(rt.PODS, pod)
    assert container["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
    }  # fmt: skip
    assert container["readinessProbe"]["periodSeconds"] == 3
    assert container["readinessProbe"]["timeoutSeconds"] == 1


def test_env_field_ref_and_volume_defaults() -> None:
    pod = nginx_pod()
    pod["spec"]["containers"][0]["env"] = [
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    pod["spec"]["volumes"] = [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]
    defaults.apply_defaults(rt.PODS, pod)
    field_ref = pod["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]
    assert field_ref["apiVersion"] == "v1"
    assert pod["spec"]["volumes"][0] == {"name": "scratch", "emptyDir": {}}
    assert pod["spec"]["volumes"][1]["configMap"]["defaultMode"] == 0o644


def test_host_network_ports_default_host_port() -> None:
    pod = nginx_pod()
    pod["spec"]["hostNetwork"] = True
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 80


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
         "Guaranteed"),
        ({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
         "Burstable"),
        ({"limits": {"cpu": "1"}}, "Burstable"),
        ({"requests": {"cpu": "0"}}, "BestEffort"),
    ],
)  # fmt: skip
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    pod = nginx_pod()
    pod["spec"]["containers"][0]["resources"] = resources
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["status"]["qosClass"] == qos


def test_limits_become_requests() -> None:
    pod = nginx_pod()
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}, "requests": {}}
    defaults.apply_defaults(rt.PODS, pod)
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}


def test_service_defaults() -> None:
    service: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}]},
    }  # fmt: skip
    defaults.apply_defaults(rt.SERVICES, service)
    spec = service["spec"]
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert spec["ports"][1]["targetPort"] == "https"


def test_cluster_ip_service_defaults() -> None:
    service: dict[str, Any] = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    defaults.apply_defaults(rt.SERVICES, service)
    assert service["spec"]["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in service["spec"]


def test_client_ip_affinity_gets_a_timeout() -> None:
    service: dict[str, Any] = {"spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}
    defaults.apply_defaults(rt.SERVICES, service)
    assert service["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
    }  # fmt: skip


def test_deployment_defaults() -> None:
    obj = deployment()
    defaults.apply_defaults(rt.DEPLOYMENTS, obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}
    }  # fmt: skip
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template_spec = spec["template"]["spec"]
    assert template_spec["restartPolicy"] == "Always"
    assert template_spec["containers"][0]["imagePullPolicy"] == "Always"
    assert "priority" not in template_spec
    assert "selector" in spec and spec["selector"] == {"matchLabels": {"app": "web"}}


def test_recreate_strategy_gets_no_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    defaults.apply_defaults(rt.DEPLOYMENTS, obj)
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_replica_set_defaults() -> None:
    obj = deployment()
    defaults.apply_defaults(rt.REPLICASETS, obj)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "strategy" not in obj["spec"]


def test_namespace_defaults() -> None:
    namespace: dict[str, Any] = {"metadata": {"name": "team-a"}}
    defaults.apply_defaults(rt.NAMESPACES, namespace)
    assert namespace["spec"] == {"finalizers": ["kubernetes"]}
    assert namespace["status"] == {"phase": "Active"}
    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}


def test_node_allocatable_defaults_to_capacity() -> None:
    node: dict[str, Any] = {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4"}}}
    defaults.apply_defaults(rt.NODES, node)
    assert node["status"]["allocatable"] == {"cpu": "4"}


def test_endpoint_ports_default_protocol() -> None:
    endpoints: dict[str, Any] = {"subsets": [{"ports": [{"port": 80}]}]}
    defaults.apply_defaults(rt.ENDPOINTS, endpoints)
    assert endpoints["subsets"][0]["ports"][0]["protocol"] == "TCP"


@pytest.mark.parametrize("resource", [rt.EVENTS, rt.LEASES, rt.CONFIGMAPS])
def test_kinds_without_defaults_are_untouched(resource: rt.ResourceType) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    defaults.apply_defaults(resource, obj)
    assert obj == {"metadata": {"name": "x"}}


@pytest.mark.parametrize("resource", rt.RESOURCES)
def test_malformed_objects_do_not_crash(resource: rt.ResourceType) -> None:
    for obj in ({"spec": None}, {"spec": "x"}, {"spec": {"containers": "x", "template": 3}}, {}):
        defaults.apply_defaults(resource, obj)
