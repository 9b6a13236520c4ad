"""certificates.k8s.io vocabulary: signer names, key usages, conditions, and the checks the
kubelet signers apply to a request (Kubernetes' `pkg/apis/certificates/helpers.go`).

Pure: parses PEM with `cryptography`, never touches a key file.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from minik8s.api.meta import Object
from minik8s.api.users import NODE_USER_PREFIX, NODES_GROUP

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
KUBELET_SIGNERS = (KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING)

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
TRUE_ONLY_CONDITIONS = (APPROVED, DENIED, FAILED)

USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
    "decipher only", "any", "server auth", "client auth", "code signing", "email protection",
    "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping",
    "ocsp signing", "microsoft sgc", "netscape sgc",
)  # fmt: skip
"""Every key usage a request may name."""

KUBELET_CLIENT_USAGES = (
    frozenset({"digital signature", "key encipherment", "client auth"}),
    frozenset({"digital signature", "client auth"}),
)
KUBELET_SERVING_USAGES = (
    frozenset({"digital signature", "key encipherment", "server auth"}),
    frozenset({"digital signature", "server auth"}),
)
MIN_EXPIRATION_SECONDS = 600


class InvalidRequest(ValueError):
    """The request does not parse, or breaks a signer's rules (the message says which)."""


@dataclass(frozen=True)
class Request:
    """What a PKCS#10 request asks for."""

    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]
    csr: x509.CertificateSigningRequest


def decode_bytes(value: object) -> bytes:
    """A Go []byte field (base64 in JSON)."""
    if not isinstance(value, str):
        raise InvalidRequest("must be base64-encoded bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidRequest(f"illegal base64 data: {e}") from e


def parse_request(pem: bytes) -> Request:
    """The request's subject and alternative names; InvalidRequest when it does not parse or
    its signature does not verify."""
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        raise InvalidRequest("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as e:
        raise InvalidRequest(f"x509: malformed certificate request: {e}") from e
    if not csr.is_signature_valid:
        raise InvalidRequest("x509: ECDSA/RSA verification failure")
    subject = csr.subject
    try:
        names: x509.SubjectAlternativeName | None = csr.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        names = None
    except (ValueError, x509.DuplicateExtension) as e:
        raise InvalidRequest(f"x509: malformed extensions: {e}") from e

    def of(kind: type[x509.GeneralName]) -> tuple[str, ...]:
        return tuple(str(v) for v in names.get_values_for_type(kind)) if names else ()  # type: ignore[arg-type]

    return Request(
        common_name=_first(subject, NameOID.COMMON_NAME),
        organizations=tuple(
            str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        ),
        dns_names=of(x509.DNSName),
        ip_addresses=of(x509.IPAddress),
        emails=of(x509.RFC822Name),
        uris=of(x509.UniformResourceIdentifier),
        csr=csr,
    )


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def check_kubelet_client(request: Request, usages: list[str]) -> None:
    """Kubernetes' ValidateKubeletClientCSR: `system:node:<name>` in `system:nodes`, no
    alternative names, client usages only."""
    if list(request.organizations) != [NODES_GROUP]:
        raise InvalidRequest("subject organization is not system:nodes")
    if request.dns_names:
        raise InvalidRequest("DNS subjectAltNames are not allowed")
    if request.emails:
        raise InvalidRequest("Email subjectAltNames are not allowed")
    if request.ip_addresses:
        raise InvalidRequest("IP subjectAltNames are not allowed")
    if request.uris:
        raise InvalidRequest("URI subjectAltNames are not allowed")
    if not request.common_name.startswith(NODE_USER_PREFIX):
        raise InvalidRequest("subject common name does not begin with system:node:")
    if frozenset(usages) not in KUBELET_CLIENT_USAGES:
        raise InvalidRequest(
            "usages did not match [client auth digital signature key encipherment]"
        )


def check_kubelet_serving(request: Request, usages: list[str]) -> None:
    """Kubernetes' ValidateKubeletServingCSR: `system:node:<name>` in `system:nodes`, DNS or IP
    names, server usages only."""
    if list(request.organizations) != [NODES_GROUP]:
        raise InvalidRequest("subject organization is not system:nodes")
    if not request.dns_names and not request.ip_addresses:
        raise InvalidRequest("DNS or IP subjectAltName is required")
    if request.emails:
        raise InvalidRequest("Email subjectAltNames are not allowed")
    if request.uris:
        raise InvalidRequest("URI subjectAltNames are not allowed")
    if frozenset(usages) not in KUBELET_SERVING_USAGES:
        raise InvalidRequest(
            "usages did not match [digital signature key encipherment server auth]"
        )
    if not request.common_name.startswith(NODE_USER_PREFIX):
        raise InvalidRequest("subject common name does not begin with system:node:")


def certificate_chain_problem(pem: bytes) -> str:
    """Why `pem` is not one or more `CERTIFICATE` blocks ("" when it is)."""
    blocks = 0
    for block in pem.split(b"-----END ")[:-1]:
        begin = block.rfind(b"-----BEGIN ")
        kind = block[begin + 11 :].split(b"-----", 1)[0] if begin >= 0 else b""
        if kind != b"CERTIFICATE":
            return (
                f'only CERTIFICATE PEM blocks are allowed, found "{kind.decode(errors="replace")}"'
            )
        blocks += 1
    if blocks == 0:
        return "must contain at least one CERTIFICATE PEM block"
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        return str(e)
    return ""


def conditions(csr: Object) -> list[Object]:
    found = (csr.get("status") or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def has_condition(csr: Object, kind: str) -> bool:
    return any(c.get("type") == kind for c in conditions(csr))


def is_approved(csr: Object) -> bool:
    return has_condition(csr, APPROVED) and not has_condition(csr, DENIED)


def is_finished(csr: Object) -> bool:
    """Denied, Failed, or issued: no controller has anything left to do."""
    return (
        has_condition(csr, DENIED)
        or has_condition(csr, FAILED)
        or bool((csr.get("status") or {}).get("certificate"))
    )


def condition_summary(csr: Object) -> str:
    """kubectl's CONDITION column: `Denied`, `Approved` or `Pending`, then `,Failed`, `,Issued`."""
    status = (
        "Denied"
        if has_condition(csr, DENIED)
        else "Approved"
        if has_condition(csr, APPROVED)
        else "Pending"
    )
    if has_condition(csr, FAILED):
        status += ",Failed"
    if (csr.get("status") or {}).get("certificate"):
        status += ",Issued"
    return status
