"""`minik8s token create|list|delete`: bootstrap tokens as kubeadm manages them, through the
API (Secrets `kube-system/bootstrap-token-<id>`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import yaml

from minik8s import pki
from minik8s.api import bootstraptoken, errors, times
from minik8s.api.meta import Object
from minik8s.api.resources import CONFIGMAPS, SECRETS
from minik8s.cli.bootstrap import clusterobjects
from minik8s.client import ApiClient

DEFAULT_TTL = 24 * 3600.0
"""kubeadm's default `--ttl` (24h)."""


@dataclass(frozen=True)
class Created:
    token: str
    join_command: str


def ca_pem(client: ApiClient) -> bytes:
    config = client.config
    if config.certificate_authority_data:
        return config.certificate_authority_data
    if config.certificate_authority:
        with open(config.certificate_authority, "rb") as f:
            return f.read()
    raise errors.BadRequest("the kubeconfig has no certificate authority: cannot pin it")


async def create(
    client: ApiClient,
    ttl: float,
    description: str = "",
    token: str | None = None,
    endpoint: str | None = None,
) -> Created:
    """Create a token (random unless given), and the objects joining needs if missing."""
    ca = ca_pem(client)
    await clusterobjects.ensure(client, endpoint or client.server, ca)
    value = token or bootstraptoken.generate()
    now = datetime.datetime.now(datetime.UTC)
    secret = bootstraptoken.new_secret(value, ttl or None, now, description)
    await client.create(SECRETS, secret, bootstraptoken.NAMESPACE)
    command = (
        f"minik8s join {await cluster_endpoint(client)} --token {value} "
        f"--discovery-token-ca-cert-hash {pki.ca_cert_hash(ca)}"
    )
    return Created(value, command)


async def cluster_endpoint(client: ApiClient) -> str:
    """The endpoint `cluster-info` names (where nodes join), else the kubeconfig's server."""
    try:
        info = await client.get(
            CONFIGMAPS,
            bootstraptoken.CLUSTER_INFO,
            bootstraptoken.CLUSTER_INFO_NAMESPACE,
        )
        config = yaml.safe_load((info.get("data") or {}).get(bootstraptoken.KUBECONFIG_KEY, ""))
        return str(config["clusters"][0]["cluster"]["server"])
    except (errors.ApiError, KeyError, IndexError, TypeError, ValueError):
        return client.server


@dataclass(frozen=True)
class Row:
    """One line of `minik8s token list` (kubeadm's columns)."""

    token: str
    ttl: str
    expires: str
    usages: str
    description: str
    extra_groups: str


async def list_tokens(client: ApiClient) -> list[Row]:
    found = await client.list(
        SECRETS,
        bootstraptoken.NAMESPACE,
        field_selector=f"type={bootstraptoken.SECRET_TYPE}",
    )
    now = datetime.datetime.now(datetime.UTC)
    return [row(secret, now) for secret in found.get("items") or []]


def row(secret: Object, now: datetime.datetime) -> Row:
    data = bootstraptoken.secret_data(secret)
    token_id = bootstraptoken.token_id_of(secret) or "<invalid>"
    expires = bootstraptoken.expiration(secret)
    if expires is None:
        ttl, at = "<forever>", "<never>"
    else:
        left = expires - now
        ttl = "<invalid>" if left.total_seconds() < 0 else times.human_duration(left)
        at = times.format_time(expires)
    usages = ",".join(
        sorted(
            k[len("usage-bootstrap-") :]
            for k, v in data.items()
            if k.startswith("usage-") and v == "true"
        )
    )
    return Row(
        f"{token_id}.<secret>",
        ttl,
        at,
        usages or "<none>",
        data.get(bootstraptoken.DESCRIPTION_KEY, "<none>"),
        data.get(bootstraptoken.EXTRA_GROUPS_KEY, "<none>"),
    )


async def delete(client: ApiClient, token_or_id: str) -> str:
    """Delete by `<id>` or `<id>.<secret>`; returns the Secret's name."""
    token_id = token_or_id.split(".", 1)[0]
    if not bootstraptoken.TOKEN_RE.match(f"{token_id}.aaaaaaaaaaaaaaaa"):
        raise bootstraptoken.InvalidToken(
            f'given token or token id "{token_or_id}" didn\'t match pattern '
            f'"{bootstraptoken.TOKEN_RE.pattern}" or "^[a-z0-9]{{6}}$"'
        )
    name = bootstraptoken.secret_name(token_id)
    await client.delete(SECRETS, name, bootstraptoken.NAMESPACE)
    return name
