"""The REST verbs of every resource: one dispatcher from (method, path) to the registry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from minik8s.api import errors, patch, selectors
from minik8s.api.fieldmanager import manager as fieldmanager
from minik8s.api.meta import Object
from minik8s.api.resources import NODES, PODS, REVIEWS, ResourceType
from minik8s.apiserver import (
    conversion,
    discovery,
    eviction,
    fieldvalidation,
    kubeletproxy,
    metrics,
    pagination,
    params,
    requestcontext,
    routing,
    storage_errors,
    strategy,
    streamproxy,
    versioned,
    warning,
    wire,
)
from minik8s.apiserver.aggregator import discovery as aggregated_discovery
from minik8s.apiserver.aggregator import proxy as aggregator_proxy
from minik8s.apiserver.aggregator.controller import Aggregator
from minik8s.apiserver.audit import context as audit_context
from minik8s.apiserver.registry import DeleteOptions, Registry
from minik8s.apiserver.reviews import Reviews
from minik8s.apiserver.serviceaccount import tokenrequest
from minik8s.apiserver.serviceaccount.setup import ServiceAccounts
from minik8s.apiserver.watch import WatchRequest, WatchStream, expired_event
from minik8s.apiserver.watchcache import WatchCache
from minik8s.apiserver.watchlimits import WatchLimits
from minik8s.printers import tables
from minik8s.store import errors as store_errors

logger = logging.getLogger(__name__)

SCALABLE_KINDS = ("Deployment", "ReplicaSet")
OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions"}


class ResourceHandler:
    def __init__(
        self,
        registry: Registry,
        cache: WatchCache,
        bookmark_interval: float = 30.0,
        watch_limits: WatchLimits | None = None,
        reviews: Reviews | None = None,
        kubelets: kubeletproxy.KubeletClient | None = None,
        service_accounts: ServiceAccounts | None = None,
        aggregator: Aggregator | None = None,
    ) -> None:
        self.registry = registry
        self.aggregator = aggregator
        self.cache = cache
        self.bookmark_interval = bookmark_interval
        self.watch_limits = watch_limits or WatchLimits()
        self.reviews = reviews
        self.kubelets = kubelets or kubeletproxy.KubeletClient()
        self.service_accounts = service_accounts
        self.versioned = versioned.VersionedHandler(registry, self)

    # -- shared with versioned.py ---------------------------------------------------------
    manager_of = staticmethod(lambda request, apply=False: _manager(request, apply))

    def matcher(
        self, request: Request, resource: ResourceType, single: str | None = None
    ) -> Callable[[Object], bool] | None:
        return _matcher(request, resource, single)

    async def watch(
        self,
        request: Request,
        resource: ResourceType,
        namespace: str | None,
        *,
        matches: Callable[[Object], bool] | None,
        convert: conversion.Converter,
    ) -> Response:
        return await self._watch(request, resource, namespace, matches=matches, convert=convert)

    async def delete_options(self, request: Request, dry_run: bool) -> DeleteOptions:
        return await _delete_options(request, dry_run)

    async def read_patch(self, request: Request) -> patch.DecodedPatch:
        return await _read_patch(request)

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        verb, resource_name = "unknown", ""
        recorded = warning.start()
        try:
            if self._is_aggregated(request):
                verb = "proxy"
                assert self.aggregator is not None
                return await aggregator_proxy.forward(request, self.aggregator)
            target = routing.parse(request.scope["path"])
            if target is None or isinstance(target, routing.UnknownPath):
                message = (
                    target.message if target else "the server could not find the requested resource"
                )
                raise errors.NotFound(message)
            if isinstance(target, routing.UnsupportedPath):
                raise errors.NotImplementedYet(target.message)
            if isinstance(target, routing.GroupPath):
                verb = "get"
                group = discovery.api_group(target.group) or aggregated_discovery.api_group(
                    self.aggregator, target.group
                )
                if group is None:
                    raise errors.NotFound("the server could not find the requested resource")
                return wire.json_response(group)
            if isinstance(target, routing.GroupVersionPath):
                verb = "get"
                body = discovery.api_resource_list(target.group, target.version)
                if body is None:
                    raise errors.NotFound("the server could not find the requested resource")
                return wire.json_response(body)
            resource_name = target.resource.plural + (
                f"/{target.subresource}" if target.subresource else ""
            )
            verb = _verb(request, target)
            response = await self._dispatch(request, target, verb)
        except errors.ApiError as e:
            response = wire.error_response(e)
        except store_errors.StoreError as e:
            response = wire.error_response(storage_errors.api_error(e))
        except Exception as e:  # a bug: answer with a Status, log the traceback (never send it)
            logger.exception("%s %s failed", request.method, request.scope["path"])
            audit_context.log_panic(e)
            response = wire.error_response(
                errors.InternalError("an internal error occurred; see the apiserver's log")
            )
        for value in warning.header_values(recorded):
            response.headers.append("Warning", value)
        if verb != "watch":
            metrics.observe_request(verb, resource_name, response.status_code, started)
        return response

    def _is_aggregated(self, request: Request) -> bool:
        """A group version an APIService sends to an extension server (proxied there)."""
        if self.aggregator is None:
            return False
        target = aggregator_proxy.split(request.scope["path"])
        return target is not None and self.aggregator.is_aggregated(*target)

    async def _dispatch(
        self, request: Request, target: routing.ResourcePath, verb: str
    ) -> Response:
        resource, namespace, name = target.resource, target.namespace, target.name
        converter = conversion.converter(resource)
        if converter is not None:
            return await self.versioned.dispatch(request, target, converter)
        query = request.query_params
        method = request.method
        sub = target.subresource
        options_kind = OPTIONS_KIND.get(method, "DeleteOptions")
        dry_run = params.dry_run(query.getlist("dryRun"), options_kind)
        validation = (
            params.field_validation(query, options_kind)
            if method in OPTIONS_KIND
            else params.DEFAULT_FIELD_VALIDATION
        )

        if resource in REVIEWS:
            if method != "POST" or name is not None:
                raise _not_allowed(method, resource.plural)
            if self.reviews is None:
                raise errors.NotImplementedYet(f"{resource.plural} are not served")
            body = wire.decode_object(await wire.read_body(request), _ctype(request))
            user = request.scope.get(requestcontext.SCOPE_USER) or requestcontext.current_user()
            return wire.json_response(self.reviews.create(resource, namespace, body, user), 201)
        if sub == "binding":
            if method != "POST":
                raise _not_allowed(method, "pods/binding")
            binding = await wire.read_object(request)
            fieldvalidation.check_typed("v1", "Binding", binding, "Binding")
            pod_name = name or (binding.get("metadata") or {}).get("name")
            if not pod_name:
                raise errors.BadRequest("a Binding must name the pod in metadata.name")
            assert namespace is not None
            await self.registry.bind(namespace, pod_name, binding, validation)
            return wire.json_response(wire.success_status(code=201), 201)
        if sub == "eviction":
            if method != "POST":
                raise _not_allowed(method, "pods/eviction")
            assert namespace is not None and name is not None
            body = await wire.read_object(request)
            fieldvalidation.check_typed("policy/v1", "Eviction", body, "Eviction")
            return wire.json_response(
                await eviction.evict(self.registry, namespace, name, body), 201
            )
        if sub == "scale":
            return await self._scale(request, resource, namespace, name or "", dry_run, validation)
        if sub == "log":
            if method != "GET":
                raise _not_allowed(method, "pods/log")
            assert namespace is not None and name is not None
            return await self.kubelets.logs(self.registry, namespace, name, query)
        if sub in streamproxy.CONNECT_SUBRESOURCES:  # upgrades are relayed by asgi.py
            raise errors.BadRequest("Upgrade request required")
        if sub == "proxy" and resource is NODES:
            assert name is not None
            return await self.kubelets.node_proxy(self.registry, request, name, target.path)
        if sub == "token":
            return await self._token_request(request, namespace, name, dry_run)

        if name is None:
            if method == "GET":
                if params.boolean(query, "watch"):
                    return await self._watch(request, resource, namespace)
                return await self._list(request, resource, namespace)
            if method == "POST":
                body = await wire.read_object(request)
                obj = await self.registry.create(
                    resource,
                    namespace,
                    body,
                    dry_run=dry_run,
                    manager=_manager(request),
                    field_validation=validation,
                )
                return self._object_response(request, resource, obj, 201)
            if method == "DELETE":
                return await self._delete_collection(request, resource, namespace, dry_run)
            raise _not_allowed(method, resource.plural)

        if method == "GET":
            if params.boolean(query, "watch"):
                return await self._watch(request, resource, namespace, single=name)
            obj = await self.registry.get(resource, namespace, name)
            return self._object_response(request, resource, obj)
        if method == "PUT":
            body = await wire.read_object(request)
            obj = await self.registry.update(
                resource,
                namespace,
                name,
                body,
                sub,
                dry_run=dry_run,
                manager=_manager(request),
                field_validation=validation,
            )
            return self._object_response(request, resource, obj)
        if method == "PATCH":
            decoded = await _read_patch(request)
            obj = await self.registry.patch(
                resource, namespace, name, decoded, sub, dry_run=dry_run,
                manager=_manager(request, apply=decoded.media_type == patch.APPLY_PATCH),
                force=params.boolean(query, "force"),
                field_validation=validation,
            )  # fmt: skip
            return self._object_response(request, resource, obj)
        if method == "DELETE":
            options = await _delete_options(request, dry_run)
            obj, gone = await self.registry.delete(resource, namespace, name, options)
            if gone and not strategy.returns_deleted_object(resource):
                return wire.json_response(
                    wire.success_status(wire.deleted_details(resource.group, resource.plural, obj))
                )
            return self._object_response(request, resource, obj)
        raise _not_allowed(method, resource.plural)

    async def _token_request(
        self, request: Request, namespace: str | None, name: str | None, dry_run: bool
    ) -> Response:
        if request.method != "POST":
            raise _not_allowed(request.method, "serviceaccounts/token")
        accounts = self.service_accounts
        if accounts is None or accounts.issuer is None:
            raise errors.NotImplementedYet(
                "serviceaccounts/token: this apiserver issues no tokens: start it with "
                "--service-account-signing-key-file and --service-account-issuer"
            )
        assert namespace is not None and name is not None
        body = await wire.read_object(request)
        fieldvalidation.check_typed(
            "authentication.k8s.io/v1", "TokenRequest", body, "TokenRequest"
        )
        token = await tokenrequest.create_token(
            self.registry,
            accounts.issuer,
            namespace,
            name,
            body,
            accounts.max_expiration_seconds,
            dry_run,
        )
        return wire.json_response(token, 201)

    def _object_response(
        self, request: Request, resource: ResourceType, obj: Object, code: int = 200
    ) -> Response:
        if wire.request_wants_table(request):
            return wire.json_response(
                tables.to_table(resource, [obj], include_object=_include_object(request)), code
            )
        return wire.json_response(obj, code)

    async def _list(
        self, request: Request, resource: ResourceType, namespace: str | None
    ) -> Response:
        query = request.query_params
        matches = _matcher(request, resource)
        include = _include_object(request) if wire.request_wants_table(request) else None
        limit = params.integer(query, "limit") or 0
        token = query.get("continue") or None
        rv = query.get("resourceVersion") or None
        match = query.get("resourceVersionMatch") or None
        _check_resource_version_match(match, rv)
        metadata: Object
        if token and rv not in (None, "0"):
            raise errors.BadRequest(
                "specifying resource version is not allowed when using continue"
            )
        if token or match == "Exact" or (limit > 0 and rv != "0"):
            # Paginated or exact: read from etcd at one revision (continue tokens expire
            # with compaction), as Kubernetes does.
            exact = _parse_rv(rv) if rv and not token else 0
            chunk = await pagination.list_chunk(
                self.registry.store, resource, namespace, matches, limit, token, exact
            )
            objects, metadata = chunk.items, {"resourceVersion": str(chunk.resource_version)}
            if chunk.continue_token:
                metadata["continue"] = chunk.continue_token
            if chunk.remaining_item_count is not None:
                metadata["remainingItemCount"] = chunk.remaining_item_count
        else:
            objects, revision = await self.registry.list(resource, namespace, matches, rv)
            metadata = {"resourceVersion": str(revision)}
        if include is not None:
            table = tables.to_table(
                resource, objects, list_resource_version=metadata["resourceVersion"],
                include_object=include,
            )  # fmt: skip
            table.setdefault("metadata", {}).update(metadata)
            return wire.json_response(table)
        body = _list_body(resource, objects, 0)
        body["metadata"] = metadata
        return wire.json_response(body)

    async def _watch(
        self,
        request: Request,
        resource: ResourceType,
        namespace: str | None,
        single: str | None = None,
        *,
        matches: Callable[[Object], bool] | None = None,
        convert: conversion.Converter | None = None,
    ) -> Response:
        """A watch of `resource`'s stored objects; `convert`: they are sent in another
        version (and `matches` judges the stored form)."""
        query = request.query_params
        if convert is None:
            matches = _matcher(request, resource, single)
        node_name, name = None, single
        field_text = query.get("fieldSelector")
        if field_text:
            fields = selectors.parse_field_selector(field_text)
            if resource is PODS:
                node_name = fields.exact("spec.nodeName")
            name = name or fields.exact("metadata.name")
        timeout = params.integer(query, "timeoutSeconds", minimum=0)
        allow_bookmarks = params.boolean(query, "allowWatchBookmarks")
        send_initial_events = params.boolean(query, "sendInitialEvents")
        transform = convert.from_storage if convert is not None else None
        if wire.request_wants_table(request):
            include = _include_object(request)

            def transform(obj: Object) -> Object:
                return tables.to_table(resource, [obj], include_object=include)

        client = _client_of(request)
        self.watch_limits.acquire(client)
        try:
            stream = WatchStream(
                self.cache,
                WatchRequest(
                    resource=resource,
                    namespace=namespace,
                    resource_version=query.get("resourceVersion"),
                    matches=matches,
                    node_name=node_name or None,
                    name=name or None,
                    timeout_seconds=self.watch_limits.timeout(timeout),
                    allow_bookmarks=allow_bookmarks,
                    send_initial_events=send_initial_events,
                    transform=transform,
                ),
                self.bookmark_interval,
                self.watch_limits.min_request_timeout,
            )
            await stream.open()
        except errors.Expired as e:
            self.watch_limits.release(client)
            return Response(expired_event(e), media_type=wire.JSON)
        except BaseException:
            self.watch_limits.release(client)
            raise
        metrics.WATCHES.labels(resource.plural).inc()
        return StreamingResponse(
            _counted(stream, resource.plural, lambda: self.watch_limits.release(client)),
            media_type=wire.JSON,
            headers={"Cache-Control": "no-cache, private"},
        )

    async def _delete_collection(
        self, request: Request, resource: ResourceType, namespace: str | None, dry_run: bool
    ) -> Response:
        options = await _delete_options(request, dry_run)
        objects, revision = await self.registry.list(
            resource, namespace, _matcher(request, resource), None
        )
        deleted = []
        for obj in objects:
            try:
                meta = obj["metadata"]
                result, _ = await self.registry.delete(
                    resource, meta.get("namespace"), meta["name"], options
                )
                deleted.append(result)
            except errors.NotFound:
                continue
        return wire.json_response(_list_body(resource, deleted, revision))

    async def _scale(
        self,
        request: Request,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        dry_run: bool,
        validation: str,
    ) -> Response:
        assert namespace is not None
        method = request.method
        if method == "GET":
            return wire.json_response(await self.registry.get_scale(resource, namespace, name))
        if method == "PUT":
            body = await wire.read_object(request)
            return wire.json_response(
                await self.registry.update_scale(
                    resource, namespace, name, body, dry_run, _manager(request), validation
                )
            )
        if method == "PATCH":
            decoded = await _read_patch(request)
            return wire.json_response(
                await self.registry.patch_scale(
                    resource, namespace, name, decoded, dry_run, _manager(request), validation
                )
            )
        raise _not_allowed(method, f"{resource.plural}/scale")


def _list_body(resource: ResourceType, items: list[Object], revision: int) -> Object:
    return {
        "kind": resource.list_kind,
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": str(revision)},
        "items": items,
    }


async def _counted(stream: WatchStream, plural: str, release: Callable[[], None]) -> Any:
    try:
        async for chunk in stream.lines():
            yield chunk
    finally:
        metrics.WATCHES.labels(plural).dec()
        release()


def _client_of(request: Request) -> str:
    """Who a watch counts against: the authenticated user, else the peer address."""
    user = request.scope.get(requestcontext.SCOPE_USER)
    if user is not None:
        return f"user {user.name}"
    peer = request.scope.get("client")
    return f"client {peer[0]}" if peer else "client unknown"


def _include_object(request: Request) -> str:
    value = wire.table_include_object(request)
    if value not in tables.INCLUDE_OBJECT_CHOICES:
        raise errors.BadRequest(
            f"includeObject must be one of {', '.join(tables.INCLUDE_OBJECT_CHOICES)}, "
            f"not {value!r}"
        )
    return value


def _parse_rv(value: str) -> int:
    try:
        revision = params.parse_int(value, "resourceVersion")
    except errors.BadRequest as e:
        raise errors.BadRequest(f'invalid resource version "{value}"') from e
    if revision < 0:
        raise errors.BadRequest(f'invalid resource version "{value}"')
    return revision


def _check_resource_version_match(match: str | None, rv: str | None) -> None:
    if match is None:
        return
    if match not in ("Exact", "NotOlderThan"):
        raise errors.invalid_object(
            "ListOptions", "",
            [errors.not_supported("resourceVersionMatch", match, ["Exact", "NotOlderThan"])],
            "meta.k8s.io",
        )  # fmt: skip
    if not rv:
        raise errors.invalid_object(
            "ListOptions", "",
            [errors.forbidden(
                "resourceVersionMatch", "resourceVersionMatch is forbidden unless "
                "resourceVersion is provided",
            )],
            "meta.k8s.io",
        )  # fmt: skip
    if match == "Exact" and rv == "0":
        raise errors.invalid_object(
            "ListOptions", "",
            [errors.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            )],
            "meta.k8s.io",
        )  # fmt: skip


async def _read_patch(request: Request) -> patch.DecodedPatch:
    raw = await wire.read_body(request)
    if not raw.strip():
        raise errors.BadRequest("the body of the request was empty")
    content_type = _ctype(request)
    if len(raw) > wire.THREAD_DECODE_BYTES and patch.APPLY_PATCH in content_type:
        return await asyncio.to_thread(patch.decode_patch, raw, content_type)
    return patch.decode_patch(raw, content_type)


def _matcher(
    request: Request, resource: ResourceType, single: str | None = None
) -> Callable[[Object], bool] | None:
    query = request.query_params
    label_text = query.get("labelSelector") or ""
    field_text = query.get("fieldSelector") or ""
    if single is not None:
        field_text = f"metadata.name={single}" + (f",{field_text}" if field_text else "")
    if not label_text and not field_text:
        return None
    labels = selectors.parse_label_selector(label_text) if label_text else None
    fields = selectors.parse_field_selector(field_text) if field_text else None
    if fields is not None:
        selectors.validate_field_selector(fields, resource.kind)

    def matches(obj: Object) -> bool:
        if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels")):
            return False
        return fields is None or fields.matches(obj)

    return matches


async def _delete_options(request: Request, dry_run: bool) -> DeleteOptions:
    query = request.query_params
    body: Object = {}
    raw = await wire.read_body(request)
    if raw.strip():
        decoded = await wire.decode_in_bounds(raw, _ctype(request))
        fieldvalidation.check_typed("v1", "DeleteOptions", decoded, "DeleteOptions")
        body = decoded
    grace_seconds = body.get("gracePeriodSeconds")
    if grace_seconds is None:
        grace_seconds = params.integer(query, "gracePeriodSeconds")
    policy = body.get("propagationPolicy") or query.get("propagationPolicy")
    if body.get("orphanDependents") is True or params.boolean(query, "orphanDependents"):
        policy = policy or "Orphan"
    if policy not in (None, "Foreground", "Background", "Orphan"):
        raise errors.invalid_object(
            "DeleteOptions",
            "",
            [
                errors.not_supported(
                    "propagationPolicy", policy, ["Foreground", "Background", "Orphan"]
                )
            ],
        )
    preconditions = body.get("preconditions") or {}
    dry = params.dry_run(body.get("dryRun") or [], "DeleteOptions") or dry_run
    return DeleteOptions(
        grace_period_seconds=grace_seconds,
        propagation_policy=policy,
        precondition_uid=preconditions.get("uid"),
        precondition_resource_version=preconditions.get("resourceVersion"),
        dry_run=dry,
    )


def _verb(request: Request, target: routing.ResourcePath) -> str:
    method = request.method
    if method == "GET":
        if request.query_params.get("watch") in ("true", "1", "True", "t", "T", "TRUE"):
            return "watch"
        return "list" if target.is_collection else "get"
    if method == "DELETE" and target.is_collection:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _manager(request: Request, apply: bool = False) -> str:
    """The field manager of a write: `fieldManager`, else the User-Agent's product name
    (Kubernetes' default); an apply must name one."""
    query = request.query_params
    field_manager = query.get("fieldManager")
    force = query.get("force")
    fieldmanager.validate_manager(field_manager, apply=apply, force=force is not None and not apply)
    return fieldmanager.manager_name(field_manager, request.headers.get("user-agent"))


def _ctype(request: Request) -> str:
    return request.headers.get("content-type", wire.JSON)


def _not_allowed(method: str, resource: str) -> errors.MethodNotAllowed:
    """A method the path does not serve: Kubernetes' generic 405 (no route for it)."""
    return errors.MethodNotAllowed(
        "the server does not allow this method on the requested resource"
    )
