"""etcd v3 access for the apiserver: the only module that talks to etcd.

Values are JSON objects. An object's `metadata.resourceVersion` is not stored: it is the key's
etcd `mod_revision`, set on every read, as in Kubernetes. Requests are built here on etcd's gRPC
stubs (aetcd's protobuf messages); channels, TLS and failover between members live in
`connection.py`.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson
from aetcd import rpc

from minik8s.api.meta import Object
from minik8s.store import errors
from minik8s.store.connection import Channel, Endpoints, TlsFiles
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


@dataclass(frozen=True)
class Claims:
    """Keys written in the same transaction as an object: each of `take` is created and must
    not exist yet (else nothing is written), each of `release` is deleted. How a Service
    holds its ClusterIP and node ports (`apiserver/serviceallocation.py`)."""

    take: dict[str, Object] = field(default_factory=dict)
    release: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.take or self.release)


@dataclass(frozen=True)
class Page:
    """One chunk of a paginated range read."""

    items: list[StoredObject]
    revision: int
    """The store revision the chunk was read at (every chunk of a list reads the same one)."""
    more: bool
    """Whether keys remain after the last item."""
    remaining: int
    """How many keys remain after the last item (at `revision`)."""


@dataclass(frozen=True)
class MemberStatus:
    address: str
    db_size: int
    """Bytes of the member's database file."""
    db_size_in_use: int
    """Bytes of it holding live data; the rest is free pages a defragmentation returns."""


_EQUAL = rpc.Compare.EQUAL
_CREATE = rpc.Compare.CREATE
_MOD = rpc.Compare.MOD
_VERSION = rpc.Compare.VERSION


def encode(obj: Object) -> bytes:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "resourceVersion" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode(raw: bytes, mod_revision: int) -> Object:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.CorruptValue(f"not JSON: {e}") from e
    if not isinstance(obj, dict):
        raise errors.CorruptValue("not a JSON object")
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise errors.CorruptValue("metadata is not an object")
    metadata["resourceVersion"] = str(mod_revision)
    return obj


def prefix_end(prefix: bytes) -> bytes:
    """The end of the key range of everything starting with `prefix`."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def _translate(e: grpc.aio.AioRpcError, where: str) -> errors.StoreError:
    """gRPC failures as the store's own errors (mapped to Status objects by the apiserver)."""
    code, detail = e.code(), e.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or "request timed out" in detail:
        return errors.StoreTimeout(f"etcd {where}: {detail or code.name}")
    if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in detail:
        return errors.Compacted(0)
    if code == grpc.StatusCode.OUT_OF_RANGE and "future revision" in detail:
        return errors.FutureRevision(detail)
    if "request is too large" in detail:
        return errors.ValueTooLarge(detail)
    return errors.StoreUnavailable(f"etcd {where}: {detail or code.name}")


class EtcdStore:
    """Create, read, compare-and-swap update, delete, list and watch JSON objects in etcd."""

    def __init__(
        self,
        servers: list[str],
        timeout: float = 10.0,
        observe: Callable[[str, float], None] | None = None,
        tls: TlsFiles | None = None,
        transformer: ResourceTransformer | None = None,
    ) -> None:
        self._endpoints = Endpoints(servers, tls)
        self._transformer = transformer
        """Encryption at rest (`--encryption-provider-config`): values of the resources it
        names are encrypted on write and decrypted on every read, watches included."""
        self._timeout = timeout
        self._observe = observe
        """Called with (operation, seconds) after each etcd request, for metrics."""
        self._leases: dict[int, tuple[int, float]] = {}
        """ttl -> (lease id, until when new writes may share it)."""
        self._lease_lock = asyncio.Lock()
        self._available = True
        """False from the first failed call until one succeeds: failures are logged once."""
        self.cluster_id: int | None = None
        """The etcd cluster's ID, from the last response: another one means another cluster
        (a restore from a snapshot, or a new etcd on the same address)."""

    def _encode(self, raw_key: bytes, obj: Object) -> bytes:
        value = encode(obj)
        if self._transformer is None:
            return value
        return self._transformer.to_storage(raw_key, value)

    def _decode(self, raw_key: bytes, value: bytes, mod_revision: int) -> Object:
        """A stored value as an object: TransformFailed when it cannot be decrypted,
        CorruptValue when it is not a JSON object."""
        if self._transformer is not None:
            value = self._transformer.from_storage(raw_key, value)
        try:
            return decode(value, mod_revision)
        except errors.CorruptValue as e:
            if value.startswith(b"k8s:enc:"):
                raise errors.TransformFailed(
                    f"unable to decode {raw_key.decode(errors='replace')}: encrypted data "
                    "(is --encryption-provider-config missing or different?)"
                ) from e
            raise errors.CorruptValue(f"{raw_key.decode(errors='replace')}: {e}") from e

    # -- calls ----------------------------------------------------------------------------
    async def _call(
        self,
        operation: str,
        method: Callable[[Channel], Any],
        request: Any,
        mutating: bool = False,
    ) -> Any:
        """One unary gRPC call, on the next member when the current one is unreachable.

        A read is retried on another member whenever one does not answer; a write only when
        it cannot have been sent (the channel was not connected), like etcd's own client."""
        attempts = len(self._endpoints)
        for attempt in range(1, attempts + 1):
            channel = self._endpoints.current
            was_connected = channel.ready()
            started = time.perf_counter()
            try:
                response = await method(channel)(request, timeout=self._timeout)
            except grpc.aio.AioRpcError as e:
                error = _translate(e, channel.endpoint.address)
                if not isinstance(error, errors.StoreUnavailable):
                    raise error from e
                self._endpoints.fail_over(channel)
                unsent = e.code() == grpc.StatusCode.UNAVAILABLE and not was_connected
                if attempt < attempts and (unsent or not mutating):
                    continue
                self._leases.clear()  # e.g. "requested lease not found" from a replaced etcd
                self._note_failure(error)
                raise error from e
            finally:
                if self._observe is not None:
                    self._observe(operation, time.perf_counter() - started)
            self._note_success(response.header)
            return response
        raise AssertionError("unreachable")

    def _note_failure(self, error: errors.StoreError) -> None:
        if self._available:
            self._available = False
            logger.warning(
                "etcd is unavailable (%s); requests that need it get 503/504 until it answers "
                "again (not logged again until then)",
                error,
            )

    def _note_success(self, header: Any) -> None:
        if not self._available:
            self._available = True
            logger.info("etcd answers again (%s)", self.server)
        cluster_id = int(header.cluster_id)
        if cluster_id and cluster_id != self.cluster_id:
            if self.cluster_id is not None:
                logger.warning(
                    "etcd cluster ID changed from %x to %x: another cluster (a restore?)",
                    self.cluster_id,
                    cluster_id,
                )
            self.cluster_id = cluster_id

    @property
    def server(self) -> str:
        return self._endpoints.current.endpoint.address

    @property
    def servers(self) -> list[str]:
        return [e.address for e in self._endpoints.endpoints]

    async def open(self) -> None:
        """Channels open lazily; nothing to wait for here."""

    async def close(self) -> None:
        await self._endpoints.close()

    # -- reads ----------------------------------------------------------------------------
    async def current_revision(self) -> int:
        """The store's revision now (a count-only range: cheap, and linearizable)."""
        rng = await self._range("revision", b"/registry/", b"/registry0", count_only=True)
        return int(rng.header.revision)

    async def ping(self) -> bool:
        try:
            await asyncio.wait_for(self.current_revision(), 2)
            return True
        except (errors.StoreError, TimeoutError):
            return False

    async def get(self, key: str) -> StoredObject:
        rng = await self._range("get", key.encode(), b"")
        if not rng.kvs:
            raise errors.KeyNotFound(key)
        kv = rng.kvs[0]
        return StoredObject(key, self._decode(kv.key, kv.value, kv.mod_revision), kv.mod_revision)

    async def list(self, prefix: str) -> tuple[list[StoredObject], int]:
        """Every object under `prefix` and the store revision of the read (values that do not
        decode are left out, with a log line)."""
        start = prefix.encode()
        rng = await self._range("list", start, prefix_end(start))
        return self._decoded(rng.kvs), int(rng.header.revision)

    async def list_page(self, prefix: str, start_key: str, limit: int, revision: int = 0) -> Page:
        """Up to `limit` objects under `prefix` from `start_key` on, read at `revision`
        (0: now). Raises Compacted when `revision` is no longer held, FutureRevision when
        etcd has not reached it."""
        end = prefix_end(prefix.encode())
        rng = await self._range("list", start_key.encode(), end, limit=limit, revision=revision)
        items = self._decoded(rng.kvs)
        remaining = max(0, int(rng.count) - len(rng.kvs))
        return Page(items, int(rng.header.revision), bool(rng.more), remaining)

    def _decoded(self, kvs: Any) -> builtins.list[StoredObject]:
        """The values that decode; one that cannot be decrypted or decoded (encrypted with a
        key this apiserver lacks, not JSON) is logged and left out: one unreadable object must
        not stop a list or the watch cache."""
        items = []
        for kv in kvs:
            key = kv.key.decode(errors="replace")
            try:
                value = self._decode(kv.key, kv.value, kv.mod_revision)
            except (errors.CorruptValue, errors.TransformFailed) as e:
                logger.error("leaving out %s at revision %d: %s", key, kv.mod_revision, e)
                continue
            items.append(StoredObject(key, value, kv.mod_revision))
        return items

    async def _range(
        self,
        operation: str,
        start: bytes,
        end: bytes,
        count_only: bool = False,
        limit: int = 0,
        revision: int = 0,
    ) -> Any:
        request = rpc.RangeRequest(
            key=start, range_end=end, count_only=count_only, limit=limit, revision=revision
        )
        return await self._call(operation, lambda c: c.kv.Range, request)

    # -- writes ---------------------------------------------------------------------------
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
            granted = await self._call("lease", lambda c: c.lease.LeaseGrant, grant, True)
            self._leases[ttl] = (int(granted.ID), time.monotonic() + window)
            return int(granted.ID)

    async def _put(self, raw: bytes, obj: Object, ttl: int | None) -> Any:
        lease = await self.lease_for(ttl) if ttl else 0
        value = self._encode(raw, obj)
        return rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, lease=lease))

    async def _txn(self, operation: str, request: Any) -> Any:
        return await self._call(operation, lambda c: c.kv.Txn, request, mutating=True)

    async def create(self, key: str, obj: Object, ttl: int | None = None) -> int:
        """Write `obj` at `key` if the key does not exist; return its mod_revision. With `ttl`,
        etcd deletes the key that many seconds later (`lease_for`)."""
        raw = key.encode()
        response = await self._txn(
            "create",
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
        response = await self._txn(
            operation,
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

    async def write_with_claims(
        self,
        key: str,
        obj: Object | None,
        expected_revision: int | None,
        claims: Claims,
        ttl: int | None = None,
    ) -> int:
        """One transaction: create `obj` at `key` (`expected_revision` None), replace it
        (compare-and-swap on `expected_revision`) or delete it (`obj` None), together with
        `claims`. Returns the revision written.

        Raises KeyExists / KeyNotFound / RevisionConflict for `key` as `create`, `update` and
        `delete` do, and ClaimsTaken (naming them) when keys of `claims.take` exist."""
        raw = key.encode()
        if expected_revision is None:
            compare = [rpc.Compare(result=_EQUAL, target=_CREATE, key=raw, create_revision=0)]
        else:
            compare = [
                rpc.Compare(result=_EQUAL, target=_MOD, key=raw, mod_revision=expected_revision)
            ]
        if obj is None:
            write = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw))
        else:
            write = await self._put(raw, obj, ttl)
        taken = [k.encode() for k in claims.take]
        compare += [
            rpc.Compare(result=_EQUAL, target=_CREATE, key=k, create_revision=0) for k in taken
        ]
        success = [write]
        success += [
            rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=self._encode(k, v)))
            for k, v in zip(taken, claims.take.values(), strict=True)
        ]
        success += [
            rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k.encode()))
            for k in claims.release
            if k not in claims.take
        ]
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=k)) for k in [raw, *taken]]
        response = await self._txn(
            "create" if expected_revision is None else "update" if obj is not None else "delete",
            rpc.TxnRequest(compare=compare, success=success, failure=failure),
        )
        if response.succeeded:
            return int(response.header.revision)
        current = response.responses[0].response_range.kvs
        if expected_revision is None and current:
            raise errors.KeyExists(key)
        if expected_revision is not None and not current:
            raise errors.KeyNotFound(key)
        if expected_revision is not None and int(current[0].mod_revision) != expected_revision:
            raise errors.RevisionConflict(key)
        raise errors.ClaimsTaken(
            [
                k.decode()
                for k, r in zip(taken, response.responses[1:], strict=True)
                if r.response_range.kvs
            ]
        )

    async def put_if_version(self, key: str, value: bytes, version: int) -> tuple[bool, int, int]:
        """Write a raw value if the key's version (writes since creation; 0: absent) is
        `version`. Returns (written, the key's version now, the store revision)."""
        raw = key.encode()
        response = await self._txn(
            "compaction-lock",
            rpc.TxnRequest(
                compare=[rpc.Compare(result=_EQUAL, target=_VERSION, key=raw, version=version)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value))],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))],
            ),
        )
        revision = int(response.header.revision)
        if response.succeeded:
            return True, version + 1, revision
        kvs = response.responses[0].response_range.kvs
        return False, int(kvs[0].version) if kvs else 0, revision

    # -- maintenance ----------------------------------------------------------------------
    async def compact(self, revision: int) -> None:
        """Drop the history before `revision` (the keys' current values stay)."""
        request = rpc.CompactionRequest(revision=revision, physical=False)
        try:
            await self._call("compact", lambda c: c.kv.Compact, request, mutating=True)
        except errors.Compacted:
            pass  # another apiserver (or an operator) compacted further already

    async def member_status(self) -> builtins.list[MemberStatus]:
        """The database size of every member that answers."""
        statuses = []
        for channel in self._endpoints.all():
            try:
                status = await channel.maintenance.Status(
                    rpc.StatusRequest(), timeout=self._timeout
                )
            except grpc.aio.AioRpcError as e:
                logger.debug("etcd %s status: %s", channel.endpoint.address, e.details())
                continue
            in_use = int(getattr(status, "dbSizeInUse", 0) or status.dbSize)
            statuses.append(MemberStatus(channel.endpoint.address, int(status.dbSize), in_use))
        return statuses

    async def defragment(self, address: str) -> None:
        """Defragment one member's database (it stops serving while it rewrites the file)."""
        for channel in self._endpoints.all():
            if channel.endpoint.address == address:
                try:
                    await channel.maintenance.Defragment(
                        rpc.DefragmentRequest(), timeout=max(self._timeout, 60.0)
                    )
                except grpc.aio.AioRpcError as e:
                    raise _translate(e, address) from e
                return

    # -- watch ----------------------------------------------------------------------------
    async def watch(
        self, prefix: str, start_revision: int, progress: bool = False
    ) -> AsyncIterator[StoreEvent]:
        """Every change under `prefix` from `start_revision` (inclusive), in revision order.

        Values that do not decrypt or decode come as "UNREADABLE" events (logged): the
        revision still moves on. With `progress`, etcd's progress notifications come as
        events of type "PROGRESS" (no key) carrying the revision the watch has caught up with.
        Raises `errors.Compacted` when `start_revision` is older than etcd's history and
        `errors.StoreUnavailable` when the stream breaks; the caller decides how to resume.
        """
        channel = self._endpoints.current
        start = prefix.encode()
        create = rpc.WatchRequest(
            create_request=rpc.WatchCreateRequest(
                key=start,
                range_end=prefix_end(start),
                start_revision=start_revision,
                progress_notify=progress,
            )
        )
        stop = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield create
            await stop.wait()

        call = channel.watch.Watch(requests())
        try:
            async for response in call:
                self._note_success(response.header)
                if response.compact_revision:
                    raise errors.Compacted(int(response.compact_revision))
                if response.canceled:
                    raise errors.StoreUnavailable(
                        f"etcd {channel.endpoint.address} cancelled the watch: "
                        f"{response.cancel_reason or 'no reason given'}"
                    )
                if not response.events:
                    if not response.created and progress:
                        yield StoreEvent("PROGRESS", "", None, int(response.header.revision))
                    continue
                for event in response.events:
                    yield self._event(event)
            raise errors.StoreUnavailable(f"etcd {channel.endpoint.address}: the watch ended")
        except grpc.aio.AioRpcError as e:
            error = _translate(e, channel.endpoint.address)
            if isinstance(error, errors.StoreUnavailable):
                self._endpoints.fail_over(channel)
                self._note_failure(error)
            raise error from e
        finally:
            stop.set()
            call.cancel()

    def _event(self, event: Any) -> StoreEvent:
        kv = event.kv
        key = kv.key.decode(errors="replace")
        if event.type == rpc.Event.EventType.DELETE:
            return StoreEvent("DELETE", key, None, int(kv.mod_revision))
        try:
            value = self._decode(kv.key, kv.value, kv.mod_revision)
        except (errors.CorruptValue, errors.TransformFailed) as e:
            logger.error("etcd watch: skipping %s at revision %d: %s", key, kv.mod_revision, e)
            return StoreEvent("UNREADABLE", key, None, int(kv.mod_revision))
        return StoreEvent("PUT", key, value, int(kv.mod_revision))
