"""What the certificate controllers decide about a CertificateSigningRequest (pure).

Approval follows Kubernetes' `sarapprove`: a kubelet client request whose subject is a node is
approved when its requestor may `create` `certificatesigningrequests/nodeclient` (a bootstrap
token's group, through kubeadm's binding) or, for the node renewing its own certificate,
`certificatesigningrequests/selfnodeclient` (the group `system:nodes`). Kubernetes leaves
everything else to people or other approvers; minik8s also approves, so that a joined node
works without a person:

- a kubelet serving request from the node itself whose names are the Node's own (its name and
  the addresses in its status), as the community `kubelet-csr-approver` does;
- the kube-proxy client certificate (`CN=system:kube-proxy`, no groups, no names) of a
  requestor that may get a node client certificate (`nodeclient`): whoever may join a node
  runs its kube-proxy, as a k3s agent's token gets it kube-proxy's certificate.

Signing follows the kubelet signers' rules (`check_kubelet_client`/`check_kubelet_serving`);
a request that breaks them gets the `Failed` condition (`SignerValidationFailure`).
"""

from __future__ import annotations

from dataclasses import dataclass

from minik8s.api import certificates, meta
from minik8s.api.meta import Object
from minik8s.api.users import KUBE_PROXY, NODE_USER_PREFIX

NODE_CLIENT = "nodeclient"
SELF_NODE_CLIENT = "selfnodeclient"
CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
SIGNABLE = (
    certificates.KUBE_APISERVER_CLIENT,
    certificates.KUBE_APISERVER_CLIENT_KUBELET,
    certificates.KUBELET_SERVING,
)
"""Signers whose requests the controller-manager signs with the cluster CA."""
DEFAULT_DURATION = 365 * 24 * 3600.0
"""`--cluster-signing-duration` (Kubernetes' default, 8760h)."""


@dataclass(frozen=True)
class Approval:
    """How a request may be approved: after a SubjectAccessReview of `sar_subresource`
    (empty: none), or once the Node `node` has exactly the names asked for."""

    message: str
    sar_subresource: str = ""
    node: str = ""


def spec(csr: Object) -> Object:
    return meta.spec_of(csr)


def parse(csr: Object) -> certificates.Request | None:
    try:
        return certificates.parse_request(certificates.decode_bytes(spec(csr).get("request")))
    except certificates.InvalidRequest:
        return None


def approval(csr: Object) -> Approval | None:
    """How `csr` may be approved automatically (None: not by this controller)."""
    if certificates.has_condition(csr, certificates.APPROVED) or certificates.has_condition(
        csr, certificates.DENIED
    ):
        return None
    request = parse(csr)
    if request is None:
        return None
    s = spec(csr)
    signer, usages = s.get("signerName"), list(s.get("usages") or [])
    requestor = str(s.get("username") or "")
    if signer == certificates.KUBE_APISERVER_CLIENT_KUBELET:
        try:
            certificates.check_kubelet_client(request, usages)
        except certificates.InvalidRequest:
            return None
        if request.common_name == requestor:
            return Approval(
                "Auto approving self kubelet client certificate after SubjectAccessReview.",
                SELF_NODE_CLIENT,
            )
        return Approval(
            "Auto approving kubelet client certificate after SubjectAccessReview.", NODE_CLIENT
        )
    if signer == certificates.KUBELET_SERVING:
        try:
            certificates.check_kubelet_serving(request, usages)
        except certificates.InvalidRequest:
            return None
        if request.common_name != requestor:
            return None
        node = request.common_name[len(NODE_USER_PREFIX) :]
        return Approval(
            f"Auto approving kubelet serving certificate: its names are Node {node}'s.",
            node=node,
        )
    if signer == certificates.KUBE_APISERVER_CLIENT and is_kube_proxy_request(request, usages):
        return Approval(
            "Auto approving kube-proxy client certificate for a joining node after "
            "SubjectAccessReview.",
            NODE_CLIENT,
        )
    return None


def is_kube_proxy_request(request: certificates.Request, usages: list[str]) -> bool:
    return (
        request.common_name == KUBE_PROXY
        and not request.organizations
        and not (request.dns_names or request.ip_addresses or request.emails or request.uris)
        and "client auth" in usages
        and set(usages) <= CLIENT_USAGES
    )


def names_are_the_nodes(request: certificates.Request, node: Object | None) -> bool:
    """A serving request's names: the node's name and addresses, nothing else."""
    if node is None:
        return False
    name = meta.name_of(node)
    addresses = {
        a.get("address")
        for a in (node.get("status") or {}).get("addresses") or []
        if isinstance(a, dict)
    }
    allowed_dns = {name} | {a for a in addresses if a and not _is_ip(a)}
    return set(request.dns_names) <= allowed_dns and set(request.ip_addresses) <= addresses


def _is_ip(text: str) -> bool:
    return text.replace(".", "").isdigit() or ":" in text


def signing_problem(csr: Object, request: certificates.Request | None) -> str | None:
    """Why the cluster CA must not sign `csr` (None: sign it)."""
    if request is None:
        return "unable to parse csr: PEM block type must be CERTIFICATE REQUEST"
    s = spec(csr)
    usages = list(s.get("usages") or [])
    signer = s.get("signerName")
    try:
        if signer == certificates.KUBE_APISERVER_CLIENT_KUBELET:
            certificates.check_kubelet_client(request, usages)
        elif signer == certificates.KUBELET_SERVING:
            certificates.check_kubelet_serving(request, usages)
    except certificates.InvalidRequest as e:
        return str(e)
    if signer == certificates.KUBE_APISERVER_CLIENT and not (
        "client auth" in usages and set(usages) <= CLIENT_USAGES
    ):
        return "invalid usage for client certificate: " + ", ".join(
            sorted(set(usages) - CLIENT_USAGES) or ["client auth is missing"]
        )
    return None


def wants_signing(csr: Object) -> bool:
    """Approved, for a signer of ours, and not yet issued or failed."""
    return (
        spec(csr).get("signerName") in SIGNABLE
        and certificates.is_approved(csr)
        and not certificates.is_finished(csr)
    )


def lifetime(csr: Object, default: float) -> float:
    """`spec.expirationSeconds` (at least 600) within the signer's maximum `default`."""
    asked = spec(csr).get("expirationSeconds")
    if isinstance(asked, int) and asked >= certificates.MIN_EXPIRATION_SECONDS:
        return min(float(asked), default)
    return default
