"""The default ClusterRoles and ClusterRoleBindings (Kubernetes' `bootstrappolicy/policy.go`).

Roles keep Kubernetes' names and rules (for the kinds Kubernetes has, served by minik8s or
not); where minik8s needs a little more or less, the rule says why. The components' users
are Kubernetes' (`system:kube-scheduler`, `system:kube-controller-manager`, `system:kube-proxy`,
nodes `system:node:<name>` in `system:nodes`); the ones Kubernetes runs as ServiceAccounts
(kube-dns, the cloud-controller-manager) are bound both as those ServiceAccounts and as a user
of the same name for the certificate minik8s gives the process.
"""

from __future__ import annotations

from minik8s.api import users
from minik8s.api.meta import Object
from minik8s.apiserver.authz.node import NODE_RULES
from minik8s.apiserver.bootstrappolicy import certificates_policy, controller_policy
from minik8s.apiserver.bootstrappolicy.builders import (
    APIREGISTRATION,
    APPS,
    AUTHENTICATION,
    AUTHORIZATION,
    AUTOSCALING,
    BATCH,
    COORDINATION,
    DISCOVERY,
    EXTENSIONS,
    LEGACY,
    NETWORKING,
    POLICY,
    RBAC,
    READ,
    READ_UPDATE,
    READ_WRITE,
    STORAGE,
    WRITE,
    cluster_role,
    cluster_role_binding,
    events_rule,
    groups,
    leader_election_rules,
    rule,
    service_account,
    url_rule,
)
from minik8s.apiserver.bootstrappolicy.builders import (
    users as user_subjects,
)

AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"


def _basic_roles() -> list[Object]:
    return [
        cluster_role(
            "cluster-admin",
            [rule(("*",), ("*",), ("*",)), url_rule(("*",), ("*",))],
        ),
        cluster_role(
            "system:discovery",
            [
                url_rule(
                    ("get",),
                    (
                        "/livez",
                        "/readyz",
                        "/healthz",
                        "/version",
                        "/version/",
                        "/openapi",
                        "/openapi/*",
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                    ),
                )
            ],
        ),
        cluster_role(
            "system:monitoring",
            [
                url_rule(
                    ("get",),
                    (
                        "/metrics",
                        "/metrics/slis",
                        "/livez",
                        "/readyz",
                        "/healthz",
                        "/livez/*",
                        "/readyz/*",
                        "/healthz/*",
                    ),
                )
            ],
        ),
        cluster_role(
            "system:basic-user",
            [
                rule(
                    ("create",),
                    (AUTHORIZATION,),
                    ("selfsubjectaccessreviews", "selfsubjectrulesreviews"),
                ),
                rule(("create",), (AUTHENTICATION,), ("selfsubjectreviews",)),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            [url_rule(("get",), ("/livez", "/readyz", "/healthz", "/version", "/version/"))],
        ),
    ]


def _user_facing_roles() -> list[Object]:
    pod_connect = ("pods/attach", "pods/proxy", "pods/exec", "pods/portforward")
    return [
        cluster_role("admin", aggregate_from=(AGGREGATE_TO_ADMIN,)),
        cluster_role(
            "edit", labels={AGGREGATE_TO_ADMIN: "true"}, aggregate_from=(AGGREGATE_TO_EDIT,)
        ),
        cluster_role(
            "view", labels={AGGREGATE_TO_EDIT: "true"}, aggregate_from=(AGGREGATE_TO_VIEW,)
        ),
        cluster_role(
            "system:aggregate-to-admin",
            [
                rule(("create",), (AUTHORIZATION,), ("localsubjectaccessreviews",)),
                rule(READ_WRITE, (RBAC,), ("roles", "rolebindings")),
            ],
            labels={AGGREGATE_TO_ADMIN: "true"},
        ),
        cluster_role(
            "system:aggregate-to-edit",
            [
                rule(READ, (LEGACY,), (*pod_connect, "secrets", "services/proxy")),
                rule(("impersonate",), (LEGACY,), ("serviceaccounts",)),
                rule(WRITE, (LEGACY,), ("pods", *pod_connect)),
                rule(("create",), (LEGACY,), ("pods/eviction",)),
                rule(
                    WRITE,
                    (LEGACY,),
                    (
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                        "persistentvolumeclaims",
                        "configmaps",
                        "secrets",
                        "events",
                    ),
                ),
                rule(("create",), (LEGACY,), ("serviceaccounts/token",)),
                rule(
                    WRITE,
                    (APPS,),
                    (
                        "statefulsets",
                        "statefulsets/scale",
                        "daemonsets",
                        "deployments",
                        "deployments/scale",
                        "deployments/rollback",
                        "replicasets",
                        "replicasets/scale",
                    ),
                ),
                rule(WRITE, (AUTOSCALING,), ("horizontalpodautoscalers",)),
                rule(WRITE, (BATCH,), ("jobs", "cronjobs")),
                rule(
                    WRITE,
                    (EXTENSIONS,),
                    (
                        "daemonsets",
                        "deployments",
                        "deployments/scale",
                        "deployments/rollback",
                        "ingresses",
                        "replicasets",
                        "replicasets/scale",
                        "replicationcontrollers/scale",
                        "networkpolicies",
                    ),
                ),
                rule(WRITE, (POLICY,), ("poddisruptionbudgets",)),
                rule(WRITE, (NETWORKING,), ("networkpolicies", "ingresses")),
                rule(READ_WRITE, (COORDINATION,), ("leases",)),
            ],
            labels={AGGREGATE_TO_EDIT: "true"},
        ),
        cluster_role(
            "system:aggregate-to-view",
            [
                rule(
                    READ,
                    (LEGACY,),
                    (
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "configmaps",
                    ),
                ),
                rule(
                    READ,
                    (LEGACY,),
                    (
                        "limitranges",
                        "resourcequotas",
                        "bindings",
                        "events",
                        "pods/status",
                        "resourcequotas/status",
                        "namespaces/status",
                        "replicationcontrollers/status",
                        "pods/log",
                    ),
                ),
                rule(READ, (LEGACY,), ("namespaces",)),
                rule(READ, (DISCOVERY,), ("endpointslices",)),
                rule(
                    READ,
                    (APPS,),
                    (
                        "controllerrevisions",
                        "statefulsets",
                        "statefulsets/status",
                        "statefulsets/scale",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/status",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/status",
                        "replicasets/scale",
                    ),
                ),
                rule(
                    READ,
                    (AUTOSCALING,),
                    ("horizontalpodautoscalers", "horizontalpodautoscalers/status"),
                ),
                rule(READ, (BATCH,), ("jobs", "cronjobs", "cronjobs/status", "jobs/status")),
                rule(
                    READ,
                    (EXTENSIONS,),
                    (
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "ingresses",
                        "ingresses/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "replicationcontrollers/scale",
                        "networkpolicies",
                    ),
                ),
                rule(READ, (POLICY,), ("poddisruptionbudgets", "poddisruptionbudgets/status")),
                rule(READ, (NETWORKING,), ("networkpolicies", "ingresses", "ingresses/status")),
            ],
            labels={AGGREGATE_TO_VIEW: "true"},
        ),
    ]


def _component_roles() -> list[Object]:
    return [
        cluster_role("system:node", [r.to_dict() for r in NODE_RULES]),
        cluster_role(
            "system:node-proxier",
            [
                rule(("list", "watch"), (LEGACY,), ("services", "endpoints")),
                rule(READ, (LEGACY,), ("nodes",)),
                events_rule(),
                rule(("list", "watch"), (DISCOVERY,), ("endpointslices",)),
            ],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            [
                rule(READ, (LEGACY,), ("nodes",)),
                rule(("proxy",), (LEGACY,), ("nodes",)),
                rule(
                    ("*",), (LEGACY,), ("nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log")
                ),
            ],
        ),
        cluster_role(
            "system:auth-delegator",
            [
                rule(("create",), (AUTHENTICATION,), ("tokenreviews",)),
                rule(("create",), (AUTHORIZATION,), ("subjectaccessreviews",)),
            ],
        ),
        cluster_role(
            users.KUBE_CONTROLLER_MANAGER,
            [
                events_rule(),
                # Kubernetes names its lock kube-controller-manager; minik8s' is its own name.
                *leader_election_rules("kube-controller-manager", "minik8s-controller-manager"),
                rule(("create",), (LEGACY,), ("secrets", "serviceaccounts")),
                rule(("delete",), (LEGACY,), ("secrets",)),
                rule(
                    ("get",), (LEGACY,), ("namespaces", "secrets", "serviceaccounts", "configmaps")
                ),
                rule(("update",), (LEGACY,), ("secrets", "serviceaccounts")),
                rule(("create",), (AUTHENTICATION,), ("tokenreviews",)),
                rule(("create",), (AUTHORIZATION,), ("subjectaccessreviews",)),
                rule(("list", "watch"), ("*",), ("*",)),
                rule(("create",), (LEGACY,), ("serviceaccounts/token",)),
            ],
        ),
        cluster_role(
            users.KUBE_DNS,
            [
                rule(("list", "watch"), (LEGACY,), ("services",)),
                rule(("list", "watch"), (DISCOVERY,), ("endpointslices",)),
            ],
        ),
        cluster_role(
            # minik8s (compose): the kube-dns Service and its Endpoints at the DNS container
            users.KUBE_ADDON_MANAGER,
            [rule(("get", "create", "update"), (LEGACY,), ("endpoints", "services"))],
        ),
        cluster_role(
            users.KUBE_SCHEDULER,
            [
                events_rule(),
                *leader_election_rules("kube-scheduler", "minik8s-scheduler"),
                rule(READ, (LEGACY,), ("nodes",)),
                rule(("get", "list", "watch", "delete"), (LEGACY,), ("pods",)),
                rule(("create",), (LEGACY,), ("pods/binding", "bindings")),
                rule(("patch", "update"), (LEGACY,), ("pods/status",)),
                rule(READ, (LEGACY,), ("services", "replicationcontrollers")),
                rule(READ, (APPS, EXTENSIONS), ("replicasets",)),
                rule(READ, (APPS,), ("statefulsets",)),
                rule(READ, (POLICY,), ("poddisruptionbudgets",)),
                rule(READ, (LEGACY,), ("persistentvolumeclaims", "persistentvolumes")),
                rule(("create",), (AUTHENTICATION,), ("tokenreviews",)),
                rule(("create",), (AUTHORIZATION,), ("subjectaccessreviews",)),
                rule(READ, (STORAGE,), ("csinodes",)),
                rule(READ, (LEGACY,), ("namespaces",)),
                rule(READ, (STORAGE,), ("csidrivers", "csistoragecapacities")),
            ],
        ),
        cluster_role(
            "system:volume-scheduler",
            [
                rule(READ_UPDATE, (LEGACY,), ("persistentvolumes",)),
                rule(READ, (STORAGE,), ("storageclasses",)),
                rule(READ_UPDATE, (LEGACY,), ("persistentvolumeclaims",)),
            ],
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            [
                url_rule(
                    ("get",),
                    (
                        "/.well-known/openid-configuration",
                        "/.well-known/openid-configuration/",
                        "/openid/v1/jwks",
                        "/openid/v1/jwks/",
                    ),
                )
            ],
        ),
        cluster_role(
            # metrics-server's manifest (its ClusterRole, plus its RoleBinding to
            # extension-apiserver-authentication-reader); minik8s' process also registers its
            # own Service and APIService, since it picks its port at start
            users.METRICS_SERVER,
            [
                rule(("get",), (LEGACY,), ("nodes/metrics",)),
                rule(READ, (LEGACY,), ("pods", "nodes")),
                rule(("get",), (LEGACY,), ("configmaps",), ("extension-apiserver-authentication",)),
                rule(("create",), (LEGACY,), ("services",)),
                rule(("get", "update", "delete"), (LEGACY,), ("services",), ("metrics-server",)),
                rule(("create",), (APIREGISTRATION,), ("apiservices",)),
                rule(
                    ("get", "update"),
                    (APIREGISTRATION,),
                    ("apiservices",),
                    ("v1beta1.metrics.k8s.io",),
                ),
            ],
        ),
        cluster_role(
            # minik8s: what the dashboard reads beyond `view` (cluster-scoped kinds)
            users.KUBE_DASHBOARD,
            [rule(READ, (LEGACY,), ("nodes", "namespaces", "events", "persistentvolumes"))],
        ),
    ]


def cluster_roles() -> list[Object]:
    return [
        *_basic_roles(),
        *_user_facing_roles(),
        *_component_roles(),
        *certificates_policy.certificate_roles(),
        *controller_policy.cloud_controller_manager_roles(),
        *controller_policy.controller_roles(),
    ]


def cluster_role_bindings() -> list[Object]:
    all_users = (users.ALL_AUTHENTICATED, users.ALL_UNAUTHENTICATED)
    kube_system = "kube-system"
    return [
        cluster_role_binding("cluster-admin", groups(users.SYSTEM_PRIVILEGED_GROUP)),
        cluster_role_binding("system:monitoring", groups("system:monitoring")),
        cluster_role_binding("system:discovery", groups(users.ALL_AUTHENTICATED)),
        cluster_role_binding("system:basic-user", groups(users.ALL_AUTHENTICATED)),
        cluster_role_binding("system:public-info-viewer", groups(*all_users)),
        cluster_role_binding("system:node-proxier", user_subjects(users.KUBE_PROXY)),
        cluster_role_binding(
            users.KUBE_CONTROLLER_MANAGER, user_subjects(users.KUBE_CONTROLLER_MANAGER)
        ),
        cluster_role_binding(
            users.KUBE_DNS,
            [service_account(kube_system, "kube-dns"), *user_subjects(users.KUBE_DNS)],
        ),
        cluster_role_binding(users.KUBE_ADDON_MANAGER, user_subjects(users.KUBE_ADDON_MANAGER)),
        cluster_role_binding(users.KUBE_SCHEDULER, user_subjects(users.KUBE_SCHEDULER)),
        cluster_role_binding("system:volume-scheduler", user_subjects(users.KUBE_SCHEDULER)),
        # The Node authorizer grants what nodes need; the binding stays, without subjects.
        cluster_role_binding("system:node", []),
        cluster_role_binding(
            "system:service-account-issuer-discovery", groups(users.SERVICE_ACCOUNTS_GROUP)
        ),
        cluster_role_binding("system:kubelet-api-admin", user_subjects(users.KUBELET_API_CLIENT)),
        cluster_role_binding(
            "system:kube-dashboard:view", user_subjects(users.KUBE_DASHBOARD), role="view"
        ),
        cluster_role_binding(users.KUBE_DASHBOARD, user_subjects(users.KUBE_DASHBOARD)),
        cluster_role_binding(
            users.METRICS_SERVER,
            [service_account(kube_system, "metrics-server"), *user_subjects(users.METRICS_SERVER)],
        ),
        *controller_policy.cloud_controller_manager_bindings(users.CLOUD_CONTROLLER_MANAGER),
        *controller_policy.controller_bindings(users.KUBE_CONTROLLER_MANAGER),
    ]
