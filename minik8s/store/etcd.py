"""etcd v3 access for the apiserver: the only module that imports aetcd.

Values are JSON objects. An object's `metadata.resourceVersion` is not stored: it is the key's
etcd `mod_revision`, set on every read, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aetcd
import aetcd.exceptions
import aetcd.rtypes
import orjson
from aetcd import rpc

from minik8s.api.meta import Object
from minik8s.store import errors
from minik8s.store.encryption import ResourceTransformer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredObject:
    key: str
    value: Object
    mod_revision: int


@dataclass(frozen=True)
class StoreEvent:
    """One change of a key, as seen by an etcd watch."""

    type: str  # "PUT", "DELETE", or "UNREADABLE" (a value that does not decode: skip it)
    key: str
    value: Object | None  # the new value (None for DELETE and UNREADABLE)
    revision: int  # the event's mod_revision (for DELETE: the revision of the delete)


_EQUAL = rpc.Compare.EQUAL
_CREATE = rpc.Compare.CREATE
_MOD = rpc.Compare.MOD


def encode(obj: Object) -> bytes:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode(raw: bytes, mod_revision: int) -> Object:
    obj: Object = orjson.loads(raw)
    obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    return obj


def _endpoint(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


class EtcdStore:
    """Create, read, compare-and-swap update, delete, list and watch JSON objects in etcd."""

    def __init__(
        self,
        servers: list[str],
        timeout: float = 10.0,
        observe: Callable[[str, float], None] | None = None,
        transformer: ResourceTransformer | None = None,
    ) -> None:
        self._servers = [_endpoint(s) for s in servers]
        self._transformer = transformer
        """Encryption at rest (`--encryption-provider-config`): values of the resources it
        names are encrypted on write and decrypted on every read, watches included."""
        self._timeout = timeout
        self._client: aetcd.Client | None = None
        self._observe = observe
        """Called with (operation, seconds) after each etcd request, for metrics."""
        self._leases: dict[int, tuple[int, float]] = {}
        """ttl -> (lease id, until when new writes may share it)."""
        self._lease_lock = asyncio.Lock()

    def _encode(self, raw_key: bytes, obj: Object) -> bytes:
        value = encode(obj)
        if self._transformer is None:
            return value
        return self._transformer.to_storage(raw_key, value)

    def _decode(self, raw_key: bytes, value: bytes, mod_revision: int) -> Object:
        if self._transformer is not None:
            value = self._transformer.from_storage(raw_key, value)
        try:
            return decode(value, mod_revision)
        except orjson.JSONDecodeError as e:
            what = "encrypted data" if value.startswith(b"k8s:enc:") else "not JSON"
            raise errors.TransformFailed(
                f"unable to decode {raw_key.decode(errors='replace')}: {what} "
                f"(is --encryption-provider-config missing or different?)"
            ) from e

    def _decoded_or_none(self, raw_key: bytes, value: bytes, mod_revision: int) -> Object | None:
        """For lists and watches: a value that cannot be decrypted or decoded (encrypted with a
        key this apiserver lacks, say) is logged and left out: one unreadable object must not
        stop the watch cache."""
        try:
            return self._decode(raw_key, value, mod_revision)
        except errors.TransformFailed as e:
            logger.error("leaving out %s: %s", raw_key.decode(errors="replace"), e)
            return None

    async def _call(
        self, operation: str, method: Callable[..., Awaitable[Any]], request: Any
    ) -> Any:
        """One unary gRPC call on an aetcd stub (requests are built here: aetcd's helper layers
        cost a tenth of each call on every write's path), timed for the metrics."""
        client = self.client
        started = time.perf_counter()
        try:
            return await method(request, timeout=self._timeout, metadata=client.metadata)
        except (aetcd.rpc.AioRpcError, aetcd.rpc.BaseError) as e:  # down, timed out, closed
            self._leases.clear()  # e.g. "requested lease not found" from a replaced etcd
            detail = (e.details() or e.code()) if isinstance(e, aetcd.rpc.AioRpcError) else e
            raise errors.StoreUnavailable(f"etcd {self.server}: {detail}") from e
        finally:
            if self._observe is not None:
                self._observe(operation, time.perf_counter() - started)

    @property
    def server(self) -> str:
        host, port = self._servers[0]
        return f"{host}:{port}"

    async def open(self) -> None:
        host, port = self._servers[0]
        self._client = aetcd.Client(host=host, port=port, timeout=int(self._timeout))
        await self._client.connect()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> aetcd.Client:
        if self._client is None:
            raise errors.StoreUnavailable("the etcd client is not open")
        return self._client

    async def current_revision(self) -> int:
        """The store's revision now (a count-only range: cheap, and linearizable)."""
        rng = await self._range("revision", b"/registry/", b"/registry0", count_only=True)
        return int(rng.header.revision)

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self.current_revision(), 2)
            return True
        except (errors.StoreUnavailable, TimeoutError):
            return False

    async def get(self, key: str) -> StoredObject:
        rng = await self._range("get", key.encode(), b"")
        if not rng.kvs:
            raise errors.KeyNotFound(key)
        kv = rng.kvs[0]
        return StoredObject(key, self._decode(kv.key, kv.value, kv.mod_revision), kv.mod_revision)

    async def list(self, prefix: str) -> tuple[list[StoredObject], int]:
        """Every object under `prefix` and the store revision of the read."""
        start = prefix.encode()
        rng = await self._range("list", start, aetcd.utils.prefix_range_end(start))
        items = []
        for kv in rng.kvs:
            value = self._decoded_or_none(kv.key, kv.value, kv.mod_revision)
            if value is not None:
                items.append(StoredObject(kv.key.decode(), value, kv.mod_revision))
        return items, int(rng.header.revision)

    async def _range(
        self, operation: str, start: bytes, end: bytes, count_only: bool = False
    ) -> aetcd.rtypes.GetRange:
        request = rpc.RangeRequest(key=start, range_end=end, count_only=count_only)
        response = await self._call(operation, self.client.kvstub.Range, request)
        return aetcd.rtypes.GetRange(response.header, response.kvs, response.more, response.count)

    async def lease_for(self, ttl: int) -> int:
        """A lease under which a key written now goes away after `ttl` to `ttl` x 1.05 seconds.

        Like Kubernetes' lease manager, writes within 5% of `ttl` of each other share a lease
        (one grant, one expiry sweep), granted for `ttl` plus that window."""
        now = time.monotonic()
        lease = self._leases.get(ttl)
        if lease is not None and now < lease[1]:
            return lease[0]
        async with self._lease_lock:
            lease = self._leases.get(ttl)
            if lease is not None and time.monotonic() < lease[1]:
                return lease[0]
            window = max(1, ttl // 20)
            grant = rpc.LeaseGrantRequest(TTL=ttl + window, ID=0)
            granted = await self._call("lease", self.client.leasestub.LeaseGrant, grant)
            self._leases[ttl] = (int(granted.ID), time.monotonic() + window)
            return int(granted.ID)

    async def _put(self, raw: bytes, obj: Object, ttl: int | None) -> Any:
        lease = await self.lease_for(ttl) if ttl else 0
        value = self._encode(raw, obj)
        return rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, lease=lease))

    async def create(self, key: str, obj: Object, ttl: int | None = None) -> int:
        """Write `obj` at `key` if the key does not exist; return its mod_revision. With `ttl`,
        etcd deletes the key that many seconds later (`lease_for`)."""
        raw = key.encode()
        response = await self._call(
            "create",
            self.client.kvstub.Txn,
            rpc.TxnRequest(
                compare=[rpc.Compare(result=_EQUAL, target=_CREATE, key=raw, create_revision=0)],
                success=[await self._put(raw, obj, ttl)],
            ),
        )
        if not response.succeeded:
            raise errors.KeyExists(key)
        return int(response.responses[0].response_put.header.revision)

    async def update(
        self, key: str, obj: Object, expected_revision: int, ttl: int | None = None
    ) -> int:
        """Replace the value at `key` if its mod_revision is still `expected_revision`; with
        `ttl`, the key's time to live starts again."""
        raw = key.encode()
        put = await self._put(raw, obj, ttl)
        response = await self._compare_and_swap("update", raw, expected_revision, put)
        return int(response.response_put.header.revision)

    async def delete(self, key: str, expected_revision: int) -> int:
        """Delete `key` if its mod_revision is still `expected_revision`; return the revision."""
        raw = key.encode()
        delete = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw))
        response = await self._compare_and_swap("delete", raw, expected_revision, delete)
        return int(response.response_delete_range.header.revision)

    async def _compare_and_swap(
        self, operation: str, raw: bytes, expected_revision: int, write: Any
    ) -> Any:
        response = await self._call(
            operation,
            self.client.kvstub.Txn,
            rpc.TxnRequest(
                compare=[
                    rpc.Compare(result=_EQUAL, target=_MOD, key=raw, mod_revision=expected_revision)
                ],
                success=[write],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))],
            ),
        )
        if not response.succeeded:
            if not response.responses or not response.responses[0].response_range.kvs:
                raise errors.KeyNotFound(raw.decode())
            raise errors.RevisionConflict(raw.decode())
        return response.responses[0]

    async def compact(self, revision: int) -> None:
        await self.client.compact(revision, physical=True)

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        """Every change under `prefix` from `start_revision` (inclusive), in revision order.

        Raises `errors.Compacted` when `start_revision` is older than etcd's history and
        `errors.StoreUnavailable` when the stream breaks; the caller decides how to resume.
        """
        start = prefix.encode()
        try:
            watch = await self.client.watch(
                start,
                range_end=aetcd.utils.prefix_range_end(start),
                start_revision=start_revision,
            )
        except aetcd.exceptions.RevisionCompactedError as e:
            raise errors.Compacted(e.compacted_revision) from e
        except aetcd.exceptions.ClientError as e:
            raise errors.StoreUnavailable(f"etcd watch {self.server}: {e}") from e
        try:
            async for event in watch:
                kv = event.kv
                key = kv.key.decode()
                if event.kind == aetcd.rtypes.EventKind.PUT:
                    value = self._decoded_or_none(kv.key, kv.value, kv.mod_revision)
                    kind = "PUT" if value is not None else "UNREADABLE"
                    yield StoreEvent(kind, key, value, kv.mod_revision)
                else:
                    yield StoreEvent("DELETE", key, None, kv.mod_revision)
        except aetcd.exceptions.RevisionCompactedError as e:
            raise errors.Compacted(e.compacted_revision) from e
        except aetcd.exceptions.ClientError as e:
            raise errors.StoreUnavailable(f"etcd watch {self.server}: {e}") from e
        finally:
            try:
                await watch.cancel()
            except Exception:  # the channel may already be gone
                logger.debug("cancelling the etcd watch failed", exc_info=True)
