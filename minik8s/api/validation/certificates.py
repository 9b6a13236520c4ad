"""Validation of CertificateSigningRequests (pkg/apis/certificates/validation)."""

from __future__ import annotations

from minik8s.api import certificates, errors
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import index, invalid, mapping, required, too_long

CONDITIONS = "status.conditions"
ALL_STATUS_VALUES = ["False", "True", "Unknown"]
APPROVAL_TYPES = (certificates.APPROVED, certificates.DENIED)


def validate_csr(csr: Object) -> list[Cause]:
    """A CertificateSigningRequest as created (and as every update leaves it)."""
    spec = mapping(csr, "spec")
    causes: list[Cause] = []
    try:
        certificates.parse_request(certificates.decode_bytes(spec.get("request")))
    except certificates.InvalidRequest as e:
        causes.append(invalid("spec.request", "<request data>", str(e)))
    usages = spec.get("usages") or []
    if not usages:
        causes.append(required("spec.usages"))
    seen: set[str] = set()
    for i, usage in enumerate(usages):
        path = index("spec.usages", i)
        if usage not in certificates.USAGES:
            causes.append(errors.not_supported(path, usage, sorted(certificates.USAGES)))
        elif usage in seen:
            causes.append(errors.duplicate(path, usage))
        seen.add(usage)
    causes += validate_signer_name(spec.get("signerName"))
    expiration = spec.get("expirationSeconds")
    if isinstance(expiration, int) and expiration < certificates.MIN_EXPIRATION_SECONDS:
        causes.append(
            invalid(
                "spec.expirationSeconds",
                expiration,
                "may not specify a duration less than 600 seconds (10 minutes)",
            )
        )
    causes += _validate_conditions(csr)
    certificate = mapping(csr, "status").get("certificate")
    if certificate:
        message = _certificate_problem(certificate)
        if message:
            causes.append(invalid("status.certificate", "<certificate data>", message))
    return causes


def validate_signer_name(name: object) -> list[Cause]:
    """`<domain>/<path>`: a DNS subdomain with at least two labels, a slash, a path."""
    path = "spec.signerName"
    if not name:
        return [required(path)]
    if not isinstance(name, str):
        return [invalid(path, name, "must be a string")]
    if name == certificates.LEGACY_UNKNOWN:
        return [invalid(path, name, "the legacy signerName is not allowed via this API version")]
    domain, slash, rest = name.partition("/")
    if not slash:
        return [
            invalid(
                path,
                name,
                "must be a fully qualified domain and path of the form 'example.com/signer-name'",
            )
        ]
    causes = []
    if "." not in domain or fmt.is_dns1123_subdomain(domain):
        causes.append(
            invalid(path, name, "should be a domain with at least two segments separated by dots")
        )
    if not rest:
        causes.append(invalid(path, name, "validating path: must not be empty"))
    if len(name) > 571:
        causes.append(too_long(path, 571))
    return causes


def _validate_conditions(csr: Object) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, condition in enumerate(certificates.conditions(csr)):
        path = index(CONDITIONS, i)
        kind = condition.get("type") or ""
        status = condition.get("status") or ""
        if not kind:
            causes.append(required(f"{path}.type"))
        allowed = ["True"] if kind in certificates.TRUE_ONLY_CONDITIONS else ALL_STATUS_VALUES
        if not status:
            causes.append(required(f"{path}.status"))
        elif status not in allowed:
            causes.append(errors.not_supported(f"{path}.status", status, allowed))
        if kind in APPROVAL_TYPES and (set(APPROVAL_TYPES) - {kind}) & seen:
            causes.append(
                invalid(
                    f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"
                )
            )
        if kind and kind in seen:
            causes.append(errors.duplicate(f"{path}.type", kind))
        seen.add(kind)
    return causes


def _certificate_problem(value: object) -> str:
    try:
        pem = certificates.decode_bytes(value)
    except certificates.InvalidRequest as e:
        return str(e)
    return certificates.certificate_chain_problem(pem)


def validate_csr_update(new: Object, old: Object, subresource: str | None = None) -> list[Cause]:
    """What an update may change: conditions are never removed; Approved/Denied only through
    `approval`; the certificate only through `status`, and only once."""
    causes: list[Cause] = []
    for kind in (*APPROVAL_TYPES, certificates.FAILED):
        if len(_of_type(new, kind)) < len(_of_type(old, kind)):
            causes.append(
                errors.forbidden(CONDITIONS, f'updates may not remove a condition of type "{kind}"')
            )
    if subresource != "approval":
        for kind in APPROVAL_TYPES:
            before, after = _of_type(old, kind), _of_type(new, kind)
            if len(after) > len(before):
                causes.append(
                    errors.forbidden(
                        CONDITIONS, f'updates may not add a condition of type "{kind}"'
                    )
                )
            elif len(after) == len(before) and after != before:
                causes.append(
                    errors.forbidden(
                        CONDITIONS, f'updates may not modify a condition of type "{kind}"'
                    )
                )
    new_certificate = mapping(new, "status").get("certificate") or ""
    old_certificate = mapping(old, "status").get("certificate") or ""
    if new_certificate != old_certificate:
        if subresource != "status":
            causes.append(
                errors.forbidden("status.certificate", "updates may not set certificate content")
            )
        elif old_certificate:
            causes.append(
                errors.forbidden(
                    "status.certificate", "updates may not modify existing certificate content"
                )
            )
    return causes


def _of_type(csr: Object, kind: str) -> list[Object]:
    return [c for c in certificates.conditions(csr) if c.get("type") == kind]
