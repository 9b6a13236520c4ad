"""CertificateSigningRequests in the apiserver: Kubernetes' registry strategy and its three
admission plugins for the kind.

Strategy (`pkg/registry/certificates/certificates/strategy.go`): a create records who asked
(`spec.username`, `uid`, `groups`, `extra`: never the client's word) and starts with an empty
status; an update of the object changes only its metadata; `status` (the signer's) changes
the certificate and conditions other than Approved/Denied; `approval` (the approver's)
changes only the conditions. Timestamps of new conditions are filled.

Admission: `CertificateApproval` (changing Approved/Denied needs the verb `approve` on
`signers/<signerName>` of certificates.k8s.io), `CertificateSigning` (setting the certificate
needs `sign` there), `CertificateSubjectRestriction` (no `system:masters` through the
kube-apiserver-client signer).
"""

from __future__ import annotations

from typing import Any

from minik8s.api import certificates, errors, times
from minik8s.api.meta import Object
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS, ResourceType
from minik8s.apiserver import requestcontext
from minik8s.apiserver.admission import CREATE, UPDATE, Request
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import Union
from minik8s.apiserver.requestinfo import Attributes

GROUP = "certificates.k8s.io"
APPROVAL_TYPES = (certificates.APPROVED, certificates.DENIED)


async def admit_create(resource: ResourceType, obj: Object) -> None:
    """The mutating half of a create: who asked, from the request's user."""
    if resource is not CERTIFICATESIGNINGREQUESTS:
        return
    user = requestcontext.current_user()
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return  # validation says so
    spec["username"] = user.name
    spec["uid"] = user.uid
    spec["groups"] = list(user.groups)
    spec["extra"] = user.extra_dict()
    for key in ("uid", "extra"):
        if not spec[key]:
            del spec[key]
    obj["status"] = {}


def prepare_for_update(new: Object, old: Object, subresource: str | None) -> Object:
    """The object an update of `old` stores, from what the client sent (`new`)."""
    result = {**new, "spec": old.get("spec")}
    old_status = old.get("status") or {}
    new_status = new.get("status") if isinstance(new.get("status"), dict) else {}
    if subresource is None:
        result["status"] = old_status
    elif subresource == "status":
        kept = [c for c in certificates.conditions(old) if c.get("type") in APPROVAL_TYPES]
        others = [
            c
            for c in (new_status or {}).get("conditions") or []
            if isinstance(c, dict) and c.get("type") not in APPROVAL_TYPES
        ]
        result["status"] = {**(new_status or {}), "conditions": _stamped(kept + others, old)}
    else:  # approval
        status = {**old_status, "conditions": _stamped(
            [c for c in (new_status or {}).get("conditions") or [] if isinstance(c, dict)], old
        )}  # fmt: skip
        result["status"] = status
    if not result["status"].get("conditions"):
        result["status"].pop("conditions", None)
    result["metadata"] = {**(old.get("metadata") or {}), **_mutable_metadata(new)}
    return result


def _mutable_metadata(obj: Object) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {
        k: metadata[k]
        for k in ("labels", "annotations", "finalizers", "ownerReferences", "resourceVersion")
        if k in metadata
    }


def _stamped(conditions: list[Object], old: Object) -> list[Object]:
    """Kubernetes' populateConditionTimestamps: new conditions get now; unchanged ones keep
    theirs."""
    now = times.now_rfc3339()
    before = {c.get("type"): c for c in certificates.conditions(old)}
    stamped = []
    for condition in conditions:
        previous = before.get(condition.get("type"))
        condition = dict(condition)
        condition.setdefault("status", "True")
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            same = previous is not None and previous.get("status") == condition["status"]
            condition["lastTransitionTime"] = (
                previous.get("lastTransitionTime") or now if same and previous else now
            )
        stamped.append(condition)
    return stamped


class CertificatesAdmission:
    """CertificateApproval, CertificateSigning and CertificateSubjectRestriction."""

    resources = frozenset({CERTIFICATESIGNINGREQUESTS.plural})

    def __init__(self, authorizer: Union | None) -> None:
        self.authorizer = authorizer

    def validate(self, request: Request) -> None:
        spec = request.obj.get("spec") or {}
        signer = str(spec.get("signerName") or "")
        name = str((request.obj.get("metadata") or {}).get("name") or "")
        if request.operation == CREATE and signer == certificates.KUBE_APISERVER_CLIENT:
            self._subject_restriction(spec, name)
        if request.operation != UPDATE or request.old is None:
            return
        if request.subresource == "approval" and _approval(request.obj) != _approval(request.old):
            if not self._may(request.user, "approve", signer):
                raise _forbidden(
                    name, f'user not permitted to approve requests with signerName "{signer}"'
                )
        if request.subresource == "status" and (request.obj.get("status") or {}).get(
            "certificate"
        ) != (request.old.get("status") or {}).get("certificate"):
            if not self._may(request.user, "sign", signer):
                raise _forbidden(
                    name, f'user not permitted to sign requests with signerName "{signer}"'
                )

    def _may(self, user: UserInfo, verb: str, signer: str) -> bool:
        if self.authorizer is None or users.SYSTEM_PRIVILEGED_GROUP in user.groups:
            return True
        domain = signer.split("/", 1)[0]
        for name in (signer, f"{domain}/*"):
            attrs = Attributes(user, verb, True, "", GROUP, "v1", "signers", "", name)
            if self.authorizer.allowed(attrs):
                return True
        return False

    @staticmethod
    def _subject_restriction(spec: Object, name: str) -> None:
        try:
            request = certificates.parse_request(certificates.decode_bytes(spec.get("request")))
        except certificates.InvalidRequest:
            return  # validation reports it
        if users.SYSTEM_PRIVILEGED_GROUP in request.organizations:
            raise _forbidden(
                name,
                f"use of {certificates.KUBE_APISERVER_CLIENT} signer with system:masters group "
                "is not allowed",
            )


def _approval(csr: Object) -> list[Any]:
    return [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
        for c in certificates.conditions(csr)
        if c.get("type") in APPROVAL_TYPES
    ]


def _forbidden(name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(
        f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: {why}',
        kind="certificatesigningrequests",
        name=name,
        group=GROUP,
    )
