"""Object semantics over the store: create, read, update, patch, delete, bind, scale.

Every write is a compare-and-swap on the key's etcd mod_revision; nothing is written unless
the whole object passed defaulting and validation.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from minik8s.api import defaults, errors, meta, patch, times, validation
from minik8s.api.meta import Object
from minik8s.api.patch import DecodedPatch
from minik8s.api.resources import (
    CERTIFICATESIGNINGREQUESTS,
    EVENTS,
    NAMESPACES,
    PODS,
    SERVICES,
    STORAGECLASSES,
    ResourceType,
)
from minik8s.api.selectors import label_selector_from_object, label_selector_from_set
from minik8s.apiserver import (
    admission_storage,
    allocators,
    certificates,
    conversion,
    fieldvalidation,
    managedfields,
    metrics,
    params,
    serviceallocation,
    strategy,
)
from minik8s.apiserver.admission import CREATE, DELETE, UPDATE
from minik8s.apiserver.admission import Admission as ValidatingAdmission
from minik8s.apiserver.watchcache import WatchCache
from minik8s.store import errors as store_errors
from minik8s.store.etcd import EtcdStore

logger = logging.getLogger(__name__)

UPDATE_ATTEMPTS = 8
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
Admission = Callable[[ResourceType, Object], Awaitable[None]]
"""A mutating admission plugin for creates: may change the object or raise an ApiError."""


@dataclass(frozen=True)
class RegistrySettings:
    service_cluster_ip_range: str = "10.96.0.0/16"
    """CIDR ClusterIPs are allocated from."""
    service_node_port_range: tuple[int, int] = (30000, 32767)
    """Inclusive range NodePorts are allocated from."""
    event_ttl: int = 3600
    """Seconds an Event lives after its last write (`--event-ttl`); 0 keeps them."""


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Foreground, Background, Orphan
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


def clone(obj: Object) -> Object:
    return orjson.loads(orjson.dumps(obj))  # type: ignore[no-any-return]


class Registry:
    def __init__(
        self,
        store: EtcdStore,
        cache: WatchCache,
        settings: RegistrySettings,
        validating: ValidatingAdmission | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.settings = settings
        self.validating = validating or ValidatingAdmission()
        """Validating admission plugins, run after validation on every write."""
        self.admission: list[Admission] = []
        """Run in order on every create, after defaulting and before validation."""

    async def _write(
        self,
        resource: ResourceType,
        key: str,
        obj: Object | None,
        revision: int | None,
        old: Object | None,
    ) -> int:
        """Create (`revision` None), compare-and-swap update, or delete (`obj` None) `key`.
        A Service's address keys are created and released in the same transaction
        (`serviceallocation`); ClaimsTaken when another Service holds one of them."""
        if resource is SERVICES:
            claims = serviceallocation.claims(old, obj)
            if claims:
                return await self.store.write_with_claims(
                    key, obj, revision, claims, self._ttl(resource)
                )
        if obj is None:
            assert revision is not None
            return await self.store.delete(key, revision)
        if revision is None:
            return await self.store.create(key, obj, self._ttl(resource))
        return await self.store.update(key, obj, revision, self._ttl(resource))

    def _assign_addresses(
        self, svc: Object, old: Object | None, taken: serviceallocation.Taken
    ) -> None:
        """ClusterIP and node ports for `svc` (in place), avoiding the other Services' in the
        cache and what etcd refused before."""
        key = SERVICES.storage_key(svc["metadata"].get("namespace"), svc["metadata"]["name"])
        others = [s for k, s in self.cache.cache(SERVICES).objects.items() if k != key]
        allocators.assign_service_addresses(
            svc,
            others,
            self.settings.service_cluster_ip_range,
            self.settings.service_node_port_range,
            old=old,
            taken_ips=taken.ips,
            taken_ports=taken.ports,
        )

    def _ttl(self, resource: ResourceType) -> int | None:
        """Events expire, as in Kubernetes; everything else stays."""
        return (self.settings.event_ttl or None) if resource is EVENTS else None

    # -- errors with the resource's name -------------------------------------------------
    @staticmethod
    def _not_found(resource: ResourceType, name: str) -> errors.NotFound:
        return errors.not_found(resource.plural, name, resource.group)

    @staticmethod
    def _conflict(resource: ResourceType, name: str, detail: str = "") -> errors.Conflict:
        return errors.conflict(resource.plural, name, resource.group, detail)

    # -- reads ------------------------------------------------------------------------------
    async def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object:
        try:
            return (await self.store.get(resource.storage_key(namespace, name))).value
        except store_errors.KeyNotFound as e:
            raise self._not_found(resource, name) from e

    async def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        matches: Callable[[Object], bool] | None,
        resource_version: str | None,
    ) -> tuple[list[Object], int]:
        """Objects and the list's resourceVersion, served from the watch cache.

        resourceVersion unset: a consistent read (the cache first catches up with etcd);
        "0": whatever the cache holds; N: the cache holds at least revision N.
        """
        self.cache.check_serving()
        if not resource_version:
            try:
                await self.cache.wait_fresh()
            except errors.Timeout:
                # The cache did not catch up with etcd in time (a burst of writes): read etcd,
                # as Kubernetes' cacher falls back to storage for a consistent list.
                return await self._list_from_etcd(resource, namespace, matches)
            metrics.CONSISTENT_READS.labels(resource.plural, "true", "false").inc()
        elif resource_version != "0":
            await self.cache.wait_for_revision(_parse_rv(resource_version))
        objects = self.cache.cache(resource).snapshot(namespace)
        if matches is not None:
            objects = [o for o in objects if matches(o)]
        return objects, self.cache.revision

    async def _list_from_etcd(
        self,
        resource: ResourceType,
        namespace: str | None,
        matches: Callable[[Object], bool] | None,
    ) -> tuple[builtins.list[Object], int]:
        prefix = (
            resource.storage_namespace_prefix(namespace)
            if resource.namespaced and namespace is not None
            else resource.storage_prefix
        )
        try:
            items, revision = await self.store.list(prefix)
        except Exception:
            metrics.CONSISTENT_READS.labels(resource.plural, "false", "true").inc()
            raise
        metrics.CONSISTENT_READS.labels(resource.plural, "true", "true").inc()
        objects = [item.value for item in items]
        if matches is not None:
            objects = [o for o in objects if matches(o)]
        return objects, revision

    # -- create -------------------------------------------------------------------------------
    async def create(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: Any,
        dry_run: bool = False,
        manager: str = "unknown",
        applied: bool = False,
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> Object:
        """Create; `manager` is the field manager recorded in managedFields (`applied`: the
        body is the result of a server-side apply and already carries them)."""
        return await self._create(
            resource, namespace, body, dry_run, manager, applied, field_validation
        )

    async def _create(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: Any,
        dry_run: bool,
        manager: str,
        applied: bool,
        field_validation: str,
    ) -> Object:
        obj = strategy.check_type(resource, body)
        fieldvalidation.check(resource.api_version, resource.kind, obj, field_validation)
        strategy.check_namespace(resource, obj, namespace)
        applied_fields = obj["metadata"].get("managedFields") if applied else None
        strategy.prepare_for_create(resource, obj)
        name = obj["metadata"].get("name") or ""
        if resource.namespaced:
            await self._check_namespace_open(resource, obj["metadata"]["namespace"], name)
        defaults.apply_defaults(resource, obj)
        admission_storage.admit_create(resource, obj, self._storage_classes)
        for admit in self.admission:
            await admit(resource, obj)
        causes = validation.validate_create(resource, obj)
        if causes:
            raise errors.invalid_object(resource.kind, name, causes, resource.group)
        self.validating.validate(CREATE, resource, None, obj)
        key = resource.storage_key(obj["metadata"].get("namespace"), name)
        taken = serviceallocation.Taken()
        unassigned = clone(obj) if resource is SERVICES else obj
        for _ in range(serviceallocation.ATTEMPTS):
            if resource is SERVICES:
                obj = clone(unassigned)
                self._assign_addresses(obj, None, taken)
            if applied_fields:
                obj["metadata"]["managedFields"] = applied_fields
            else:
                managedfields.track(resource, None, obj, manager)
            if dry_run:
                return obj
            try:
                revision = await self._write(resource, key, obj, None, None)
            except store_errors.KeyExists as e:
                raise errors.already_exists(resource.plural, name, resource.group) from e
            except store_errors.ClaimsTaken as e:
                logger.debug("services %s: addresses taken meanwhile: %s", key, e.keys)
                await self._learn_claims(taken, e.keys)
                continue
            obj["metadata"]["resourceVersion"] = str(revision)
            return obj
        raise self._conflict(resource, name, "too many concurrent address allocations")

    def _storage_classes(self) -> Iterable[Object]:
        return self.cache.cache(STORAGECLASSES).objects.values()

    async def _check_namespace_open(
        self, resource: ResourceType, namespace: str, name: str
    ) -> None:
        ns = self.cache.cache(NAMESPACES).objects.get(NAMESPACES.storage_key(None, namespace))
        if ns is None:
            try:
                stored = await self.store.get(NAMESPACES.storage_key(None, namespace))
            except store_errors.KeyNotFound as e:
                raise errors.not_found("namespaces", namespace) from e
            ns = stored.value
            # admission reads the namespace (its PodSecurity labels) from the cache: a
            # namespace created a moment ago must be there, or it would not be enforced
            await self.cache.wait_for_revision(stored.mod_revision)
        if meta.is_deleting(ns):
            qualified = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
            raise errors.Forbidden(
                f'{qualified} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                kind=resource.plural,
                name=name,
                group=resource.group,
            )

    # -- update -------------------------------------------------------------------------------
    async def guaranteed_update(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[Object], Object | None],
        precondition_rv: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Object, bool]:
        """Read, mutate, compare-and-swap; retry on a lost race unless a version was asked for.

        `mutate` gets a private copy and returns the new object (None: nothing to write).
        Returns the stored object and whether it still exists.
        """
        key = resource.storage_key(namespace, name)
        cached = self.cache.cache(resource).objects.get(key)
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            if cached is not None and attempt == 1:
                current, revision = cached, _parse_rv(cached["metadata"]["resourceVersion"])
            else:
                try:
                    stored = await self.store.get(key)
                except store_errors.KeyNotFound as e:
                    raise self._not_found(resource, name) from e
                current, revision = stored.value, stored.mod_revision
            if precondition_rv is not None and precondition_rv != str(revision):
                if attempt == 1 and cached is not None:
                    continue  # the cache may lag: check against etcd before refusing
                raise self._conflict(resource, name)
            try:
                updated = mutate(clone(current))
            except errors.ApiError:
                if attempt == 1 and cached is not None:
                    continue  # judged on cached data, which may lag: retry against etcd
                raise
            if updated is None or _same(updated, current):
                if attempt == 1 and cached is not None and precondition_rv is not None:
                    continue  # a no-op judged on cached data: confirm against etcd
                return current, True
            if dry_run:
                return updated, True
            try:
                if strategy.should_delete_now(resource, updated):
                    await self._write(resource, key, None, revision, current)
                    return updated, False
                new_revision = await self._write(resource, key, updated, revision, current)
            except store_errors.KeyNotFound as e:
                raise self._not_found(resource, name) from e
            except store_errors.RevisionConflict as e:
                if precondition_rv is not None:
                    raise self._conflict(resource, name) from e
                logger.debug(
                    "%s %s/%s: update lost a race (attempt %d/%d)",
                    resource.plural,
                    namespace,
                    name,
                    attempt,
                    UPDATE_ATTEMPTS,
                )
                continue
            updated["metadata"]["resourceVersion"] = str(new_revision)
            return updated, True
        raise self._conflict(resource, name, "too many concurrent updates; please try again")

    async def update(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str = "unknown",
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> Object:
        """PUT of the object or of its `status`/`finalize` subresource."""
        new = strategy.check_type(resource, body)
        fieldvalidation.check(resource.api_version, resource.kind, new, field_validation)
        strategy.check_namespace(resource, new, namespace)
        if new["metadata"].get("name") not in (None, name):
            raise errors.BadRequest(
                f"the name of the object ({new['metadata'].get('name')}) does not match the name "
                f"on the URL ({name})"
            )
        new["metadata"]["name"] = name
        precondition = new["metadata"].get("resourceVersion") or None

        async def attempt(taken: serviceallocation.Taken) -> Object:
            obj, _ = await self.guaranteed_update(
                resource,
                namespace,
                name,
                lambda old: self._apply_update(
                    resource, clone(new), old, subresource, manager, taken=taken
                ),
                precondition_rv=precondition,
                dry_run=dry_run,
            )
            return obj

        return await self._allocating(resource, name, attempt)

    async def _allocating(
        self,
        resource: ResourceType,
        name: str,
        attempt: Callable[[serviceallocation.Taken], Awaitable[Object]],
    ) -> Object:
        """Run an update; for a Service, again with another address while etcd says one it
        chose is held by another Service (ClaimsTaken)."""
        taken = serviceallocation.Taken()
        for _ in range(serviceallocation.ATTEMPTS):
            try:
                return await attempt(taken)
            except store_errors.ClaimsTaken as e:
                logger.debug("services %s: addresses taken meanwhile: %s", name, e.keys)
                await self._learn_claims(taken, e.keys)
        raise self._conflict(resource, name, "too many concurrent address allocations")

    async def _learn_claims(self, taken: serviceallocation.Taken, clashed: Iterable[str]) -> None:
        """After a lost allocation round: every address etcd holds now, not only the ones
        that clashed. In a burst through several apiservers the cache lags behind the others'
        writes, and a nearly full range would otherwise lose round after round."""
        taken.add_keys(clashed)
        held, _ = await self.store.list(serviceallocation.PREFIX)
        taken.add_keys(item.key for item in held)

    def _apply_update(
        self,
        resource: ResourceType,
        new: Object,
        old: Object,
        subresource: str | None,
        manager: str,
        applied: bool = False,
        taken: serviceallocation.Taken | None = None,
    ) -> Object:
        """`new` checked and completed as an update of `old` (its managedFields recorded for
        `manager`, unless `applied`: a server-side apply computed them already)."""
        sent = (new.get("metadata") or {}).get("managedFields")
        if resource is CERTIFICATESIGNINGREQUESTS:
            result = certificates.prepare_for_update(new, old, subresource)
        elif subresource == "status":
            result = strategy.prepare_for_status_update(new, old)
        elif subresource == "finalize":
            result = strategy.prepare_for_finalize(new, old)
        elif subresource == "ephemeralcontainers":
            result = strategy.prepare_for_ephemeral_containers_update(new, old)
        else:
            result = new
            strategy.prepare_for_update(resource, result, old)
        defaults.apply_defaults(resource, result)
        if subresource in ("status", "approval"):  # the spec is the stored one
            causes = validation.validate_status_update(resource, result, old, subresource)
        elif subresource == "ephemeralcontainers":
            causes = validation.validate_ephemeral_containers_update(result, old)
        else:
            causes = validation.validate_update(resource, result, old)
        if causes:
            name = old["metadata"]["name"]
            raise errors.invalid_object(resource.kind, name, causes, resource.group)
        self.validating.validate(UPDATE, resource, subresource, result, old)
        if resource is SERVICES and subresource is None:
            self._assign_addresses(result, old, taken or serviceallocation.Taken())
        if applied:
            result.setdefault("metadata", {})["managedFields"] = sent
        else:
            managedfields.track(resource, old, result, manager, subresource, sent)
        return result

    async def patch(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: DecodedPatch,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str = "unknown",
        force: bool = False,
        converter: conversion.Converter | None = None,
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> Object:
        """PATCH of any type; an apply patch (`application/apply-patch+yaml`) is server-side
        apply by `manager` (creating the object when it does not exist). With `converter`,
        the patch applies to the object in the converter's served version (`resource` is the
        stored one)."""
        is_apply = body.media_type == patch.APPLY_PATCH
        config = patch.check_apply_configuration(body.document) if is_apply else None
        served = converter.served if converter is not None else resource

        def mutate(old: Object, taken: serviceallocation.Taken) -> Object:
            # a patch leaves its target alone (`old` stays the update's old object); an apply
            # merges into its own copy
            view = converter.from_storage(old) if converter is not None else old
            if config is not None:
                live = view if converter is not None else clone(old)
                patched = managedfields.apply(served, live, config, manager, force, subresource)
            else:
                patched = patch.apply_decoded(view, body, served.kind)
            patched = strategy.check_type(served, patched)
            fieldvalidation.check(
                served.api_version, served.kind, patched, field_validation, patched=True
            )
            if converter is not None:
                patched = converter.to_storage(patched)
            patched["metadata"]["name"] = name
            if resource.namespaced:
                patched["metadata"]["namespace"] = namespace
            # A resourceVersion inside the patch is a precondition, checked against `old`.
            wanted = patched["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"].get("resourceVersion"):
                raise self._conflict(resource, name)
            return self._apply_update(
                resource,
                patched,
                old,
                subresource,
                manager,
                applied=config is not None,
                taken=taken,
            )

        async def attempt(taken: serviceallocation.Taken) -> Object:
            obj, _ = await self.guaranteed_update(
                resource, namespace, name, lambda old: mutate(old, taken), dry_run=dry_run
            )
            return obj

        try:
            obj = await self._allocating(resource, name, attempt)
        except errors.NotFound:
            if config is None or subresource is not None:
                raise
            # Server-side apply creates what does not exist yet.
            created = managedfields.apply(served, None, config, manager, force)
            created.setdefault("metadata", {})["name"] = name
            if converter is not None:
                created = converter.to_storage(created)
            return await self.create(
                resource,
                namespace,
                created,
                dry_run=dry_run,
                manager=manager,
                applied=True,
                field_validation=field_validation,
            )
        return obj

    # -- delete -------------------------------------------------------------------------------
    async def delete(
        self, resource: ResourceType, namespace: str | None, name: str, options: DeleteOptions
    ) -> tuple[Object, bool]:
        """Delete or start terminating; returns the object and whether it is gone."""
        if resource is NAMESPACES and name in PROTECTED_NAMESPACES:
            raise errors.Forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                kind="namespaces",
                name=name,
            )
        key = resource.storage_key(namespace, name)
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            try:
                stored = await self.store.get(key)
            except store_errors.KeyNotFound as e:
                raise self._not_found(resource, name) from e
            obj = clone(stored.value)
            metadata = obj["metadata"]
            self.validating.validate(DELETE, resource, None, stored.value)
            if options.precondition_uid and options.precondition_uid != metadata.get("uid"):
                raise self._conflict(
                    resource,
                    name,
                    (
                        f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                        f"UID in object meta: {metadata.get('uid')}"
                    ),
                )
            rv = options.precondition_resource_version
            if rv and rv != str(stored.mod_revision):
                raise self._conflict(
                    resource,
                    name,
                    (
                        f"Precondition failed: ResourceVersion in precondition: {rv}, "
                        f"ResourceVersion in object meta: {stored.mod_revision}"
                    ),
                )
            grace = strategy.delete_grace_period(resource, obj, options.grace_period_seconds)
            add = []
            if options.propagation_policy == "Foreground":
                add.append("foregroundDeletion")
            elif options.propagation_policy == "Orphan":
                add.append("orphan")
            if resource is NAMESPACES:
                obj.setdefault("status", {})["phase"] = "Terminating"
            pending = (
                grace > 0
                or bool(metadata.get("finalizers"))
                or bool(add)
                or (resource is NAMESPACES and bool((obj.get("spec") or {}).get("finalizers")))
            )
            try:
                if not pending:
                    if not options.dry_run:
                        await self._write(resource, key, None, stored.mod_revision, stored.value)
                    return stored.value, True
                if not strategy.mark_terminating(obj, grace, add) and resource is not NAMESPACES:
                    return stored.value, False
                if options.dry_run:
                    return obj, False
                revision = await self.store.update(key, obj, stored.mod_revision)
            except store_errors.RevisionConflict:
                logger.debug(
                    "delete %s %s/%s lost a race (attempt %d/%d)",
                    resource.plural,
                    namespace,
                    name,
                    attempt,
                    UPDATE_ATTEMPTS,
                )
                continue
            except store_errors.KeyNotFound as e:
                raise self._not_found(resource, name) from e
            metadata["resourceVersion"] = str(revision)
            return obj, False
        raise self._conflict(resource, name, "too many concurrent updates; please try again")

    # -- subresources -------------------------------------------------------------------------
    async def bind(
        self,
        namespace: str,
        name: str,
        body: Any,
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> None:
        fieldvalidation.check_typed("v1", "Binding", body, "Binding")
        fieldvalidation.check("v1", "Binding", body, field_validation)
        causes = validation.validate_binding(body)
        if causes:
            raise errors.invalid_object("Binding", name, causes)
        node = body["target"]["name"]

        def assign(pod: Object) -> Object:
            spec = pod.setdefault("spec", {})
            if meta.is_deleting(pod):
                raise self._conflict(
                    PODS, name, f"pod {name} is being deleted, cannot be assigned to a host"
                )
            if spec.get("nodeName"):
                raise self._conflict(
                    PODS, name, f'pod {name} is already assigned to node "{spec["nodeName"]}"'
                )
            spec["nodeName"] = node
            status = pod.setdefault("status", {})
            conditions = [
                c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
            ]
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": times.now_rfc3339(),
                }
            )
            status["conditions"] = conditions
            return pod

        await self.guaranteed_update(PODS, namespace, name, assign)

    async def get_scale(self, resource: ResourceType, namespace: str, name: str) -> Object:
        return to_scale(await self.get(resource, namespace, name))

    async def update_scale(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        scale: Any,
        dry_run: bool = False,
        manager: str = "unknown",
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> Object:
        fieldvalidation.check_typed("autoscaling/v1", "Scale", scale, "Scale")
        fieldvalidation.check("autoscaling/v1", "Scale", scale, field_validation)
        if not isinstance(scale.get("spec") or {}, dict):
            raise errors.BadRequest("the body of the request must be a Scale object")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid_object(
                "Scale",
                name,
                [errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        precondition = (scale.get("metadata") or {}).get("resourceVersion") or None

        def set_replicas_from(old: Object) -> Object:
            new = clone(old)
            new.setdefault("spec", {})["replicas"] = replicas
            new.setdefault("metadata", {}).pop("managedFields", None)
            scaled = self._apply_update(resource, new, old, None, manager, applied=True)
            managedfields.track(resource, old, scaled, manager, "scale")
            return scaled

        obj, _ = await self.guaranteed_update(
            resource,
            namespace,
            name,
            set_replicas_from,
            precondition_rv=precondition,
            dry_run=dry_run,
        )
        return to_scale(obj)

    async def patch_scale(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: DecodedPatch,
        dry_run: bool = False,
        manager: str = "unknown",
        field_validation: str = params.DEFAULT_FIELD_VALIDATION,
    ) -> Object:
        current = await self.get_scale(resource, namespace, name)
        patched = patch.apply_decoded(current, body, "Scale")
        patched.setdefault("metadata", {}).pop("resourceVersion", None)
        return await self.update_scale(
            resource, namespace, name, patched, dry_run, manager, field_validation
        )

    async def ensure_namespaces(self, names: tuple[str, ...]) -> None:
        for ns in names:
            try:
                await self.create(NAMESPACES, None, {"metadata": {"name": ns}})
                logger.info("created namespace %s", ns)
            except errors.AlreadyExists:
                pass


def to_scale(obj: Object) -> Object:
    metadata = obj.get("metadata", {})
    selector = (obj.get("spec") or {}).get("selector")
    selector_text = ""
    if selector and obj.get("kind") == "ReplicationController":  # a plain map
        selector_text = str(label_selector_from_set(selector))
    elif selector:
        selector_text = str(label_selector_from_object(selector))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_text,
        },
    }


def _parse_rv(value: str) -> int:
    try:
        return int(value)
    except ValueError as e:
        raise errors.BadRequest(f'invalid resource version "{value}"') from e


def _same(a: Object, b: Object) -> bool:
    # Deep dict equality runs in C; JSON-decoded values compare as their JSON does.
    return a == b
