import copy
from collections.abc import Callable
from typing import Any

import pytest

from minik8s.api import defaults, validation
from minik8s.api import resources as rt
from minik8s.api.errors import Cause
from minik8s.api.models import MODELS, apps, core

Obj = dict[str, Any]
DELETE = object()

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
UNSUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
NOT_FOUND = "FieldValueNotFound"


# --- valid seed objects -----------------------------------------------------------------


def nginx_pod() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": {
            "containers": [{
                "name": "nginx",
                "image": "nginx:1.25",
                "ports": [{"name": "http", "containerPort": 80}],
                "env": [{"name": "POD_IP",
                         "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                "livenessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 3},
                "volumeMounts": [{"name": "html", "mountPath": "/usr/share/nginx/html"}],
            }],
            "volumes": [{"name": "html", "emptyDir": {}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
        },
    }  # fmt: skip


def web_deployment() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                         "ports": [{"containerPort": 80}]}]},
            },
        },
    }  # fmt: skip


def node_port_service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                      {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
        },
    }  # fmt: skip


def worker_node() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "worker-1", "labels": {"kubernetes.io/hostname": "worker-1"}},
        "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"key": "dedicated", "value": "db",
                                                         "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"kubeletVersion": "v1.30.0-minik8s", "machineID": "abc"},
        },
    }  # fmt: skip


def node_lease() -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "worker-1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "worker-1", "leaseDurationSeconds": 40,
                 "renewTime": "2024-05-01T10:00:00.000000Z", "leaseTransitions": 0},
    }  # fmt: skip


def other_seeds() -> list[tuple[rt.ResourceType, Obj]]:
    replica_set = web_deployment()
    del replica_set["spec"]["strategy"]
    return [
        (rt.REPLICASETS, replica_set),
        (rt.NAMESPACES, {"metadata": {"name": "team-a"}}),
        (rt.CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": "default"},
                         "data": {"app.conf": "x=1", "KEY_2": "v"}}),
        (rt.EVENTS, {"metadata": {"name": "nginx.17a", "namespace": "default"},
                     "involvedObject": {"kind": "Pod", "name": "nginx", "namespace": "default"},
                     "reason": "Scheduled", "type": "Normal", "count": 1}),
        (rt.ENDPOINTS, {"metadata": {"name": "web", "namespace": "default"},
                        "subsets": [{"addresses": [{"ip": "10.244.1.5"}],
                                     "ports": [{"port": 8080}]}]}),
    ]  # fmt: skip


SEEDS: list[tuple[rt.ResourceType, Callable[[], Obj]]] = [
    (rt.PODS, nginx_pod),
    (rt.DEPLOYMENTS, web_deployment),
    (rt.SERVICES, node_port_service),
    (rt.NODES, worker_node),
    (rt.LEASES, node_lease),
]


@pytest.mark.parametrize(("resource", "seed"), SEEDS, ids=[r.kind for r, _ in SEEDS])
@pytest.mark.parametrize("defaulted", [False, True])
def test_seed_objects_are_valid(
    resource: rt.ResourceType, seed: Callable[[], Obj], defaulted: bool
) -> None:
    obj = seed()
    if defaulted:
        defaults.apply_defaults(resource, obj)
    assert validation.validate_create(resource, obj) == []
    assert validation.validate_update(resource, obj, copy.deepcopy(obj)) == []


@pytest.mark.parametrize(("resource", "obj"), other_seeds(), ids=lambda v: getattr(v, "kind", ""))
def test_other_valid_objects(resource: rt.ResourceType, obj: Obj) -> None:
    assert validation.validate_create(resource, obj) == []
    defaults.apply_defaults(resource, obj)
    assert validation.validate_create(resource, obj) == []


# --- invalid objects --------------------------------------------------------------------


def changed(seed: Callable[[], Obj], *edits: tuple[str, Any]) -> Obj:
    """A fresh seed object with `edits` applied."""
    return edit(seed(), *edits)


def edit(obj: Obj, *edits: tuple[str, Any]) -> Obj:
    """Apply each `path = value` (path parts are keys or list indexes) and return `obj`."""
    for path, value in edits:
        *parents, last = path.split(".")
        target: Any = obj
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        slot: Any = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[slot]
        else:
            target[slot] = value
    return obj


C0 = "spec.containers.0"
TEMPLATE = "spec.template.spec"
AFFINITY = "spec.affinity"
REQUIRED_TERMS = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED_TERMS = "preferredDuringSchedulingIgnoredDuringExecution"

BAD_OBJECTS: list[tuple[str, rt.ResourceType, Obj, str, str, str]] = [
    # id, resource, object, field, reason, message fragment
    ("pod-no-name", rt.PODS, changed(nginx_pod, ("metadata.name", DELETE)),
     "metadata.name", REQUIRED, "name or generateName is required"),
    ("pod-bad-name", rt.PODS, changed(nginx_pod, ("metadata.name", "Nginx_")),
     "metadata.name", INVALID, "a lowercase RFC 1123 subdomain"),
    ("pod-no-namespace", rt.PODS, changed(nginx_pod, ("metadata.namespace", DELETE)),
     "metadata.namespace", REQUIRED, "Required value"),
    ("label-key", rt.PODS, changed(nginx_pod, ("metadata.labels", {"a b": "x"})),
     "metadata.labels", INVALID, "name part must consist of alphanumeric characters"),
    ("label-value", rt.PODS, changed(nginx_pod, ("metadata.labels", {"app": "x" * 64})),
     "metadata.labels", INVALID, "must be no more than 63 characters"),
    ("label-value-type", rt.PODS, changed(nginx_pod, ("metadata.labels", {"app": 1})),
     "metadata.labels[app]", INVALID, "Invalid value: 1: must be a string"),
    ("annotation-key", rt.PODS, changed(nginx_pod, ("metadata.annotations", {"-x": "1"})),
     "metadata.annotations", INVALID, "name part must consist"),
    ("annotations-size", rt.PODS, changed(nginx_pod, ("metadata.annotations",
                                                      {"big": "x" * 262144})),
     "metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes"),
    ("no-containers", rt.PODS, changed(nginx_pod, ("spec.containers", [])),
     "spec.containers", REQUIRED, "Required value"),
    ("container-name", rt.PODS, changed(nginx_pod, (f"{C0}.name", "Web_1")),
     "spec.containers[0].name", INVALID, "a lowercase RFC 1123 label"),
    ("container-name-dup", rt.PODS, changed(nginx_pod, ("spec.initContainers",
                                                        [{"name": "nginx", "image": "busybox"}])),
     "spec.containers[0].name", DUPLICATE, 'Duplicate value: "nginx"'),
    ("no-image", rt.PODS, changed(nginx_pod, (f"{C0}.image", DELETE)),
     "spec.containers[0].image", REQUIRED, "Required value"),
    ("port-range", rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.containerPort", 70000)),
     "spec.containers[0].ports[0].containerPort", INVALID,
     "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("port-type", rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.containerPort", "abc")),
     "spec.containers[0].ports[0].containerPort", INVALID,
     'Invalid value: "abc": must be an integer'),
    ("host-port", rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.hostPort", 99999)),
     "spec.containers[0].ports[0].hostPort", INVALID, "must be between 1 and 65535"),
    ("port-protocol", rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.protocol", "HTTP")),
     "spec.containers[0].ports[0].protocol", UNSUPPORTED,
     'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
    ("port-name", rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.name", "http--x")),
     "spec.containers[0].ports[0].name", INVALID, "must not contain consecutive hyphens"),
    ("restart-policy", rt.PODS, changed(nginx_pod, ("spec.restartPolicy", "Sometimes")),
     "spec.restartPolicy", UNSUPPORTED, '"Always", "OnFailure", "Never"'),
    ("pull-policy", rt.PODS, changed(nginx_pod, (f"{C0}.imagePullPolicy", "Maybe")),
     "spec.containers[0].imagePullPolicy", UNSUPPORTED, '"Always", "IfNotPresent", "Never"'),
    ("dns-policy", rt.PODS, changed(nginx_pod, ("spec.dnsPolicy", "Custom")),
     "spec.dnsPolicy", UNSUPPORTED, "ClusterFirstWithHostNet"),
    ("quantity", rt.PODS, changed(nginx_pod, (f"{C0}.resources.requests.cpu", "lots")),
     "spec.containers[0].resources.requests[cpu]", INVALID,
     "quantities must match the regular expression"),
    ("quantity-type", rt.PODS, changed(nginx_pod, (f"{C0}.resources.limits.cpu", True)),
     "spec.containers[0].resources.limits[cpu]", INVALID, "must be a quantity"),
    ("request-over-limit", rt.PODS, changed(nginx_pod, (f"{C0}.resources.requests.cpu", "1")),
     "spec.containers[0].resources.requests", INVALID,
     'Invalid value: "1": must be less than or equal to cpu limit of 500m'),
    ("resource-name", rt.PODS, changed(nginx_pod, (f"{C0}.resources.limits.gpu", "1")),
     "spec.containers[0].resources.limits[gpu]", INVALID, "must be a standard resource"),
    ("probe-no-handler", rt.PODS, changed(nginx_pod, (f"{C0}.livenessProbe", {"periodSeconds": 5})),
     "spec.containers[0].livenessProbe", REQUIRED, "must specify a handler type"),
    ("probe-two-handlers", rt.PODS, changed(nginx_pod, (f"{C0}.livenessProbe.exec",
                                                        {"command": ["true"]})),
     "spec.containers[0].livenessProbe.tcpSocket", FORBIDDEN,
     "may not specify more than 1 handler type"),
    ("probe-threshold", rt.PODS, changed(nginx_pod, (f"{C0}.livenessProbe.successThreshold", 2)),
     "spec.containers[0].livenessProbe.successThreshold", INVALID, "must be 1"),
    ("probe-port", rt.PODS, changed(nginx_pod, (f"{C0}.readinessProbe.httpGet.port", 0)),
     "spec.containers[0].readinessProbe.httpGet.port", INVALID, "must be between 1 and 65535"),
    ("hook-no-handler", rt.PODS, changed(nginx_pod, (f"{C0}.lifecycle", {"preStop": {}})),
     "spec.containers[0].lifecycle.preStop", REQUIRED, "must specify a handler type"),
    ("hook-sleep-over-grace", rt.PODS, changed(
        nginx_pod, ("spec.terminationGracePeriodSeconds", 5),
        (f"{C0}.lifecycle", {"preStop": {"sleep": {"seconds": 10}}})),
     "spec.containers[0].lifecycle.preStop.sleep", INVALID,
     "must be greater than 0 and less than terminationGracePeriodSeconds (5)"),
    ("app-restart-policy", rt.PODS, changed(nginx_pod, (f"{C0}.restartPolicy", "Always")),
     "spec.containers[0].restartPolicy", FORBIDDEN, "may not be set for non-init containers"),
    ("init-hook", rt.PODS, changed(nginx_pod, ("spec.initContainers", [
        {"name": "i", "image": "busybox", "lifecycle": {"postStart": {"sleep": {"seconds": 1}}}},
    ])), "spec.initContainers[0].lifecycle", FORBIDDEN,
     "may not be set for init containers without restartPolicy=Always"),
    ("init-restart-policy", rt.PODS, changed(nginx_pod, ("spec.initContainers", [
        {"name": "i", "image": "busybox", "restartPolicy": "OnFailure"},
    ])), "spec.initContainers[0].restartPolicy", UNSUPPORTED, '"Always"'),
    ("env-name", rt.PODS, changed(nginx_pod, (f"{C0}.env.0.name", "1BAD")),
     "spec.containers[0].env[0].name", INVALID, "a valid environment variable name"),
    ("env-field-path", rt.PODS, changed(nginx_pod, (f"{C0}.env.0.valueFrom.fieldRef.fieldPath",
                                                    "spec.nope")),
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", UNSUPPORTED, '"metadata.name"'),
    ("env-config-map-key", rt.PODS, changed(nginx_pod, (f"{C0}.env.0.valueFrom",
                                                        {"configMapKeyRef": {"name": "c",
                                                                             "key": "a b"}})),
     "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", INVALID, "a valid config key"),
    ("volume-two-sources", rt.PODS, changed(nginx_pod, ("spec.volumes.0.hostPath",
                                                        {"path": "/tmp"})),
     "spec.volumes[0].emptyDir", FORBIDDEN, "may not specify more than 1 volume type"),
    ("volume-no-source", rt.PODS, changed(nginx_pod, ("spec.volumes.0.emptyDir", DELETE)),
     "spec.volumes[0]", REQUIRED, "must specify a volume type"),
    ("volume-dup", rt.PODS, changed(nginx_pod, ("spec.volumes",
                                                [{"name": "html", "emptyDir": {}}] * 2)),
     "spec.volumes[1].name", DUPLICATE, 'Duplicate value: "html"'),
    ("mount-unknown-volume", rt.PODS, changed(nginx_pod, (f"{C0}.volumeMounts.0.name", "data")),
     "spec.containers[0].volumeMounts[0].name", NOT_FOUND, 'Not found: "data"'),
    ("toleration-operator", rt.PODS, changed(nginx_pod, ("spec.tolerations.0.operator", "Maybe")),
     "spec.tolerations[0].operator", UNSUPPORTED, '"Equal", "Exists"'),
    ("toleration-effect", rt.PODS, changed(nginx_pod, ("spec.tolerations.0.effect", "Never")),
     "spec.tolerations[0].effect", UNSUPPORTED, '"NoSchedule", "PreferNoSchedule", "NoExecute"'),
    ("node-selector", rt.PODS, changed(nginx_pod, ("spec.nodeSelector", {"zone": "a b"})),
     "spec.nodeSelector", INVALID, "a valid label must be an empty string"),
    ("affinity-no-terms", rt.PODS, changed(nginx_pod, (AFFINITY, {"nodeAffinity": {
        REQUIRED_TERMS: {"nodeSelectorTerms": []}}})),
     f"spec.affinity.nodeAffinity.{REQUIRED_TERMS}.nodeSelectorTerms", REQUIRED,
     "must have at least one node selector term"),
    ("affinity-operator", rt.PODS, changed(nginx_pod, (AFFINITY, {"nodeAffinity": {
        REQUIRED_TERMS: {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "Near", "values": ["a"]}]}]}}})),
     f"spec.affinity.nodeAffinity.{REQUIRED_TERMS}.nodeSelectorTerms[0].matchExpressions[0]"
     ".operator", INVALID, "not a valid selector operator"),
    ("affinity-weight", rt.PODS, changed(nginx_pod, (AFFINITY, {"nodeAffinity": {
        PREFERRED_TERMS: [{"weight": 0, "preference": {}}]}})),
     f"spec.affinity.nodeAffinity.{PREFERRED_TERMS}[0].weight", INVALID,
     "must be in the range 1-100"),
    ("host-network-port", rt.PODS, changed(nginx_pod, ("spec.hostNetwork", True),
                                           (f"{C0}.ports.0.hostPort", 8080)),
     "spec.containers[0].ports[0].hostPort", INVALID, "must match `containerPort`"),
    ("unknown-top-level-type", rt.PODS, changed(nginx_pod, ("spec.containers", {"a": 1})),
     "spec.containers", INVALID, "must be an array"),
    # Services
    ("service-name", rt.SERVICES, changed(node_port_service, ("metadata.name", "1web")),
     "metadata.name", INVALID, "a DNS-1035 label must consist of lower case alphanumeric"),
    ("service-no-ports", rt.SERVICES, changed(node_port_service, ("spec.ports", DELETE)),
     "spec.ports", REQUIRED, "Required value"),
    ("service-port", rt.SERVICES, changed(node_port_service, ("spec.ports.0.port", 0)),
     "spec.ports[0].port", INVALID, "must be between 1 and 65535, inclusive"),
    ("service-port-name-missing", rt.SERVICES, changed(node_port_service,
                                                       ("spec.ports.0.name", DELETE)),
     "spec.ports[0].name", REQUIRED, "Required value"),
    ("service-port-name-dup", rt.SERVICES, changed(node_port_service,
                                                   ("spec.ports.1.name", "http")),
     "spec.ports[1].name", DUPLICATE, 'Duplicate value: "http"'),
    ("service-type", rt.SERVICES, changed(node_port_service, ("spec.type", "Internal")),
     "spec.type", UNSUPPORTED, '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    ("external-name-missing", rt.SERVICES, changed(node_port_service, ("spec.type", "ExternalName"),
                                                   ("spec.ports", DELETE)),
     "spec.externalName", REQUIRED, "Required value"),
    ("external-name-bad", rt.SERVICES, changed(node_port_service, ("spec.type", "ExternalName"),
                                               ("spec.ports", DELETE),
                                               ("spec.externalName", "Bad_Name")),
     "spec.externalName", INVALID, "a lowercase RFC 1123 subdomain"),
    ("external-name-cluster-ip", rt.SERVICES, changed(node_port_service,
                                                      ("spec.type", "ExternalName"),
                                                      ("spec.ports", DELETE),
                                                      ("spec.externalName", "db.example.com"),
                                                      ("spec.clusterIP", "10.96.0.5")),
     "spec.clusterIP", FORBIDDEN, "may not be set for ExternalName services"),
    ("node-port-on-cluster-ip", rt.SERVICES, changed(node_port_service, ("spec.type", "ClusterIP")),
     "spec.ports[0].nodePort", FORBIDDEN, "may not be used when `type` is 'ClusterIP'"),
    ("session-affinity", rt.SERVICES, changed(node_port_service,
                                              ("spec.sessionAffinity", "Sticky")),
     "spec.sessionAffinity", UNSUPPORTED, '"ClientIP", "None"'),
    ("cluster-ip", rt.SERVICES, changed(node_port_service, ("spec.clusterIP", "10.0.0")),
     "spec.clusterIP", INVALID, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
    ("target-port", rt.SERVICES, changed(node_port_service, ("spec.ports.1.targetPort", "Web_1")),
     "spec.ports[1].targetPort", INVALID, "must contain only alpha-numeric characters"),
    ("target-port-type", rt.SERVICES, changed(node_port_service, ("spec.ports.1.targetPort", 1.5)),
     "spec.ports[1].targetPort", INVALID, "must be an integer or a string"),
    ("service-selector", rt.SERVICES, changed(node_port_service, ("spec.selector", {"a/b/c": "x"})),
     "spec.selector", INVALID, "a valid label key"),
    # Deployments
    ("deploy-no-selector", rt.DEPLOYMENTS, changed(web_deployment, ("spec.selector", DELETE)),
     "spec.selector", REQUIRED, "Required value"),
    ("deploy-empty-selector", rt.DEPLOYMENTS, changed(web_deployment, ("spec.selector", {})),
     "spec.selector", INVALID, "empty selector is invalid for deployment"),
    ("deploy-selector-mismatch", rt.DEPLOYMENTS,
     changed(web_deployment, ("spec.template.metadata.labels", {"app": "api"})),
     "spec.template.metadata.labels", INVALID,
     'Invalid value: map[string]string{"app":"api"}: `selector` does not match template `labels`'),
    ("deploy-replicas", rt.DEPLOYMENTS, changed(web_deployment, ("spec.replicas", -1)),
     "spec.replicas", INVALID, "Invalid value: -1: must be greater than or equal to 0"),
    ("deploy-zero-zero", rt.DEPLOYMENTS, changed(web_deployment, (
        "spec.strategy.rollingUpdate", {"maxSurge": 0, "maxUnavailable": "0%"})),
     "spec.strategy.rollingUpdate.maxUnavailable", INVALID, "may not be 0 when `maxSurge` is 0"),
    ("deploy-percent", rt.DEPLOYMENTS, changed(web_deployment,
                                               ("spec.strategy.rollingUpdate.maxSurge", "abc%")),
     "spec.strategy.rollingUpdate.maxSurge", INVALID, "a valid percent string"),
    ("deploy-over-100", rt.DEPLOYMENTS, changed(web_deployment, (
        "spec.strategy.rollingUpdate.maxUnavailable", "150%")),
     "spec.strategy.rollingUpdate.maxUnavailable", INVALID, "must not be greater than 100%"),
    ("deploy-strategy-type", rt.DEPLOYMENTS, changed(web_deployment,
                                                     ("spec.strategy.type", "BlueGreen")),
     "spec.strategy.type", UNSUPPORTED, '"Recreate", "RollingUpdate"'),
    ("deploy-recreate-rolling", rt.DEPLOYMENTS, changed(web_deployment,
                                                        ("spec.strategy.type", "Recreate")),
     "spec.strategy.rollingUpdate", FORBIDDEN, "may not be specified when strategy `type`"),
    ("deploy-restart-policy", rt.DEPLOYMENTS, changed(web_deployment,
                                                      (f"{TEMPLATE}.restartPolicy", "Never")),
     "spec.template.spec.restartPolicy", UNSUPPORTED, 'supported values: "Always"'),
    ("deploy-template-image", rt.DEPLOYMENTS, changed(web_deployment,
                                                      (f"{TEMPLATE}.containers.0.image", "")),
     "spec.template.spec.containers[0].image", REQUIRED, "Required value"),
    ("deploy-template-port", rt.DEPLOYMENTS, changed(web_deployment, (
        f"{TEMPLATE}.containers.0.ports.0.containerPort", "80")),
     "spec.template.spec.containers[0].ports[0].containerPort", INVALID, "must be an integer"),
    ("replicaset-mismatch", rt.REPLICASETS, changed(web_deployment, ("spec.strategy", DELETE),
                                                    ("spec.selector.matchLabels.app", "api")),
     "spec.template.metadata.labels", INVALID, "`selector` does not match template `labels`"),
    # Nodes, namespaces, config maps, events, endpoints, leases
    ("node-name", rt.NODES, changed(worker_node, ("metadata.name", "Worker 1")),
     "metadata.name", INVALID, "a lowercase RFC 1123 subdomain"),
    ("node-namespace", rt.NODES, changed(worker_node, ("metadata.namespace", "default")),
     "metadata.namespace", FORBIDDEN, "not allowed on this type"),
    ("node-taint-effect", rt.NODES, changed(worker_node, ("spec.taints.0.effect", "Evict")),
     "spec.taints[0].effect", UNSUPPORTED, '"NoSchedule", "PreferNoSchedule", "NoExecute"'),
    ("node-pod-cidr", rt.NODES, changed(worker_node, ("spec.podCIDR", "10.244.1.0/33")),
     "spec.podCIDR", INVALID, "must be a valid CIDR value"),
    ("node-status-type", rt.NODES, changed(worker_node, ("status.conditions.0.status", True)),
     "status.conditions[0].status", INVALID, "must be a string"),
    ("namespace-name", rt.NAMESPACES, {"metadata": {"name": "team.a"}},
     "metadata.name", INVALID, "must not contain dots"),
    ("config-map-key", rt.CONFIGMAPS, {"metadata": {"name": "c", "namespace": "d"},
                                       "data": {"a b": "1"}},
     "data[a b]", INVALID, "a valid config key must consist of alphanumeric characters"),
    ("event-no-object", rt.EVENTS, {"metadata": {"name": "e", "namespace": "d"}},
     "involvedObject", REQUIRED, "Required value"),
    ("event-namespace", rt.EVENTS, {"metadata": {"name": "e", "namespace": "d"},
                                    "involvedObject": {"kind": "Pod", "namespace": "other"}},
     "involvedObject.namespace", INVALID, "does not match event.namespace"),
    ("endpoints-ip", rt.ENDPOINTS, {"metadata": {"name": "web", "namespace": "d"},
                                    "subsets": [{"addresses": [{"ip": "nope"}]}]},
     "subsets[0].addresses[0].ip", INVALID, "must be a valid IP address"),
    ("lease-duration", rt.LEASES, changed(node_lease, ("spec.leaseDurationSeconds", 0)),
     "spec.leaseDurationSeconds", INVALID, "must be greater than 0"),
    ("lease-transitions", rt.LEASES, changed(node_lease, ("spec.leaseTransitions", -1)),
     "spec.leaseTransitions", INVALID, "must be greater than or equal to 0"),
    ("lease-holder-type", rt.LEASES, changed(node_lease, ("spec.holderIdentity", 5)),
     "spec.holderIdentity", INVALID, "Invalid value: 5: must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "obj", "field", "reason", "fragment"),
    [case[1:] for case in BAD_OBJECTS],
    ids=[case[0] for case in BAD_OBJECTS],
)
def test_invalid_objects(
    resource: rt.ResourceType, obj: Obj, field: str, reason: str, fragment: str
) -> None:
    causes = validation.validate_create(resource, copy.deepcopy(obj))
    matching = [c for c in causes if c.field == field and c.reason == reason]
    assert matching, f"no {reason} on {field} in {causes}"
    assert any(fragment in c.message for c in matching), matching


def test_bad_object_table_is_large_enough() -> None:
    assert len(BAD_OBJECTS) >= 30
    assert len({case[0] for case in BAD_OBJECTS}) == len(BAD_OBJECTS)


def test_dns_subdomain_message_is_kubernetes_text() -> None:
    causes = validation.validate_create(rt.PODS, changed(nginx_pod, ("metadata.name", "Bad_")))
    assert causes == [Cause(
        "metadata.name",
        'Invalid value: "Bad_": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    )]  # fmt: skip


def test_dns_label_message_lists_both_examples() -> None:
    causes = validation.validate_create(rt.PODS, changed(nginx_pod, (f"{C0}.name", "A")))
    assert causes[0].message.endswith(
        "(e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )


def test_generate_name_alone_is_not_enough_before_the_apiserver_fills_name() -> None:
    obj = changed(nginx_pod, ("metadata.name", DELETE), ("metadata.generateName", "nginx-"))
    assert [c.field for c in validation.validate_create(rt.PODS, obj)] == ["metadata.name"]


def test_unknown_fields_are_allowed() -> None:
    obj = changed(nginx_pod, ("spec.runtimeClassName", "gvisor"), (f"{C0}.stdinOnce", True))
    assert validation.validate_create(rt.PODS, obj) == []


# --- updates ----------------------------------------------------------------------------


def stored(resource: rt.ResourceType, seed: Callable[[], Obj]) -> Obj:
    obj = seed()
    defaults.apply_defaults(resource, obj)
    obj["metadata"].update(uid="1111", resourceVersion="5",
                           creationTimestamp="2024-05-01T10:00:00Z")  # fmt: skip
    return obj


def update_causes(
    resource: rt.ResourceType, seed: Callable[[], Obj], *edits: tuple[str, Any]
) -> list[Cause]:
    old = stored(resource, seed)
    return validation.validate_update(resource, edit(copy.deepcopy(old), *edits), old)


def test_pod_image_update_is_allowed() -> None:
    assert update_causes(rt.PODS, nginx_pod, (f"{C0}.image", "nginx:1.26")) == []


def test_pod_adding_a_toleration_is_allowed() -> None:
    tolerations = [*nginx_pod()["spec"]["tolerations"], {"operator": "Exists"}]
    assert update_causes(rt.PODS, nginx_pod, ("spec.tolerations", tolerations)) == []


def test_undefaulted_put_of_the_same_pod_is_not_a_change() -> None:
    assert validation.validate_update(rt.PODS, nginx_pod(), stored(rt.PODS, nginx_pod)) == []


@pytest.mark.parametrize(
    "edit",
    [(f"{C0}.ports.0.containerPort", 81), ("spec.tolerations", []), ("spec.nodeName", "n2"),
     (f"{C0}.env", [])],
)  # fmt: skip
def test_pod_spec_changes_are_forbidden(edit: tuple[str, Any]) -> None:
    causes = update_causes(rt.PODS, nginx_pod, edit)
    assert [c.field for c in causes] == ["spec"] or causes[0].field == "spec.tolerations"
    assert all(c.reason == FORBIDDEN for c in causes)


def test_pod_update_message_is_kubernetes_text() -> None:
    [cause] = update_causes(rt.PODS, nginx_pod, (f"{C0}.ports.0.containerPort", 81))
    assert cause.message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    )


def test_active_deadline_may_only_shrink() -> None:
    old = changed(nginx_pod, ("spec.activeDeadlineSeconds", 60))
    shorter = edit(copy.deepcopy(old), ("spec.activeDeadlineSeconds", 30))
    assert validation.validate_update(rt.PODS, shorter, old) == []
    longer = edit(copy.deepcopy(old), ("spec.activeDeadlineSeconds", 90))
    causes = validation.validate_update(rt.PODS, longer, old)
    assert [(c.field, c.reason) for c in causes] == [("spec.activeDeadlineSeconds", INVALID)]


@pytest.mark.parametrize("field", ["name", "namespace", "uid", "creationTimestamp"])
def test_identity_fields_are_immutable(field: str) -> None:
    value = {"name": "other", "namespace": "other", "uid": "2222",
             "creationTimestamp": "2025-01-01T00:00:00Z"}[field]  # fmt: skip
    causes = update_causes(rt.PODS, nginx_pod, (f"metadata.{field}", value))
    assert Cause(f"metadata.{field}", f'Invalid value: "{value}": field is immutable') in causes


def test_absent_uid_in_an_update_means_unchanged() -> None:
    assert update_causes(rt.PODS, nginx_pod, ("metadata.uid", DELETE)) == []


def test_deployment_selector_is_immutable() -> None:
    causes = update_causes(rt.DEPLOYMENTS, web_deployment,
                           ("spec.selector", {"matchLabels": {"tier": "front"}}))  # fmt: skip
    assert [(c.field, c.reason) for c in causes] == [("spec.selector", INVALID)]
    assert causes[0].message.endswith("field is immutable")


def test_deployment_template_and_replicas_may_change() -> None:
    assert update_causes(rt.DEPLOYMENTS, web_deployment, ("spec.replicas", 5),
                         (f"{TEMPLATE}.containers.0.image", "nginx:2")) == []  # fmt: skip


def test_service_cluster_ip_is_immutable_once_set() -> None:
    with_ip = changed(node_port_service, ("spec.clusterIP", "10.96.0.10"))
    assert validation.validate_update(rt.SERVICES, with_ip, node_port_service()) == []
    moved = changed(node_port_service, ("spec.clusterIP", "10.96.0.11"))
    causes = validation.validate_update(rt.SERVICES, moved, with_ip)
    assert [(c.field, c.message) for c in causes] == [
        ("spec.clusterIP", 'Invalid value: "10.96.0.11": field is immutable')
    ]


def test_node_pod_cidr_is_immutable_once_set() -> None:
    empty = changed(worker_node, ("spec.podCIDR", DELETE))
    assert validation.validate_update(rt.NODES, worker_node(), empty) == []
    causes = validation.validate_update(
        rt.NODES, changed(worker_node, ("spec.podCIDR", "10.244.2.0/24")), worker_node()
    )
    assert [(c.field, c.reason) for c in causes] == [("spec.podCIDR", FORBIDDEN)]


def test_update_reports_shape_errors_first() -> None:
    causes = validation.validate_update(
        rt.PODS, changed(nginx_pod, (f"{C0}.ports.0.containerPort", "x")), nginx_pod()
    )
    assert [c.field for c in causes] == ["spec.containers[0].ports[0].containerPort"]


# --- status, binding, scale -------------------------------------------------------------


def test_status_update_checks_types_and_identity() -> None:
    old = stored(rt.PODS, nginx_pod)
    container_status = {"name": "nginx", "ready": True, "restartCount": 0, "image": "nginx:1.25",
                        "imageID": "sha256:1", "state": {"running": {}}}  # fmt: skip
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "podIP": "10.1.0.5",
                     "containerStatuses": [container_status]}  # fmt: skip
    assert validation.validate_status_update(rt.PODS, new, old) == []
    container_status["restartCount"] = "1"
    causes = validation.validate_status_update(rt.PODS, new, old)
    assert [c.field for c in causes] == ["status.containerStatuses[0].restartCount"]


def test_binding() -> None:
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "nginx"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "worker-1"}}  # fmt: skip
    assert validation.validate_binding(binding) == []
    binding["target"] = {"kind": "Pod"}
    assert {(c.field, c.reason) for c in validation.validate_binding(binding)} == {
        ("target.kind", UNSUPPORTED), ("target.name", REQUIRED)
    }  # fmt: skip
    assert [c.field for c in validation.validate_binding({"metadata": {}})] == ["target"]


def test_scale() -> None:
    scale: Obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 2}}
    assert validation.validate_scale(scale) == []
    scale["spec"]["replicas"] = -2
    assert [c.field for c in validation.validate_scale(scale)] == ["spec.replicas"]


# --- models -----------------------------------------------------------------------------


def test_models_cover_every_kind() -> None:
    assert {r.kind for r in rt.RESOURCES} | {"Scale", "Binding", "Eviction", "TokenRequest"} == set(
        MODELS
    )


def test_models_give_typed_access_and_keep_unknown_fields() -> None:
    pod = core.Pod.model_validate(
        edit(nginx_pod(), ("status", {"podIP": "10.1.0.5", "hostIP": "127.0.0.1", "future": 1}))
    )
    assert pod.metadata.name == "nginx"
    assert pod.spec.containers[0].ports is not None
    assert pod.spec.containers[0].ports[0].container_port == 80
    assert pod.status is not None and pod.status.pod_ip == "10.1.0.5"
    assert pod.to_dict()["status"] == {"podIP": "10.1.0.5", "hostIP": "127.0.0.1", "future": 1}
    node = core.Node.model_validate(worker_node())
    assert node.status is not None and node.status.daemon_endpoints is not None
    assert node.status.daemon_endpoints.kubelet_endpoint is not None
    assert node.status.daemon_endpoints.kubelet_endpoint.port == 10250
    assert node.to_dict()["spec"]["podCIDR"] == "10.244.1.0/24"


def test_models_accept_python_field_names() -> None:
    container = core.Container(name="web", image="nginx", image_pull_policy="Always")
    assert container.to_dict() == {"name": "web", "image": "nginx", "imagePullPolicy": "Always"}
    strategy = apps.RollingUpdateDeployment(max_surge="25%", max_unavailable=0)
    assert strategy.to_dict() == {"maxSurge": "25%", "maxUnavailable": 0}


def test_match_expressions_must_select_the_template() -> None:
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}
    obj = changed(web_deployment, ("spec.selector", selector))
    assert validation.validate_create(rt.DEPLOYMENTS, obj) == []
    selector["matchExpressions"][0]["operator"] = "NotIn"
    causes = validation.validate_create(rt.DEPLOYMENTS, obj)
    assert [c.field for c in causes] == ["spec.template.metadata.labels"]
    selector["matchExpressions"][0]["operator"] = "Near"
    causes = validation.validate_create(rt.DEPLOYMENTS, obj)
    assert {(c.field, c.message.rsplit(": ", 1)[-1]) for c in causes} == {
        ("spec.selector.matchExpressions[0].operator", "not a valid selector operator"),
        ("spec.selector", "invalid label selector"),
    }
