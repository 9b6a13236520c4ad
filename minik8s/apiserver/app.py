"""The apiserver's ASGI application: lifecycle, health, discovery, metrics and the REST routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from minik8s.api import errors
from minik8s.api.resources import NAMESPACES, PERSISTENTVOLUMECLAIMS, PODS, ResourceType
from minik8s.apiserver import (
    discovery,
    encryptionconfig,
    flowcontrol,
    kubeletproxy,
    metrics,
    openapi_serving,
    wire,
)
from minik8s.apiserver.admission import Admission, Plugin
from minik8s.apiserver.admission.noderestriction import NodeRestriction
from minik8s.apiserver.admission.rbacescalation import RbacEscalation
from minik8s.apiserver.aggregator import discovery as aggregated
from minik8s.apiserver.aggregator import frontproxy
from minik8s.apiserver.aggregator.controller import Aggregator
from minik8s.apiserver.asgi import ApiserverApp
from minik8s.apiserver.audit import options as audit_options
from minik8s.apiserver.authn.bootstraptoken import BootstrapTokenAuthenticator
from minik8s.apiserver.authn.chain import Authenticator, TokenAuthenticator
from minik8s.apiserver.authn.tokenfile import TokenFileAuthenticator
from minik8s.apiserver.authz import authorizer as authz
from minik8s.apiserver.authz.node import NodeAuthorizer, NodeGraph
from minik8s.apiserver.authz.rbac import RbacAuthorizer
from minik8s.apiserver.bootstrappolicy import reconcile
from minik8s.apiserver.config import ApiserverSettings
from minik8s.apiserver.controlplane.controller import ControlPlane
from minik8s.apiserver.handlers import ResourceHandler
from minik8s.apiserver.podsecurity import config as podsecurity_config
from minik8s.apiserver.podsecurity.admission import PodSecurity
from minik8s.apiserver.registry import Registry, RegistrySettings
from minik8s.apiserver.reviews import Reviews
from minik8s.apiserver.serviceaccount import admission, oidc
from minik8s.apiserver.serviceaccount import setup as serviceaccount_setup
from minik8s.apiserver.serviceaccount.setup import ServiceAccounts
from minik8s.apiserver.watchcache import WatchCache
from minik8s.apiserver.watchlimits import WatchLimits
from minik8s.componentbase import looplag
from minik8s.store.compactor import CompactionSettings, Compactor
from minik8s.store.connection import TlsFiles
from minik8s.store.encryption import ResourceTransformer
from minik8s.store.errors import StoreError
from minik8s.store.etcd import EtcdStore

logger = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def token_authenticators(
    settings: ApiserverSettings, accounts: ServiceAccounts | None
) -> list[TokenAuthenticator]:
    """The bearer-token authenticators, in order: add one here. ServiceAccount JWTs check
    through the watch cache (bound at start) that their pod and ServiceAccount still exist."""
    found: list[TokenAuthenticator] = []
    if settings.token_auth_file:
        found.append(TokenFileAuthenticator.from_file(settings.token_auth_file))
    if accounts is not None and accounts.authenticator is not None:
        found.append(accounts.authenticator)
    if settings.enable_bootstrap_token_auth:
        found.append(BootstrapTokenAuthenticator())  # bound to the cache by ControlPlane
    return found


def build_authenticator(
    settings: ApiserverSettings, accounts: ServiceAccounts | None = None
) -> Authenticator:
    """The chain. With AlwaysAllow, anonymous requests are off (they would be allowed
    everything), as in kube-apiserver; with no authenticator at all every request is
    anonymous."""
    return Authenticator(
        token_authenticators=token_authenticators(settings, accounts),
        client_certificates=bool(settings.client_ca_file),
        anonymous=settings.anonymous_auth and "AlwaysAllow" not in settings.authorization_mode,
    )


def build_authorizer(
    modes: tuple[str, ...], rbac: RbacAuthorizer, node: NodeAuthorizer
) -> authz.Union | None:
    """The union of `--authorization-mode`; None for AlwaysAllow alone (nothing to check)."""
    if modes == ("AlwaysAllow",):
        return None
    by_mode: dict[str, authz.Authorizer] = {
        "AlwaysAllow": authz.AlwaysAllow(),
        "AlwaysDeny": authz.AlwaysDeny(),
        "Node": node,
        "RBAC": rbac,
    }
    return authz.Union([authz.PrivilegedGroups(), *(by_mode[m] for m in modes)])


def create_app(settings: ApiserverSettings) -> ApiserverApp:
    """The apiserver; raises ValueError (one line) for flags or files that cannot work."""
    accounts = serviceaccount_setup.from_settings(settings)
    transformer = None
    if settings.encryption_provider_config:
        transformer = encryptionconfig.load(settings.encryption_provider_config)
        logger.info("encryption at rest for: %s", ", ".join(transformer.resources) or "nothing")
    pod_security = podsecurity_config.load(settings.admission_control_config_file)
    front = ApiserverApp(None, build_authenticator(settings, accounts), None)  # type: ignore[arg-type]
    front.auditor = audit_options.build(settings.audit)
    limit = settings.max_requests_inflight + settings.max_mutating_requests_inflight
    if settings.enable_priority_and_fairness and limit > 0:
        front.flowcontrol = flowcontrol.FlowControl(limit, settings.request_timeout / 4)
    front.app = create_fastapi_app(settings, front, accounts, transformer, pod_security)
    return front


def create_fastapi_app(
    settings: ApiserverSettings,
    front: ApiserverApp,
    accounts: ServiceAccounts | None = None,
    transformer: ResourceTransformer | None = None,
    pod_security: podsecurity_config.PodSecurityConfig | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if front.auditor is not None:
            await front.auditor.start()
        tasks = [_background(looplag.monitor(), "event-loop-lag")]
        store = EtcdStore(
            list(settings.etcd_servers),
            observe=metrics.observe_etcd,
            tls=_etcd_tls(settings),
            transformer=transformer,
        )
        await store.open()
        cache = WatchCache(store, capacity=settings.watch_cache_size)
        rbac = RbacAuthorizer(cache)
        graph = NodeGraph()
        cache.on_event.append(rbac.on_event)
        cache.on_event.append(graph.on_event)
        cache.on_reset.append(rbac.invalidate)
        cache.on_reset.append(
            lambda: graph.reset(
                cache.cache(PODS).objects.values(),
                cache.cache(PERSISTENTVOLUMECLAIMS).objects.values(),
            )
        )
        try:
            await cache.start()
            cache.on_event.append(lambda *_: metrics.CACHE_REVISION.set(cache.revision))
            authorizer = build_authorizer(settings.authorization_mode, rbac, NodeAuthorizer(graph))
            security = pod_security or podsecurity_config.PodSecurityConfig()
            plugins: list[Plugin] = [
                PodSecurity(  # on by default, as in Kubernetes
                    namespace=lambda name: cache.cache(NAMESPACES).objects.get(
                        NAMESPACES.storage_key(None, name)
                    ),
                    pods=lambda namespace: cache.cache(PODS).snapshot(namespace),
                    defaults=security.defaults,
                    exemptions=security.exemptions,
                    allow_privileged=settings.allow_privileged,
                )
            ]
            if "NodeRestriction" in settings.enable_admission_plugins:
                plugins.append(NodeRestriction())
            if "RBAC" in settings.authorization_mode and authorizer is not None:
                plugins.append(RbacEscalation(authorizer, rbac))
            registry = Registry(
                store,
                cache,
                RegistrySettings(
                    settings.service_cluster_ip_range,
                    settings.service_node_port_range,
                    settings.event_ttl,
                ),
                Admission(plugins),
            )
            await _until_etcd_answers(lambda: registry.ensure_namespaces(BOOTSTRAP_NAMESPACES))
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
            if "RBAC" in settings.authorization_mode:
                await _until_etcd_answers(
                    lambda: reconcile.reconcile(registry, settings.enable_bootstrap_token_auth)
                )
                await cache.wait_fresh()
            reviews = Reviews(front.authenticator, authorizer or authz.Union([authz.AlwaysAllow()]))
            if settings.etcd_compaction_interval > 0:
                compactor = Compactor(
                    store, CompactionSettings(interval=settings.etcd_compaction_interval)
                )
                tasks.append(_background(compactor.run(), "etcd-compactor"))
            aggregator = Aggregator(
                registry,
                cache,
                _front_proxy(settings),
                loopback_services=frozenset(settings.aggregator_loopback_services),
            )
            await aggregator.start()
            app.state.aggregator = aggregator
            app.state.store = store
            app.state.cache = cache
            app.state.handler = ResourceHandler(
                registry,
                cache,
                settings.watch_bookmark_interval,
                WatchLimits(
                    max_total=settings.max_watches,
                    max_per_client=settings.max_watches_per_client,
                    min_request_timeout=settings.min_request_timeout,
                ),
                reviews=reviews,
                kubelets=kubeletproxy.KubeletClient.from_settings(settings),
                service_accounts=accounts,
                aggregator=aggregator,
            )
            front.authorizer = authorizer
            app.state.controlplane = controlplane = ControlPlane(
                settings, registry, authorizer, front.authenticator
            )
            await controlplane.start()
            logger.info(
                "apiserver ready on %s:%d (etcd %s)",
                settings.bind_address,
                settings.port,
                ", ".join(store.servers),
            )
            yield
        finally:
            running_controlplane: ControlPlane | None = getattr(app.state, "controlplane", None)
            if running_controlplane is not None:
                await _bounded("the control plane loops", running_controlplane.stop())
            running: Aggregator | None = getattr(app.state, "aggregator", None)
            if running is not None:
                await _bounded("the aggregator", running.stop())
            for task in tasks:
                task.cancel()
            await _bounded("background tasks", asyncio.gather(*tasks, return_exceptions=True))
            await _bounded("the watch cache", cache.stop())
            await _bounded("the etcd client", store.close())
            if front.auditor is not None:
                await _bounded("the audit backends", front.auditor.stop())

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
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


def _etcd_tls(settings: ApiserverSettings) -> TlsFiles | None:
    files = (settings.etcd_cafile, settings.etcd_certfile, settings.etcd_keyfile)
    if not any(files):
        return None
    return TlsFiles(*(Path(f) if f else None for f in files))


def _background(coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    task = asyncio.create_task(coroutine, name=name)
    task.add_done_callback(_log_crash)
    return task


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s crashed", task.get_name(), exc_info=task.exception())


async def _until_etcd_answers(action: Callable[[], Awaitable[None]]) -> None:
    """Run a start-up step, waiting for etcd as long as it takes (it may start after us)."""
    delay = 0.2
    while True:
        try:
            await action()
            return
        except StoreError as e:
            logger.warning("waiting for etcd: %s", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def lookup_key(cache: WatchCache, key: str) -> Any:
    """The object at an etcd key, from the watch cache (None when it holds none)."""
    parts = key.split("/", 3)
    return cache.caches[parts[2]].objects.get(key) if len(parts) > 2 else None


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


SHUTDOWN_STEP_TIMEOUT = 3.0
"""How long each shutdown step may take: SIGTERM must end the process promptly even when a
step hangs (a slow etcd, a task that does not finish on cancellation)."""


async def _bounded(what: str, step: Awaitable[Any]) -> None:
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_TIMEOUT):
            await step
    except TimeoutError:
        logger.warning("shutdown: %s did not stop in %.0fs; going on", what, SHUTDOWN_STEP_TIMEOUT)
