"""One ClusterRole per controller, `system:controller:<name>` (Kubernetes' controller_policy.go).

Kubernetes binds each to the ServiceAccount `kube-system/<name>` and, with
`--use-service-account-credentials`, runs each controller with that account's token. minik8s
keeps those bindings (ready for when controllers get ServiceAccount tokens) and adds the
controller-manager's own user, `system:kube-controller-manager`, as a second subject: the
controller-manager runs every controller with its one client certificate, and holds the
union of its controllers' roles and nothing else. The cloud-controller-manager's roles are
bound the same way to `system:cloud-controller-manager`.

The list covers today's controllers and the ones being added (jobs, cronjobs, DaemonSets,
StatefulSets, volumes, disruption budgets, ServiceAccounts, the root CA publisher).
"""

from __future__ import annotations

from minik8s.api.certificates import (
    KUBE_APISERVER_CLIENT,
    KUBE_APISERVER_CLIENT_KUBELET,
    KUBELET_SERVING,
    LEGACY_UNKNOWN,
)
from minik8s.api.meta import Object
from minik8s.apiserver.bootstrappolicy.builders import (
    APPS,
    AUTHORIZATION,
    AUTOSCALING,
    BATCH,
    COORDINATION,
    DISCOVERY,
    EXTENSIONS,
    LEGACY,
    POLICY,
    RBAC,
    READ,
    STORAGE,
    cluster_role,
    cluster_role_binding,
    events_rule,
    leader_election_rules,
    rule,
    service_account,
    users,
)

PREFIX = "system:controller:"
CERTIFICATES = "certificates.k8s.io"
KUBE_SYSTEM = "kube-system"


def _controllers() -> dict[str, list[Object]]:
    """Controller (ServiceAccount) name -> its rules."""
    return {
        "bootstrap-signer": [
            # Kubernetes: Roles in kube-public (configmaps) and kube-system (secrets)
            rule(READ, (LEGACY,), ("configmaps", "secrets")),
            rule(("update",), (LEGACY,), ("configmaps",), ("cluster-info",)),
            events_rule(),
        ],
        "certificate-controller": [
            rule(
                ("get", "list", "watch", "delete"), (CERTIFICATES,), ("certificatesigningrequests",)
            ),
            rule(
                ("update",),
                (CERTIFICATES,),
                ("certificatesigningrequests/status", "certificatesigningrequests/approval"),
            ),
            # minik8s also approves kubelet serving certificates and a joining node's
            # kube-proxy certificate (see controllers/certificates/approver.py)
            rule(
                ("approve",),
                (CERTIFICATES,),
                ("signers",),
                (KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING, KUBE_APISERVER_CLIENT),
            ),
            rule(
                ("sign",),
                (CERTIFICATES,),
                ("signers",),
                (
                    LEGACY_UNKNOWN,
                    KUBE_APISERVER_CLIENT,
                    KUBE_APISERVER_CLIENT_KUBELET,
                    KUBELET_SERVING,
                ),
            ),
            rule(("create",), (AUTHORIZATION,), ("subjectaccessreviews",)),
            rule(READ, (LEGACY,), ("nodes",)),
            events_rule(),
        ],
        "clusterrole-aggregation-controller": [
            rule(
                ("escalate", "get", "list", "watch", "update", "patch"), (RBAC,), ("clusterroles",)
            ),
        ],
        "cronjob-controller": [
            rule(("get", "list", "watch", "update"), (BATCH,), ("cronjobs",)),
            rule(
                ("get", "list", "watch", "create", "update", "delete", "patch"), (BATCH,), ("jobs",)
            ),
            rule(("update",), (BATCH,), ("cronjobs/status", "cronjobs/finalizers")),
            rule(("list", "watch", "delete"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "daemon-set-controller": [
            rule(READ, (EXTENSIONS, APPS), ("daemonsets",)),
            rule(("update",), (EXTENSIONS, APPS), ("daemonsets/status", "daemonsets/finalizers")),
            rule(("list", "watch"), (LEGACY,), ("nodes",)),
            # minik8s adopts and releases pods with an update (Kubernetes patches)
            rule(("list", "watch", "create", "delete", "patch", "update"), (LEGACY,), ("pods",)),
            rule(("create",), (LEGACY,), ("pods/binding",)),
            rule((*READ, "create", "delete", "update", "patch"), (APPS,), ("controllerrevisions",)),
            events_rule(),
        ],
        "deployment-controller": [
            rule(("get", "list", "watch", "update"), (EXTENSIONS, APPS), ("deployments",)),
            rule(("update",), (EXTENSIONS, APPS), ("deployments/status", "deployments/finalizers")),
            rule(
                (*READ, "create", "update", "patch", "delete"), (APPS, EXTENSIONS), ("replicasets",)
            ),
            rule(("get", "list", "watch", "update"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "disruption-controller": [
            rule(READ, (EXTENSIONS, APPS), ("deployments",)),
            rule(READ, (APPS, EXTENSIONS), ("replicasets",)),
            rule(READ, (LEGACY,), ("replicationcontrollers",)),
            rule(READ, (POLICY,), ("poddisruptionbudgets",)),
            rule(READ, (APPS,), ("statefulsets",)),
            rule(("update",), (POLICY,), ("poddisruptionbudgets/status",)),
            rule(("patch", "update"), (LEGACY,), ("pods/status",)),
            rule(("get",), ("*",), ("*/scale",)),
            events_rule(),
        ],
        "horizontal-pod-autoscaler": [
            rule(READ, (AUTOSCALING,), ("horizontalpodautoscalers",)),
            rule(("update",), (AUTOSCALING,), ("horizontalpodautoscalers/status",)),
            rule(("get", "update"), ("*",), ("*/scale",)),
            rule(("list",), (LEGACY,), ("pods",)),
            rule(("list",), ("metrics.k8s.io",), ("pods",)),
            rule(("get", "list"), ("custom.metrics.k8s.io",), ("*",)),
            rule(("get", "list"), ("external.metrics.k8s.io",), ("*",)),
            events_rule(),
        ],
        "endpoint-controller": [
            rule(READ, (LEGACY,), ("services", "pods")),
            rule((*READ, "create", "update", "delete"), (LEGACY,), ("endpoints",)),
            rule(("create",), (LEGACY,), ("endpoints/restricted",)),
            events_rule(),
        ],
        "endpointslice-controller": [
            rule(READ, (LEGACY,), ("services", "pods", "nodes")),
            rule(("update",), (LEGACY,), ("services/finalizers",)),
            rule((*READ, "create", "update", "delete"), (DISCOVERY,), ("endpointslices",)),
            rule(("create",), (DISCOVERY,), ("endpointslices/restricted",)),
            events_rule(),
        ],
        "endpointslicemirroring-controller": [
            rule(READ, (LEGACY,), ("services", "endpoints")),
            # its slices are owned by the Endpoints, with blockOwnerDeletion
            rule(("update",), (LEGACY,), ("services/finalizers", "endpoints/finalizers")),
            rule(("get", "list", "create", "update", "delete"), (DISCOVERY,), ("endpointslices",)),
            events_rule(),
        ],
        "generic-garbage-collector": [
            rule((*READ, "patch", "update", "delete"), ("*",), ("*",)),
            events_rule(),
        ],
        "job-controller": [
            rule((*READ, "update", "patch"), (BATCH,), ("jobs",)),
            rule(("update",), (BATCH,), ("jobs/status", "jobs/finalizers")),
            # minik8s reads a pod afresh when removing its tracking finalizer lost a race
            rule(("get", "list", "watch", "create", "delete", "patch"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "local-path-provisioner": [
            # minik8s' dynamic provisioner (Rancher's local-path-provisioner's rights): the
            # default StorageClass, a PV per claim, a helper pod that makes or wipes its directory
            rule((*READ, "create"), (STORAGE,), ("storageclasses",)),
            rule((*READ, "create", "delete"), (LEGACY,), ("persistentvolumes",)),
            rule(READ, (LEGACY,), ("persistentvolumeclaims", "nodes")),
            rule((*READ, "create", "delete"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "namespace-controller": [
            rule(("get", "list", "watch", "delete"), (LEGACY,), ("namespaces",)),
            rule(("update",), (LEGACY,), ("namespaces/finalize", "namespaces/status")),
            rule(("get", "list", "watch", "delete", "deletecollection"), ("*",), ("*",)),
        ],
        "node-controller": [
            # also minik8s' nodeipam controller (Kubernetes runs it with this account too)
            rule((*READ, "update", "delete", "patch"), (LEGACY,), ("nodes",)),
            rule(("patch", "update"), (LEGACY,), ("nodes/status",)),
            rule(("patch", "update"), (LEGACY,), ("pods/status",)),
            rule(("list", "watch", "get", "delete"), (LEGACY,), ("pods",)),
            rule(READ, (COORDINATION,), ("leases",)),
            events_rule(),
        ],
        "persistent-volume-binder": [
            rule((*READ, "update", "create", "delete"), (LEGACY,), ("persistentvolumes",)),
            rule(("update",), (LEGACY,), ("persistentvolumes/status",)),
            rule((*READ, "update"), (LEGACY,), ("persistentvolumeclaims",)),
            rule(("update",), (LEGACY,), ("persistentvolumeclaims/status",)),
            rule(("list", "watch", "get", "create", "delete"), (LEGACY,), ("pods",)),
            rule(READ, (STORAGE,), ("storageclasses",)),
            rule(("list", "watch"), (LEGACY,), ("nodes",)),
            events_rule(),
            rule(("watch",), (LEGACY,), ("events",)),
        ],
        "pod-garbage-collector": [
            rule(("list", "watch", "delete"), (LEGACY,), ("pods",)),
            rule(READ, (LEGACY,), ("nodes",)),
            # minik8s marks an orphaned pod Failed with an update (Kubernetes patches)
            rule(("patch", "update"), (LEGACY,), ("pods/status",)),
        ],
        "pvc-protection-controller": [
            rule((*READ, "update"), (LEGACY,), ("persistentvolumeclaims",)),
            rule(("update",), (LEGACY,), ("persistentvolumeclaims/status",)),
            rule(("list", "watch", "get"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "pv-protection-controller": [
            rule((*READ, "update"), (LEGACY,), ("persistentvolumes",)),
            events_rule(),
        ],
        "replicaset-controller": [
            rule((*READ, "update"), (APPS, EXTENSIONS), ("replicasets",)),
            rule(("update",), (APPS, EXTENSIONS), ("replicasets/status", "replicasets/finalizers")),
            # minik8s adopts and releases pods with an update (Kubernetes patches)
            rule(("list", "watch", "patch", "create", "delete", "update"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "replication-controller": [
            rule((*READ, "update"), (LEGACY,), ("replicationcontrollers",)),
            rule(
                ("update",),
                (LEGACY,),
                ("replicationcontrollers/status", "replicationcontrollers/finalizers"),
            ),
            # the ReplicaSet controller's code: it adopts and releases pods with an update
            rule(("list", "watch", "patch", "create", "delete", "update"), (LEGACY,), ("pods",)),
            events_rule(),
        ],
        "root-ca-cert-publisher": [
            rule(("create", "update"), (LEGACY,), ("configmaps",)),
            events_rule(),
        ],
        "service-account-controller": [
            rule(("create",), (LEGACY,), ("serviceaccounts",)),
            events_rule(),
        ],
        "service-controller": [
            rule(READ, (LEGACY,), ("services",)),
            rule(("patch", "update"), (LEGACY,), ("services/status",)),
            rule(("list", "watch"), (LEGACY,), ("nodes",)),
            events_rule(),
        ],
        "statefulset-controller": [
            rule(("list", "watch"), (LEGACY,), ("pods",)),
            rule(READ, (APPS,), ("statefulsets",)),
            rule(("update",), (APPS,), ("statefulsets/status", "statefulsets/finalizers")),
            rule(("get", "create", "delete", "update", "patch"), (LEGACY,), ("pods",)),
            rule(
                ("get", "create", "delete", "update", "patch", "list", "watch"),
                (APPS,),
                ("controllerrevisions",),
            ),
            rule(("get", "create", "list", "watch"), (LEGACY,), ("persistentvolumeclaims",)),
            rule(("update", "delete"), (LEGACY,), ("persistentvolumeclaims",)),
            rule(("update",), (LEGACY,), ("pods/finalizers",)),
            events_rule(),
        ],
        "token-cleaner": [
            # Kubernetes: a Role in kube-system
            rule(("delete", *READ), (LEGACY,), ("secrets",)),
            events_rule(),
        ],
        "ttl-after-finished-controller": [
            rule(("get", "list", "watch", "delete"), (BATCH,), ("jobs",)),
            events_rule(),
        ],
    }


CLOUD_CONTROLLERS = ("service-controller", "cloud-node-controller")
"""Controllers of the cloud-controller-manager (not of the kube-controller-manager)."""


def controller_roles() -> list[Object]:
    return [cluster_role(PREFIX + name, rules) for name, rules in _controllers().items()]


def controller_bindings(controller_manager_user: str) -> list[Object]:
    """Each role to its ServiceAccount, and to the controller-manager's user (see above)."""
    bindings = []
    for name in _controllers():
        if name in CLOUD_CONTROLLERS:
            continue  # bound to the cloud-controller-manager below
        subjects = [service_account(KUBE_SYSTEM, name), *users(controller_manager_user)]
        bindings.append(cluster_role_binding(PREFIX + name, subjects))
    return bindings


def cloud_controller_manager_roles() -> list[Object]:
    """The cloud-controller-manager's roles, as its bootstrap policy names them.

    `system:cloud-controller-manager` holds only what its controllers' roles do not: its
    Lease, Events, and the patch that adds or removes the service controller's
    `service.kubernetes.io/load-balancer-cleanup` finalizer. Kubernetes' role also lets it
    create ServiceAccounts (for `--use-service-account-credentials`, which minik8s does not
    have) and update Services: minik8s's controllers never do either.
    """
    return [
        cluster_role(
            "system:cloud-controller-manager",
            [
                events_rule(),
                *leader_election_rules("cloud-controller-manager"),
                rule(("patch",), (LEGACY,), ("services",)),
            ],
        ),
        cluster_role(
            PREFIX + "cloud-node-controller",
            [
                rule(("delete", "get", "patch", "update", "list", "watch"), (LEGACY,), ("nodes",)),
                rule(("patch",), (LEGACY,), ("nodes/status",)),
                events_rule(),
            ],
        ),
    ]


def cloud_controller_manager_bindings(user: str) -> list[Object]:
    return [
        cluster_role_binding(
            "system:cloud-controller-manager",
            [service_account(KUBE_SYSTEM, "cloud-controller-manager"), *users(user)],
        ),
        cluster_role_binding(
            PREFIX + "cloud-node-controller",
            [service_account(KUBE_SYSTEM, "cloud-node-controller"), *users(user)],
        ),
        cluster_role_binding(
            PREFIX + "service-controller",
            [service_account(KUBE_SYSTEM, "service-controller"), *users(user)],
        ),
    ]
