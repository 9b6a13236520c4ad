"""The resource types minik8s serves: one row per Kubernetes resource, as in discovery."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    """API group; "" for the core group."""
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    """Subresources served under `<plural>/<name>/<sub>`, e.g. status, binding, scale, log."""
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def prefix(self) -> str:
        """URL prefix of the group version: `/api/v1` or `/apis/<group>/<version>`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def storage_prefix(self) -> str:
        """etcd key prefix holding every object of this type (ends with '/')."""
        return f"/registry/{self.plural}/"

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"/registry/{self.plural}/{namespace}/{name}"
        return f"/registry/{self.plural}/{name}"

    def storage_namespace_prefix(self, namespace: str) -> str:
        return f"/registry/{self.plural}/{namespace}/"

    def collection_path(self, namespace: str | None = None) -> str:
        if self.namespaced and namespace is not None:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace if self.namespaced else None)}/{name}"


PODS = ResourceType(
    "", "v1", "Pod", "pods", "pod", True, ("po",),
    ("status", "binding", "log", "exec", "attach", "portforward", "eviction",
     "ephemeralcontainers"), ("all",),
)  # fmt: skip
NODES = ResourceType("", "v1", "Node", "nodes", "node", False, ("no",), ("status", "proxy"))
SERVICES = ResourceType(
    "", "v1", "Service", "services", "service", True, ("svc",), ("status",), ("all",)
)
ENDPOINTS = ResourceType("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",))
ENDPOINTSLICES = ResourceType(
    "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True
)
NAMESPACES = ResourceType(
    "", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), ("status", "finalize")
)
EVENTS = ResourceType("", "v1", "Event", "events", "event", True, ("ev",))
CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",))
SECRETS = ResourceType("", "v1", "Secret", "secrets", "secret", True)
SERVICEACCOUNTS = ResourceType(
    "", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",), ("token",)
)
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "ReplicaSet",
    "replicasets",
    "replicaset",
    True,
    ("rs",),
    ("status", "scale"),
    ("all",),
)
DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "Deployment",
    "deployments",
    "deployment",
    True,
    ("deploy",),
    ("status", "scale"),
    ("all",),
)
LEASES = ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True)
DAEMONSETS = ResourceType(
    "apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",), ("status",), ("all",)
)
STATEFULSETS = ResourceType(
    "apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, ("sts",),
    ("status", "scale"), ("all",),
)  # fmt: skip
CONTROLLERREVISIONS = ResourceType(
    "apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True
)
PERSISTENTVOLUMES = ResourceType(
    "", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",),
    ("status",),
)  # fmt: skip
PERSISTENTVOLUMECLAIMS = ResourceType(
    "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True,
    ("pvc",), ("status",),
)  # fmt: skip
STORAGECLASSES = ResourceType(
    "storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",)
)
REPLICATIONCONTROLLERS = ResourceType(
    "", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", True,
    ("rc",), ("status", "scale"), ("all",),
)  # fmt: skip
JOBS = ResourceType("batch", "v1", "Job", "jobs", "job", True, (), ("status",), ("all",))
CRONJOBS = ResourceType(
    "batch", "v1", "CronJob", "cronjobs", "cronjob", True, ("cj",), ("status",), ("all",)
)
PODDISRUPTIONBUDGETS = ResourceType(
    "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", True,
    ("pdb",), ("status",),
)  # fmt: skip
CERTIFICATESIGNINGREQUESTS = ResourceType(
    "certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
    "certificatesigningrequest", False, ("csr",), ("status", "approval"),
)  # fmt: skip

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = ResourceType(RBAC_GROUP, "v1", "Role", "roles", "role", True)
CLUSTERROLES = ResourceType(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", "clusterrole", False)
ROLEBINDINGS = ResourceType(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", "rolebinding", True)
CLUSTERROLEBINDINGS = ResourceType(
    RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False
)

# Reviews: create-only questions to the apiserver, answered and never stored.
CREATE_ONLY = ("create",)
AUTHN_GROUP = "authentication.k8s.io"
AUTHZ_GROUP = "authorization.k8s.io"
TOKENREVIEWS = ResourceType(
    AUTHN_GROUP, "v1", "TokenReview", "tokenreviews", "", False, verbs=CREATE_ONLY
)
SELFSUBJECTREVIEWS = ResourceType(
    AUTHN_GROUP, "v1", "SelfSubjectReview", "selfsubjectreviews", "", False, verbs=CREATE_ONLY
)
SUBJECTACCESSREVIEWS = ResourceType(
    AUTHZ_GROUP, "v1", "SubjectAccessReview", "subjectaccessreviews", "", False, verbs=CREATE_ONLY
)
SELFSUBJECTACCESSREVIEWS = ResourceType(
    AUTHZ_GROUP,
    "v1",
    "SelfSubjectAccessReview",
    "selfsubjectaccessreviews",
    "",
    False,
    verbs=CREATE_ONLY,
)
LOCALSUBJECTACCESSREVIEWS = ResourceType(
    AUTHZ_GROUP,
    "v1",
    "LocalSubjectAccessReview",
    "localsubjectaccessreviews",
    "",
    True,
    verbs=CREATE_ONLY,
)
SELFSUBJECTRULESREVIEWS = ResourceType(
    AUTHZ_GROUP,
    "v1",
    "SelfSubjectRulesReview",
    "selfsubjectrulesreviews",
    "",
    False,
    verbs=CREATE_ONLY,
)
REVIEWS = (
    TOKENREVIEWS,
    SELFSUBJECTREVIEWS,
    SUBJECTACCESSREVIEWS,
    SELFSUBJECTACCESSREVIEWS,
    LOCALSUBJECTACCESSREVIEWS,
    SELFSUBJECTRULESREVIEWS,
)

HORIZONTALPODAUTOSCALERS = ResourceType(
    "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
    "horizontalpodautoscaler", True, ("hpa",), ("status",), ("all",),
)  # fmt: skip
HORIZONTALPODAUTOSCALERS_V1 = ResourceType(
    "autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
    "horizontalpodautoscaler", True, ("hpa",), ("status",), ("all",),
)  # fmt: skip
"""autoscaling/v1: the same objects (stored as autoscaling/v2), CPU utilization only."""
APISERVICES = ResourceType(
    "apiregistration.k8s.io", "v1", "APIService", "apiservices", "apiservice", False, (),
    ("status",), ("api-extensions",),
)  # fmt: skip
EVENTS_V1 = ResourceType("events.k8s.io", "v1", "Event", "events", "event", True, ("ev",))
"""events.k8s.io/v1 Events: core/v1 Events (their storage) in the newer form."""

RESOURCES: tuple[ResourceType, ...] = (
    PODS,
    NODES,
    SERVICES,
    ENDPOINTS,
    NAMESPACES,
    EVENTS,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    REPLICASETS,
    DEPLOYMENTS,
    LEASES,
    DAEMONSETS,
    STATEFULSETS,
    CONTROLLERREVISIONS,
    PERSISTENTVOLUMES,
    PERSISTENTVOLUMECLAIMS,
    STORAGECLASSES,
    REPLICATIONCONTROLLERS,
    JOBS,
    CRONJOBS,
    PODDISRUPTIONBUDGETS,
    CERTIFICATESIGNINGREQUESTS,
    ROLES,
    CLUSTERROLES,
    ROLEBINDINGS,
    CLUSTERROLEBINDINGS,
    *REVIEWS,
    HORIZONTALPODAUTOSCALERS,
    HORIZONTALPODAUTOSCALERS_V1,
    APISERVICES,
    EVENTS_V1,
    ENDPOINTSLICES,
)

_BY_GROUP_VERSION_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
_BY_PLURAL: dict[str, ResourceType] = {}
for _r in RESOURCES:  # the first type of a plural is its storage version
    _BY_PLURAL.setdefault(_r.plural, _r)


def storage_type(rt: ResourceType) -> ResourceType:
    """The type whose version is stored for `rt`'s objects (itself, unless `rt` is another
    served version of them, as autoscaling/v1 HPAs and events.k8s.io Events are)."""
    return _BY_PLURAL[rt.plural]


def is_storage_version(rt: ResourceType) -> bool:
    return _BY_PLURAL[rt.plural] is rt


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_GROUP_VERSION_PLURAL.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((api_version, kind))


def by_plural(plural: str) -> ResourceType | None:
    return _BY_PLURAL.get(plural)


def resolve(name: str) -> ResourceType | None:
    """Find a type by what a user types: plural, singular, kind, short name or `plural.group`."""
    lowered = name.lower()
    for r in RESOURCES:
        names = {r.plural, r.singular, r.kind.lower(), *r.short_names}
        if r.group:
            names |= {f"{r.plural}.{r.group}", f"{r.singular}.{r.group}"}
        if lowered in names:
            return r
    return None


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first, in a stable order."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen
