"""The Node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may do.

Kubernetes' rules (with AuthorizeNodeWithSelectors, on in 1.32): a node reads only its own
Node object, lists and watches only pods with `spec.nodeName=<itself>`, gets only pods bound
to it, and reads only the Secrets, ConfigMaps, PersistentVolumeClaims (and their
PersistentVolumes) that pods bound to it reference (and creates tokens only for their
ServiceAccounts); its Lease is the one named
after it in `kube-node-lease`. Everything else is checked against static node rules
(`NODE_RULES`, Kubernetes' `NodeRules()`); writes to its Node, its pods' status and mirror
pods are narrowed further by the NodeRestriction admission plugin.

"Bound to it" comes from a graph kept current from the watch cache's pod events: for every
pod with a `spec.nodeName`, the objects it references, counted per node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from minik8s.api import rbac
from minik8s.api.meta import Object
from minik8s.api.rbac import Rule
from minik8s.api.resources import PERSISTENTVOLUMECLAIMS, PODS
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import Decision, RulesResult
from minik8s.apiserver.requestinfo import Attributes, exact_field

NODE_LEASE_NAMESPACE = "kube-node-lease"

READ = ("get", "list", "watch")
NODE_RULES = (
    # Needed to check API access (the kubelet's own authn/authz webhooks).
    Rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
    Rule(
        ("create",),
        ("authorization.k8s.io",),
        ("subjectaccessreviews", "localsubjectaccessreviews"),
    ),
    Rule(READ, ("",), ("services",)),
    Rule(("create", "get", "list", "watch"), ("",), ("nodes",)),
    Rule(("update", "patch"), ("",), ("nodes/status",)),
    Rule(("update", "patch"), ("",), ("nodes",)),
    Rule(("create", "update", "patch"), ("",), ("events",)),
    Rule(READ, ("",), ("pods",)),
    Rule(("create", "delete"), ("",), ("pods",)),
    Rule(("update", "patch"), ("",), ("pods/status",)),
    Rule(("create",), ("",), ("pods/eviction",)),
    Rule(READ, ("",), ("secrets", "configmaps")),
    Rule(("get",), ("",), ("persistentvolumeclaims", "persistentvolumes")),
    Rule(("get",), ("",), ("endpoints",)),
    Rule(("get", "create", "update", "patch", "delete"), ("coordination.k8s.io",), ("leases",)),
    Rule(("create",), ("",), ("serviceaccounts/token",)),
    Rule(("get", "update", "patch"), ("",), ("persistentvolumeclaims/status",)),
    # Its client and serving certificates, renewed through CertificateSigningRequests.
    Rule(
        ("create", "get", "list", "watch"),
        ("certificates.k8s.io",),
        ("certificatesigningrequests",),
    ),
    # minik8s: the kubelet labels its containers with the cluster's identity, the uid of
    # the kube-system namespace (Kubernetes' cluster-id convention); nothing else.
    Rule(("get",), ("",), ("namespaces",), ("kube-system",)),
)
"""The kubelet's static rules (Kubernetes' `NodeRules()` for the kinds minik8s serves)."""

# (group, resource) -> the graph's vertex kind for the objects a node may only read when related
RELATED_READS = {
    ("", "secrets"): "secret",
    ("", "configmaps"): "configmap",
}


class NodeGraph:
    """Which objects pods bound to each node reference; updated from pod watch events."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], tuple[str, frozenset[tuple[str, str]]]] = {}
        """(namespace, pod) -> (node, {(kind, name)} the pod references)."""
        self._refs: dict[tuple[str, str, str], Counter[str]] = {}
        """(kind, namespace, name) -> pods per node that reference it (kind "pod": itself)."""
        self._claims_of_volume: dict[str, set[tuple[str, str]]] = {}
        """PersistentVolume name -> the (namespace, name) of the claims bound to it."""
        self._volume_of_claim: dict[tuple[str, str], str] = {}

    def reset(self, pods: Iterable[Object], claims: Iterable[Object] = ()) -> None:
        self._pods.clear()
        self._refs.clear()
        self._claims_of_volume.clear()
        self._volume_of_claim.clear()
        for pod in pods:
            self.set_pod(pod)
        for claim in claims:
            self.set_claim(claim)

    def on_event(self, resource: Any, event_type: str, obj: Object, previous: Any) -> None:
        if resource is PERSISTENTVOLUMECLAIMS:
            self.set_claim(obj, deleted=event_type == "DELETE")
            return
        if resource is not PODS:
            return
        if event_type == "DELETE":
            meta = obj.get("metadata") or {}
            self._remove(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        else:
            self.set_pod(obj)

    def set_pod(self, pod: Object) -> None:
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        refs = frozenset(pod_references(pod)) if node else frozenset()
        current = self._pods.get((namespace, name))
        if current == (node, refs):
            return
        self._remove(namespace, name)
        if not node:
            return
        self._pods[(namespace, name)] = (node, refs)
        for kind, ref_name in (("pod", name), *refs):
            self._refs.setdefault((kind, namespace, ref_name), Counter())[node] += 1

    def _remove(self, namespace: str, name: str) -> None:
        current = self._pods.pop((namespace, name), None)
        if current is None:
            return
        node, refs = current
        for kind, ref_name in (("pod", name), *refs):
            key = (kind, namespace, ref_name)
            counts = self._refs.get(key)
            if counts is None:
                continue
            counts[node] -= 1
            if counts[node] <= 0:
                del counts[node]
            if not counts:
                del self._refs[key]

    def set_claim(self, claim: Object, deleted: bool = False) -> None:
        """node <- pod <- pvc <- pv: a claim's `spec.volumeName` links it to its volume."""
        meta = claim.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self._volume_of_claim.pop(key, None)
        if old is not None:
            self._claims_of_volume.get(old, set()).discard(key)
        volume = None if deleted else (claim.get("spec") or {}).get("volumeName")
        if volume:
            self._volume_of_claim[key] = str(volume)
            self._claims_of_volume.setdefault(str(volume), set()).add(key)

    def related(self, node: str, kind: str, namespace: str, name: str) -> bool:
        if kind == "persistentvolume":
            return any(
                self.related(node, "persistentvolumeclaim", claim_ns, claim)
                for claim_ns, claim in self._claims_of_volume.get(name, ())
            )
        counts = self._refs.get((kind, namespace, name))
        return bool(counts) and node in counts  # type: ignore[operator]


def pod_references(pod: Object) -> set[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets, PVCs and ServiceAccount a pod uses."""
    spec = pod.get("spec") or {}
    refs: set[tuple[str, str]] = set()
    for secret in spec.get("imagePullSecrets") or []:
        if isinstance(secret, dict) and secret.get("name"):
            refs.add(("secret", str(secret["name"])))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        refs.add(("serviceaccount", str(account)))
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        _volume_refs(volume, refs)
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            refs.add(("persistentvolumeclaim", str(claim)))
        if volume.get("ephemeral"):
            refs.add(("persistentvolumeclaim", f"{pod_name}-{volume.get('name')}"))
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _container_refs(container, refs)
    return refs


def _volume_refs(volume: Object, refs: set[tuple[str, str]]) -> None:
    config_map = (volume.get("configMap") or {}).get("name")
    if config_map:
        refs.add(("configmap", str(config_map)))
    secret = (volume.get("secret") or {}).get("secretName")
    if secret:
        refs.add(("secret", str(secret)))
    for source in (volume.get("projected") or {}).get("sources") or []:
        if not isinstance(source, dict):
            continue
        if (source.get("configMap") or {}).get("name"):
            refs.add(("configmap", str(source["configMap"]["name"])))
        if (source.get("secret") or {}).get("name"):
            refs.add(("secret", str(source["secret"]["name"])))


def _container_refs(container: Object, refs: set[tuple[str, str]]) -> None:
    for source in container.get("envFrom") or []:
        if not isinstance(source, dict):
            continue
        if (source.get("configMapRef") or {}).get("name"):
            refs.add(("configmap", str(source["configMapRef"]["name"])))
        if (source.get("secretRef") or {}).get("name"):
            refs.add(("secret", str(source["secretRef"]["name"])))
    for env in container.get("env") or []:
        value_from = (env or {}).get("valueFrom") if isinstance(env, dict) else None
        if not isinstance(value_from, dict):
            continue
        if (value_from.get("configMapKeyRef") or {}).get("name"):
            refs.add(("configmap", str(value_from["configMapKeyRef"]["name"])))
        if (value_from.get("secretKeyRef") or {}).get("name"):
            refs.add(("secret", str(value_from["secretKeyRef"]["name"])))


class NodeAuthorizer:
    def __init__(self, graph: NodeGraph) -> None:
        self.graph = graph

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        if users.NODES_GROUP in user.groups:
            reason = "node authorizer does not support user rule resolution"
            return RulesResult(incomplete=True, errors=[reason])
        return RulesResult()

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        user = attrs.user
        if users.NODES_GROUP not in user.groups:
            return Decision.NO_OPINION, ""
        node = users.node_name(user)
        if not node:
            return Decision.NO_OPINION, f'unknown node for user "{user.name}"'
        if attrs.resource_request:
            key = (attrs.api_group, attrs.resource)
            kind = RELATED_READS.get(key)
            if kind is not None:
                return self._read_related(node, kind, attrs)
            if key == ("", "persistentvolumeclaims"):
                if attrs.subresource == "status":
                    if attrs.verb not in ("update", "patch"):
                        return Decision.NO_OPINION, "can only get/update/patch this type"
                    return self._related(node, "persistentvolumeclaim", attrs)
                return self._get_related(node, "persistentvolumeclaim", attrs)
            if key == ("", "persistentvolumes"):
                return self._get_related(node, "persistentvolume", attrs)
            if key == ("", "serviceaccounts"):
                return self._create_token(node, attrs)
            if key == ("coordination.k8s.io", "leases"):
                return self._lease(node, attrs)
            if key == ("", "nodes"):
                return self._node(node, attrs)
            if key == ("", "pods"):
                return self._pod(node, attrs)
        if any(_rule_allows(rule, attrs) for rule in NODE_RULES):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _related(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if not attrs.name:
            return Decision.NO_OPINION, "No Object name found"
        if self.graph.related(node, kind, attrs.namespace, attrs.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _read_related(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in READ:
            return Decision.NO_OPINION, "can only read resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot read subresource"
        if not attrs.namespace:
            return Decision.NO_OPINION, "can only read namespaced object of this type"
        return self._related(node, kind, attrs)

    def _get_related(self, node: str, kind: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "get":
            return Decision.NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot get subresource"
        return self._related(node, kind, attrs)

    def _create_token(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "create" or not attrs.name:
            return Decision.NO_OPINION, "can only create tokens for individual service accounts"
        if attrs.subresource != "token":
            return Decision.NO_OPINION, "can only create token subresource of serviceaccount"
        return self._related(node, "serviceaccount", attrs)

    def _lease(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return (
                Decision.NO_OPINION,
                "can only get, create, update, patch, or delete a node lease",
            )
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return (
                Decision.NO_OPINION,
                f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace',
            )
        if attrs.verb != "create" and attrs.name != node:
            return (
                Decision.NO_OPINION,
                "can only access node lease with the same name as the requesting node",
            )
        return Decision.ALLOW, ""

    def _node(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        verb, sub = attrs.verb, attrs.subresource
        if not sub and verb in ("create", "update", "patch"):
            return Decision.ALLOW, ""  # NodeRestriction limits it to its own Node
        if not sub and verb in READ:
            if attrs.name == node:
                return Decision.ALLOW, ""
            if not attrs.name:
                return (
                    Decision.NO_OPINION,
                    f"node '{node}' cannot read all nodes, only its own Node object",
                )
            return (
                Decision.NO_OPINION,
                f"node '{node}' cannot read '{attrs.name}', only its own Node object",
            )
        if sub == "status" and verb in ("update", "patch"):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _pod(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        verb, sub = attrs.verb, attrs.subresource
        if not sub:
            if verb == "get":
                return self._get_related(node, "pod", attrs)
            if verb in ("list", "watch"):
                if exact_field(attrs.field_selector, "spec.nodeName") == node:
                    return Decision.ALLOW, ""
                if attrs.name:
                    return self._related(node, "pod", attrs)
                return (
                    Decision.NO_OPINION,
                    "can only list/watch pods with spec.nodeName field selector",
                )
            if verb in ("create", "delete"):
                return Decision.ALLOW, ""  # NodeRestriction: mirror pods, pods bound to itself
        elif sub == "status" and verb in ("update", "patch"):
            return Decision.ALLOW, ""
        elif sub == "eviction" and verb == "create":
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""


def _rule_allows(rule: Rule, attrs: Attributes) -> bool:
    if not attrs.resource_request:
        return rbac.allows_path(rule, attrs.verb, attrs.path)
    return rbac.allows_resource(
        rule, attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.name
    )
