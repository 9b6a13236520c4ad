"""The REST verbs of a kind served in a version other than the one stored
(autoscaling/v1 HorizontalPodAutoscalers, events.k8s.io/v1 Events): requests are converted
to the stored version before the registry sees them, answers and watch events back to the
request's version (`conversion.py`); selectors apply to the served form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.apiserver import conversion, routing, strategy, wire
from minik8s.apiserver.registry import Registry
from minik8s.printers import tables

Matcher = Callable[[Object], bool] | None


class VersionedHandler:
    """Serves `target` through `converter`; the generic handler supplies the shared parts."""

    def __init__(self, registry: Registry, handler: Any) -> None:
        self.registry = registry
        self.handler = handler

    async def dispatch(
        self, request: Request, target: routing.ResourcePath, conv: conversion.Converter
    ) -> Response:
        served, storage = conv.served, conv.storage
        namespace, name, sub = target.namespace, target.name, target.subresource
        method, query = request.method, request.query_params
        dry_run = query.get("dryRun") == "All"
        manager = self.handler.manager_of(request)

        if name is None:
            if method == "GET":
                matches = self.handler.matcher(request, served)
                converted = _converted_matcher(matches, conv)
                if query.get("watch") in ("true", "1", "True"):
                    return await self.handler.watch(
                        request, storage, namespace, matches=converted, convert=conv
                    )
                objects, revision = await self.registry.list(storage, namespace, None, None)
                items = [conv.from_storage(o) for o in objects]
                items = [o for o in items if matches is None or matches(o)]
                if wire.request_wants_table(request):
                    return wire.json_response(
                        tables.to_table(
                            storage,
                            [o for o in objects if converted is None or converted(o)],
                            list_resource_version=str(revision),
                            include_object=wire.table_include_object(request),
                        )
                    )
                return wire.json_response(
                    {
                        "kind": served.list_kind,
                        "apiVersion": served.api_version,
                        "metadata": {"resourceVersion": str(revision)},
                        "items": items,
                    }
                )
            if method == "POST":
                body = self._to_storage(request, served, conv, await self._body(request))
                created = await self.registry.create(
                    storage, namespace, body, dry_run=dry_run, manager=manager
                )
                return self._answer(request, conv, created, 201)
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )

        if method == "GET":
            if query.get("watch") in ("true", "1", "True"):
                matches = self.handler.matcher(request, served, single=name)
                return await self.handler.watch(
                    request, storage, namespace, matches=_converted_matcher(matches, conv),
                    convert=conv,
                )  # fmt: skip
            return self._answer(request, conv, await self.registry.get(storage, namespace, name))
        if method == "PUT":
            body = self._to_storage(request, served, conv, await self._body(request))
            updated = await self.registry.update(
                storage, namespace, name, body, sub, dry_run=dry_run, manager=manager
            )
            return self._answer(request, conv, updated)
        if method == "PATCH":
            decoded = await self.handler.read_patch(request)
            patched = await self.registry.patch(
                storage,
                namespace,
                name,
                decoded,
                sub,
                dry_run=dry_run,
                manager=self.handler.manager_of(request, apply=_is_apply(request)),
                force=query.get("force") in ("true", "1", "True"),
                converter=conv,
            )
            return self._answer(request, conv, patched)
        if method == "DELETE":
            options = await self.handler.delete_options(request, dry_run)
            obj, gone = await self.registry.delete(storage, namespace, name, options)
            if gone and not strategy.returns_deleted_object(served):
                return wire.json_response(
                    wire.success_status(wire.deleted_details(served.group, served.plural, obj))
                )
            return self._answer(request, conv, obj)
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )

    async def _body(self, request: Request) -> Any:
        return await wire.read_object(request)

    @staticmethod
    def _to_storage(request: Request, served: Any, conv: conversion.Converter, body: Any) -> Object:
        checked = strategy.check_type(served, body)
        if served is conversion.resources.EVENTS_V1 and request.method == "POST":
            causes = conversion.validate_event_v1(checked)
            if causes:
                name = (checked.get("metadata") or {}).get("name") or ""
                raise errors.invalid_object("Event", name, causes, served.group)
        return conv.to_storage(checked)

    @staticmethod
    def _answer(
        request: Request, conv: conversion.Converter, obj: Object, code: int = 200
    ) -> Response:
        if wire.request_wants_table(request):
            return wire.json_response(
                tables.to_table(
                    conv.storage, [obj], include_object=wire.table_include_object(request)
                ),
                code,
            )
        return wire.json_response(conv.from_storage(obj), code)


def _converted_matcher(matches: Matcher, conv: conversion.Converter) -> Matcher:
    if matches is None:
        return None
    test = matches
    return lambda obj: test(conv.from_storage(obj))


def _is_apply(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/apply-patch+yaml"
