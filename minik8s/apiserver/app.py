"""The apiserver's ASGI application: lifecycle, health, discovery, metrics and the REST routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from minik8s.api import errors
from minik8s.api.resources import ResourceType
from minik8s.apiserver import auth, discovery, encryptionconfig, metrics, openapi_serving, wire
from minik8s.apiserver.aggregator import discovery as aggregated
from minik8s.apiserver.aggregator import frontproxy
from minik8s.apiserver.aggregator.controller import Aggregator
from minik8s.apiserver.asgi import ApiserverApp
from minik8s.apiserver.config import ApiserverSettings
from minik8s.apiserver.handlers import ResourceHandler
from minik8s.apiserver.registry import Registry, RegistrySettings
from minik8s.apiserver.serviceaccount import admission, oidc
from minik8s.apiserver.serviceaccount import setup as serviceaccount_setup
from minik8s.apiserver.serviceaccount.setup import ServiceAccounts
from minik8s.apiserver.watchcache import WatchCache
from minik8s.store.encryption import ResourceTransformer
from minik8s.store.etcd import EtcdStore

logger = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def create_app(settings: ApiserverSettings) -> ApiserverApp:
    """The apiserver; raises ValueError (one line) for flags or files that cannot work."""
    tokens = auth.load_token_file(settings.token_auth_file) if settings.token_auth_file else None
    accounts = serviceaccount_setup.from_settings(settings)
    transformer = None
    if settings.encryption_provider_config:
        transformer = encryptionconfig.load(settings.encryption_provider_config)
        logger.info("encryption at rest for: %s", ", ".join(transformer.resources) or "nothing")
    sa_authenticator = accounts.authenticator if accounts else None
    return ApiserverApp(
        create_fastapi_app(settings, tokens, accounts, transformer), tokens, sa_authenticator
    )


def create_fastapi_app(
    settings: ApiserverSettings,
    tokens: dict[str, auth.User] | None,
    accounts: ServiceAccounts | None = None,
    transformer: ResourceTransformer | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = EtcdStore(
            list(settings.etcd_servers), observe=metrics.observe_etcd, transformer=transformer
        )
        await store.open()
        cache = WatchCache(store, capacity=settings.watch_cache_size)
        await cache.start()
        cache.on_event.append(lambda *_: metrics.CACHE_REVISION.set(cache.revision))
        registry = Registry(
            store,
            cache,
            RegistrySettings(
                settings.service_cluster_ip_range,
                settings.service_node_port_range,
                settings.event_ttl,
            ),
        )
        await registry.ensure_namespaces(BOOTSTRAP_NAMESPACES)
        app.state.openapi = await asyncio.to_thread(openapi_serving.Documents)
        if accounts is not None:

            def lookup(resource: ResourceType, namespace: str | None, name: str) -> Any:
                return cache.cache(resource).objects.get(resource.storage_key(namespace, name))

            accounts.bind(lookup)
            if accounts.admission_enabled:
                registry.admission.append(
                    admission.ServiceAccountAdmission(
                        admission.getter(lambda key: lookup_key(cache, key), registry.get)
                    )
                )
        aggregator = Aggregator(registry, cache, _front_proxy(settings))
        await aggregator.start()
        app.state.aggregator = aggregator
        app.state.store = store
        app.state.cache = cache
        app.state.handler = ResourceHandler(
            registry,
            cache,
            settings.watch_bookmark_interval,
            settings.min_request_timeout,
            service_accounts=accounts,
            aggregator=aggregator,
        )
        logger.info(
            "apiserver ready on %s:%d (etcd %s)", settings.bind_address, settings.port, store.server
        )
        try:
            yield
        finally:
            await aggregator.stop()
            await cache.stop()
            await store.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    if tokens is not None:
        app.add_middleware(
            auth.TokenAuthMiddleware,
            tokens=tokens,
            extra=accounts.authenticator.authenticate_header
            if accounts and accounts.authenticator
            else None,
        )
    if accounts is not None and accounts.discovery_served:
        configuration = oidc.configuration(
            accounts.issuer_url, accounts.jwks_uri, accounts.verification_keys
        )
        key_set = oidc.jwks(accounts.verification_keys)

        @app.get(oidc.CONFIGURATION_PATH, include_in_schema=False)
        async def openid_configuration() -> Response:
            return wire.json_response(configuration)

        @app.get(oidc.JWKS_PATH, include_in_schema=False)
        async def openid_jwks() -> Response:
            return Response(orjson.dumps(key_set), media_type=oidc.JWKS_CONTENT_TYPE)

    async def group(request: Request) -> Response:
        # `/apis/{group}` reaches FastAPI; deeper REST paths are served by ApiserverApp.
        handler: ResourceHandler = request.app.state.handler
        return await handler(request)

    app.router.routes.append(Route("/apis/{group}", group, methods=["GET"]))

    def discovery_response(request: Request, legacy: Any, aggregated: Any) -> Response:
        # kubectl tells the two forms apart by Content-Type only; answer /api and /apis alike.
        if discovery.wants_aggregated_discovery(request.headers.get("accept")):
            response = Response(
                orjson.dumps(aggregated()), media_type=discovery.AGGREGATED_DISCOVERY_CONTENT_TYPE
            )
        else:
            response = wire.json_response(legacy())
        response.headers["Vary"] = "Accept"
        return response

    @app.get("/api", include_in_schema=False)
    @app.get("/api/", include_in_schema=False)
    async def api_versions(request: Request) -> Response:
        address = f"{settings.bind_address}:{settings.port}"
        return discovery_response(
            request,
            lambda: discovery.api_versions(address),
            lambda: discovery.aggregated_discovery(True),
        )

    @app.get("/apis", include_in_schema=False)
    @app.get("/apis/", include_in_schema=False)
    async def api_groups(request: Request) -> Response:
        aggregator = getattr(request.app.state, "aggregator", None)
        return discovery_response(
            request,
            lambda: discovery.api_group_list(aggregated.api_groups(aggregator)),
            lambda: discovery.aggregated_discovery(False, aggregated.aggregated_items(aggregator)),
        )

    @app.get("/version", include_in_schema=False)
    async def version() -> Response:
        return wire.json_response(discovery.version_info())

    @app.get("/healthz", include_in_schema=False)
    @app.get("/livez", include_in_schema=False)
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        state = request.app.state
        if not getattr(state, "cache", None) or not state.cache.ready.is_set():
            return PlainTextResponse("watch cache not ready", 503)
        if not await state.store.ping():
            return PlainTextResponse("etcd not reachable", 503)
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi/v2", include_in_schema=False)
    async def openapi_v2(request: Request) -> Response:
        return _openapi_documents(request).v2(request)

    @app.get("/openapi/v3", include_in_schema=False)
    async def openapi_index(request: Request) -> Response:
        return _openapi_documents(request).index(request)

    @app.get("/openapi/v3/{path:path}", include_in_schema=False)
    async def openapi_document(request: Request, path: str) -> Response:
        response = _openapi_documents(request).group_version(request, path)
        if response is None:
            raise errors.NotFound("the server could not find the requested resource")
        return response

    @app.exception_handler(errors.ApiError)
    async def api_error(request: Request, exc: errors.ApiError) -> Response:
        return wire.error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return wire.error_response(
                errors.MethodNotAllowed(
                    "the server does not allow this method on the requested resource"
                )
            )
        return wire.error_response(
            errors.NotFound("the server could not find the requested resource")
        )

    return app


def _front_proxy(settings: ApiserverSettings) -> frontproxy.FrontProxy:
    if settings.proxy_client_cert_file and settings.proxy_client_key_file:
        assert settings.requestheader_client_ca_file is not None
        return frontproxy.from_files(
            settings.requestheader_client_ca_file,
            settings.proxy_client_cert_file,
            settings.proxy_client_key_file,
        )
    return frontproxy.ephemeral()


def _openapi_documents(request: Request) -> openapi_serving.Documents:
    documents: openapi_serving.Documents | None = getattr(request.app.state, "openapi", None)
    if documents is None:  # built at start-up; only a request racing the start builds it
        documents = request.app.state.openapi = openapi_serving.Documents()
    return documents


def lookup_key(cache: WatchCache, key: str) -> Any:
    """The object at an etcd key, from the watch cache (None when it holds none)."""
    parts = key.split("/", 3)
    return cache.caches[parts[2]].objects.get(key) if len(parts) > 2 else None
