"""The TokenRequest subresource: `POST …/serviceaccounts/<name>/token` issues a bound token.

What `kubectl create token NAME [--duration D] [--audience A] [--bound-object-kind Pod
--bound-object-name P [--bound-object-uid U]]` sends. As Kubernetes: expirationSeconds defaults
to 3600 and must be 600..2^32 (capped by `--service-account-max-token-expiration`), audiences
default to the apiserver's `--api-audiences`, a bound Pod, Secret or Node must exist (with the
given uid), a pod must run as this ServiceAccount, and a pod-bound token also names the pod's
node.
"""

from __future__ import annotations

import time
from typing import Any

from minik8s.api import errors, times
from minik8s.api.meta import Object, name_of, uid_of
from minik8s.api.models import MODELS
from minik8s.api.resources import NODES, PODS, SECRETS, SERVICEACCOUNTS
from minik8s.api.validation.meta import invalid, model_causes
from minik8s.apiserver.registry import Registry
from minik8s.apiserver.serviceaccount import tokens
from minik8s.apiserver.serviceaccount.tokens import TokenIssuer

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
KIND = "TokenRequest"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
_BINDABLE = {"Pod": PODS, "Secret": SECRETS, "Node": NODES}


async def create_token(
    registry: Registry,
    issuer: TokenIssuer,
    namespace: str,
    name: str,
    body: Any,
    max_expiration_seconds: int = 0,
    dry_run: bool = False,
) -> Object:
    request = _checked(body, name)
    spec = request.setdefault("spec", {})
    spec.setdefault("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    if not spec.get("audiences"):
        spec["audiences"] = list(issuer.audiences)
    seconds = spec["expirationSeconds"]
    if seconds < MIN_EXPIRATION_SECONDS or seconds > MAX_EXPIRATION_SECONDS:
        detail = (
            "may not specify a duration less than 10 minutes"
            if seconds < MIN_EXPIRATION_SECONDS
            else "may not specify a duration larger than 2^32 seconds"
        )
        raise errors.invalid_object(
            KIND, name, [invalid("spec.expirationSeconds", seconds, detail)], GROUP
        )
    if max_expiration_seconds and seconds > max_expiration_seconds:
        spec["expirationSeconds"] = seconds = max_expiration_seconds
    account = await registry.get(SERVICEACCOUNTS, namespace, name)
    bound, node = await _bound_objects(registry, namespace, name, spec.get("boundObjectRef"))
    now = int(time.time())
    request["metadata"] = {
        "name": name,
        "namespace": namespace,
        "creationTimestamp": times.format_timestamp(now),
    }
    if dry_run:
        return request
    claims = tokens.claims(
        issuer.issuer, list(spec["audiences"]), account, now, seconds, bound, node
    )
    request["status"] = {
        "token": issuer.sign(claims),
        "expirationTimestamp": times.format_timestamp(claims["exp"]),
    }
    return request


def _checked(body: Any, name: str) -> Object:
    if not isinstance(body, dict):
        raise errors.BadRequest("the body of the request must be a TokenRequest object")
    if body.get("kind") not in (None, KIND) or body.get("apiVersion") not in (None, API_VERSION):
        raise errors.BadRequest(
            f"the body must be a {API_VERSION} {KIND}, not {body.get('apiVersion')} "
            f"{body.get('kind')}"
        )
    causes = model_causes(MODELS[KIND], body)
    if causes:
        raise errors.invalid_object(KIND, name, causes, GROUP)
    return {"kind": KIND, "apiVersion": API_VERSION, "spec": dict(body.get("spec") or {})}


async def _bound_objects(
    registry: Registry, namespace: str, account: str, ref: Object | None
) -> tuple[tokens.Bound | None, tokens.Bound | None]:
    if not ref:
        return None, None
    kind = ref.get("kind") or ""
    resource = _BINDABLE.get(kind)
    if resource is None or (ref.get("apiVersion") or "v1") != "v1":
        raise errors.BadRequest(
            f'cannot bind token for serviceaccount "{account}" to object of kind '
            f'"{ref.get("apiVersion") or "v1"}, Kind={kind}"'
        )
    if not ref.get("name"):
        raise errors.invalid_object(
            KIND, account, [invalid("spec.boundObjectRef.name", "", "must be specified")], GROUP
        )
    obj = await registry.get(resource, None if resource is NODES else namespace, ref["name"])
    if ref.get("uid") and ref["uid"] != uid_of(obj):
        raise errors.conflict(
            kind,
            ref["name"],
            detail=(
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID "
                f"in record. The object might have been deleted and then recreated"
            ),
        )
    bound = tokens.Bound(kind, name_of(obj), uid_of(obj))
    node = None
    if resource is PODS:
        spec = obj.get("spec") or {}
        if (spec.get("serviceAccountName") or "default") != account:
            raise errors.BadRequest(
                f'cannot bind token for serviceaccount "{account}" to pod running with '
                f"different serviceaccount name."
            )
        if spec.get("nodeName"):
            try:
                found = await registry.get(NODES, None, spec["nodeName"])
                node = tokens.Bound("Node", name_of(found), uid_of(found))
            except errors.NotFound:
                node = None
    return (None, bound) if resource is NODES else (bound, node)
