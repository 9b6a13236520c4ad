"""Paginated lists (`limit` and `continue`), read from etcd at one revision, as Kubernetes does.

The first chunk is read at etcd's current revision (or the `resourceVersion` asked for); its
`continue` token carries that revision and the key to resume after, so every chunk sees the
same snapshot of the store. When etcd has compacted that revision away, the token has
expired: 410 `Expired`, with a token in the Status that continues at the latest revision
(an inconsistent list, as Kubernetes offers). `remainingItemCount` is set when no selector
filters the list. Lists without `limit` (and `resourceVersion=0` ones) are served by the
watch cache instead.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.store import errors as store_errors
from minik8s.store.etcd import EtcdStore

TOKEN_VERSION = "meta.k8s.io/v1"
MAX_CHUNK = 10_000
"""Largest etcd read while filling a filtered chunk (Kubernetes' maxLimit)."""
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True)
class Continue:
    """A decoded `continue` token."""

    resource_version: int
    """The revision every chunk reads at; -1: the latest (after an expired token)."""
    start: str
    """Where the next chunk starts, relative to the list's key prefix."""


@dataclass(frozen=True)
class Chunk:
    items: list[Object]
    resource_version: int
    continue_token: str | None
    remaining_item_count: int | None


class ExpiredContinue(errors.Expired):
    """410 for an expired token; the Status carries a token that continues inconsistently."""

    def __init__(self, message: str, continue_token: str) -> None:
        super().__init__(message)
        self.continue_token = continue_token

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        status["metadata"] = {"continue": self.continue_token}
        return status


def encode_continue(start: str, resource_version: int) -> str:
    raw = orjson.dumps({"v": TOKEN_VERSION, "rv": resource_version, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> Continue:
    """400 BadRequest for a token this server did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise _invalid("continue key is not valid: not base64-encoded JSON") from e
    if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
        raise _invalid(f"continue key is not valid: incorrect encoded version ({TOKEN_VERSION})")
    rv, start = data.get("rv"), data.get("start")
    if isinstance(rv, bool) or not isinstance(rv, int) or rv == 0 or rv < -1:
        raise _invalid("continue key is not valid: incorrect encoded start resourceVersion")
    if not isinstance(start, str) or not start:
        raise _invalid("continue key is not valid: encoded start key empty")
    cleaned = posixpath.normpath("/" + start.rstrip("\x00"))
    if cleaned != "/" + start.rstrip("\x00") or ".." in start.split("/"):
        raise _invalid("continue key is not valid: it must not contain ..")
    return Continue(rv, start)


def _invalid(detail: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid continue token: {detail}")


async def list_chunk(
    store: EtcdStore,
    resource: ResourceType,
    namespace: str | None,
    matches: Callable[[Object], bool] | None,
    limit: int,
    token: str | None,
    resource_version: int = 0,
) -> Chunk:
    """One chunk of at most `limit` objects (all when `limit` is 0), from etcd.

    `resource_version`: read at this revision (0: now); not allowed with a token."""
    prefix = resource.storage_namespace_prefix(namespace) if namespace else resource.storage_prefix
    start_key, revision = prefix, resource_version
    if token:
        position = decode_continue(token)
        start_key = prefix + position.start
        revision = max(position.resource_version, 0)
    items: list[Object] = []
    remaining: int | None = None
    last_key: str | None = None
    more = False
    chunk_size = limit if limit > 0 else 0
    try:
        while True:
            page = await store.list_page(prefix, start_key, chunk_size, revision)
            revision = revision or page.revision  # etcd's header says its newest revision
            more = page.more
            remaining = page.remaining
            for index, item in enumerate(page.items):
                last_key = item.key
                if matches is None or matches(item.value):
                    items.append(item.value)
                    if limit and len(items) == limit:
                        unread = len(page.items) - index - 1
                        more = more or unread > 0
                        remaining = page.remaining + unread
                        break
            else:
                if more and last_key is not None and (not limit or len(items) < limit):
                    start_key = last_key + "\x00"
                    chunk_size = min(max(chunk_size * 2, 1), MAX_CHUNK)
                    continue
            break
    except store_errors.Compacted as e:
        if token:
            raise ExpiredContinue(
                EXPIRED_MESSAGE, encode_continue(start_key[len(prefix) :], -1)
            ) from e
        raise errors.Expired(f"too old resource version: {resource_version}") from e
    except store_errors.FutureRevision as e:
        raise errors.Timeout(
            f"Too large resource version: {resource_version}", retry_after_seconds=1
        ) from e
    next_token = None
    if more and last_key is not None:
        next_token = encode_continue(last_key[len(prefix) :] + "\x00", revision)
    return Chunk(
        items,
        revision,
        next_token,
        remaining if next_token and matches is None and remaining else None,
    )
