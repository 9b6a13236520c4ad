"""The signatures `cluster-info` should carry (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from minik8s.api import bootstraptoken
from minik8s.api.meta import Object


def desired_data(configmap: Object, secrets: Iterable[Object], now: datetime) -> dict[str, str]:
    """`cluster-info`'s data with one `jws-kubeconfig-<id>` per live signing token, and none
    for tokens that are gone, expired or not for signing."""
    data = {
        k: v
        for k, v in (configmap.get("data") or {}).items()
        if not k.startswith(bootstraptoken.JWS_PREFIX)
    }
    content = data.get(bootstraptoken.KUBECONFIG_KEY)
    if content is None:
        return data
    for secret in secrets:
        if not bootstraptoken.usable_for(secret, "signing", now):
            continue
        fields = bootstraptoken.secret_data(secret)
        token_id = fields[bootstraptoken.ID_KEY]
        token_secret = fields.get(bootstraptoken.SECRET_KEY, "")
        if not token_secret:
            continue
        data[f"{bootstraptoken.JWS_PREFIX}{token_id}"] = bootstraptoken.detached_signature(
            content, token_id, token_secret
        )
    return data
