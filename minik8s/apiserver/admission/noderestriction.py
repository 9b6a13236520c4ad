"""NodeRestriction: what a kubelet may write, object by object (Kubernetes' admission plugin).

A node (`system:node:<name>` in `system:nodes`) may create and update only its own Node —
without changing its taints, ownerReferences or labels under `kubernetes.io`/`k8s.io` beyond
the kubelet's own (`kubernetes.io/hostname`, `…/os`, `…/arch`, `node.kubernetes.io/…`, …),
never `node-restriction.kubernetes.io/` ones — its own Lease in `kube-node-lease`, the status
of pods bound to it, mirror pods bound to it, and delete only pods bound to it.
"""

from __future__ import annotations

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.resources import LEASES, NODES, PODS, ResourceType
from minik8s.apiserver.admission import CREATE, DELETE, UPDATE, Request
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authz.forbidden import new_forbidden
from minik8s.apiserver.authz.node import NODE_LEASE_NAMESPACE, pod_references

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
RESTRICTED_PREFIX = "node-restriction.kubernetes.io/"
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
})  # fmt: skip
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _meta(obj: Object | None) -> Object:
    return (obj or {}).get("metadata") or {}


def _labels(obj: Object | None) -> dict[str, str]:
    return _meta(obj).get("labels") or {}


def forbidden_label(key: str) -> bool:
    """Whether a kubelet may not set this label on its Node."""
    if key.startswith(RESTRICTED_PREFIX) or key in KUBELET_LABELS:
        return key.startswith(RESTRICTED_PREFIX)
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if namespace in KUBELET_LABEL_NAMESPACES or any(
        namespace.endswith("." + n) for n in KUBELET_LABEL_NAMESPACES
    ):
        return False
    return namespace in ("kubernetes.io", "k8s.io") or namespace.endswith(
        (".kubernetes.io", ".k8s.io")
    )


class NodeRestriction:
    resources = frozenset({PODS.plural, NODES.plural, LEASES.plural})

    def validate(self, request: Request) -> None:
        node = users.node_name(request.user)
        if node is None:
            return
        if not node:
            raise self._deny(
                request.resource,
                request.obj,
                f'could not determine node from user "{request.user.name}"',
            )
        if request.resource is PODS:
            self._pod(node, request.operation, request.subresource, request.obj, request.old)
        elif request.resource is NODES:
            self._node(node, request.operation, request.obj, request.old)
        else:
            self._lease(node, request.operation, request.obj)

    @staticmethod
    def _deny(resource: ResourceType, obj: Object, detail: str) -> errors.Forbidden:
        name = str(_meta(obj).get("name") or "")
        return new_forbidden(resource.plural, resource.group, name, detail)

    def _pod(
        self, node: str, operation: str, sub: str | None, pod: Object, old: Object | None
    ) -> None:
        bound = str(((old or pod).get("spec") or {}).get("nodeName") or "")
        if sub == "status":
            if bound != node:
                raise self._deny(
                    PODS,
                    pod,
                    f'node "{node}" can only update pod status for pods with spec.nodeName set '
                    "to itself",
                )
            return
        if operation == DELETE:
            if bound != node:
                raise self._deny(
                    PODS,
                    pod,
                    f'node "{node}" can only delete pods with spec.nodeName set to itself',
                )
            return
        if operation == UPDATE:
            raise self._deny(
                PODS,
                pod,
                f'unexpected operation "Update", node "{node}" can only create and delete mirror '
                "pods",
            )
        if MIRROR_ANNOTATION not in (_meta(pod).get("annotations") or {}):
            raise self._deny(
                PODS,
                pod,
                f'pod does not have "{MIRROR_ANNOTATION}" annotation, node "{node}" can only '
                "create mirror pods",
            )
        if bound != node:
            raise self._deny(
                PODS, pod, f'node "{node}" can only create pods with spec.nodeName set to itself'
            )
        plural = {
            "secret": "secrets",
            "configmap": "configmaps",
            "persistentvolumeclaim": "persistentvolumeclaims",
            "serviceaccount": "service accounts",
        }
        for kind, _ in sorted(pod_references(pod)):
            raise self._deny(
                PODS, pod, f'node "{node}" can not create pods that reference {plural[kind]}'
            )

    def _node(self, node: str, operation: str, obj: Object, old: Object | None) -> None:
        name = str(_meta(obj).get("name") or "")
        if name != node:
            raise self._deny(NODES, obj, f'node "{node}" is not allowed to modify node "{name}"')
        if operation == CREATE:
            bad = sorted(k for k in _labels(obj) if forbidden_label(k))
            if bad:
                raise self._deny(
                    NODES,
                    obj,
                    f'node "{node}" is not allowed to set the following labels: {", ".join(bad)}',
                )
        elif operation == UPDATE and old is not None:
            if (obj.get("spec") or {}).get("taints") != (old.get("spec") or {}).get("taints"):
                raise self._deny(NODES, obj, f'node "{node}" is not allowed to modify taints')
            if _meta(obj).get("ownerReferences") != _meta(old).get("ownerReferences"):
                raise self._deny(
                    NODES, obj, f'node "{node}" is not allowed to modify ownerReferences'
                )
            new_labels, old_labels = _labels(obj), _labels(old)
            modified = {
                k
                for k in set(new_labels) | set(old_labels)
                if new_labels.get(k) != old_labels.get(k)
            }
            bad = sorted(k for k in modified if forbidden_label(k))
            if bad:
                raise self._deny(NODES, obj, f"is not allowed to modify labels: {', '.join(bad)}")

    def _lease(self, node: str, operation: str, lease: Object) -> None:
        if operation != CREATE and operation != UPDATE:
            return
        if _meta(lease).get("namespace") != NODE_LEASE_NAMESPACE:
            raise self._deny(
                LEASES,
                lease,
                f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace',
            )
        if _meta(lease).get("name") != node:
            raise self._deny(
                LEASES,
                lease,
                "can only access node lease with the same name as the requesting node",
            )
