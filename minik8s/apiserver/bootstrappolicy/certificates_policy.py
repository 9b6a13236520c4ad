"""The ClusterRoles of TLS bootstrapping (Kubernetes' bootstrappolicy for certificates.k8s.io).

Kubernetes ships the roles; kubeadm binds them (`minik8s token create` does the same, see
`minik8s/cli/bootstrap/`): `system:node-bootstrapper` to the bootstrap tokens' group, the
`nodeclient` role (auto-approval of a new node's client certificate) to that group too, and
`selfnodeclient` (auto-approval of a renewal) to `system:nodes`.
"""

from __future__ import annotations

from minik8s.api import certificates
from minik8s.api.meta import Object
from minik8s.apiserver.bootstrappolicy.builders import READ, cluster_role, rule

CERTIFICATES = "certificates.k8s.io"
NODE_BOOTSTRAPPER = "system:node-bootstrapper"
NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"


def certificate_roles() -> list[Object]:
    return [
        cluster_role(
            NODE_BOOTSTRAPPER,
            [rule(("create", *READ), (CERTIFICATES,), ("certificatesigningrequests",))],
        ),
        cluster_role(
            NODE_CLIENT,
            [rule(("create",), (CERTIFICATES,), ("certificatesigningrequests/nodeclient",))],
        ),
        cluster_role(
            SELF_NODE_CLIENT,
            [rule(("create",), (CERTIFICATES,), ("certificatesigningrequests/selfnodeclient",))],
        ),
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            [
                rule(
                    ("approve",),
                    (CERTIFICATES,),
                    ("signers",),
                    (certificates.KUBE_APISERVER_CLIENT,),
                )
            ],
        ),
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            [
                rule(
                    ("approve",),
                    (CERTIFICATES,),
                    ("signers",),
                    (certificates.KUBE_APISERVER_CLIENT_KUBELET,),
                )
            ],
        ),
        cluster_role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            [rule(("approve",), (CERTIFICATES,), ("signers",), (certificates.KUBELET_SERVING,))],
        ),
    ]
