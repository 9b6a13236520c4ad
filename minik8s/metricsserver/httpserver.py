"""The metrics server's HTTPS API: `metrics.k8s.io/v1beta1` nodes and pods (get and list,
label and field selectors, Tables), its discovery documents and health.

Only the aggregation layer talks to it: the TLS server requires a client certificate signed
by the request-header CA the apiserver publishes (`kube-system/extension-apiserver-
authentication`), so every request comes from the apiserver, which authenticated and
authorized it first; the user it names arrives in `X-Remote-User`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from minik8s.api import errors, selectors
from minik8s.api.meta import Object
from minik8s.metricsserver import api
from minik8s.metricsserver.storage import Storage

PREFIX = f"/apis/{api.GROUP}/{api.VERSION}"


class MetricsApi:
    def __init__(
        self,
        storage: Storage,
        nodes: Callable[[], list[Object]],
        pods: Callable[[], list[Object]],
        ready: Callable[[], bool],
    ) -> None:
        self.storage = storage
        self.nodes = nodes
        self.pods = pods
        self.ready = ready
        self.app = Starlette(
            routes=[
                Route("/healthz", self._health),
                Route("/livez", self._health),
                Route("/readyz", self._ready),
                Route("/apis", lambda r: wire_json({"kind": "APIGroupList", "apiVersion": "v1",
                                                    "groups": [api.api_group()]})),
                Route(f"/apis/{api.GROUP}", lambda r: wire_json(api.api_group())),
                Route(PREFIX, lambda r: wire_json(api.resource_list())),
                Route(f"{PREFIX}/nodes", self._list_nodes),
                Route(f"{PREFIX}/nodes/{{name}}", self._get_node),
                Route(f"{PREFIX}/pods", self._list_pods),
                Route(f"{PREFIX}/namespaces/{{namespace}}/pods", self._list_pods),
                Route(f"{PREFIX}/namespaces/{{namespace}}/pods/{{name}}", self._get_pod),
            ]
        )  # fmt: skip

    async def _health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _ready(self, request: Request) -> Response:
        if not self.ready():
            return PlainTextResponse("no metrics scraped yet", 503)
        return PlainTextResponse("ok")

    # -- nodes --------------------------------------------------------------------------------
    def _node_items(self, request: Request) -> list[Object]:
        labels = _labels(request)
        items = []
        for node in self.nodes():
            metadata = node.get("metadata") or {}
            if labels is not None and not labels.matches(metadata.get("labels") or {}):
                continue
            usage = self.storage.node_usage(metadata.get("name", ""))
            if usage is not None:
                items.append(api.node_metrics(node, usage))
        return sorted(items, key=lambda i: i["metadata"]["name"])

    async def _list_nodes(self, request: Request) -> Response:
        return _answer(request, api.metrics_list("NodeMetrics", self._node_items(request)))

    async def _get_node(self, request: Request) -> Response:
        name = request.path_params["name"]
        for node in self.nodes():
            if (node.get("metadata") or {}).get("name") == name:
                usage = self.storage.node_usage(name)
                if usage is not None:
                    return _answer(request, api.node_metrics(node, usage), single=True)
        return _error(errors.not_found("nodemetrics", name, api.GROUP))

    # -- pods ---------------------------------------------------------------------------------
    def _pod_items(self, request: Request, namespace: str | None) -> list[Object]:
        labels = _labels(request)
        fields = request.query_params.get("fieldSelector")
        field_selector = selectors.parse_field_selector(fields) if fields else None
        usage = self.storage.pod_usage()
        items = []
        for pod in self.pods():
            metadata = pod.get("metadata") or {}
            key = (metadata.get("namespace", ""), metadata.get("name", ""))
            if namespace is not None and key[0] != namespace:
                continue
            if labels is not None and not labels.matches(metadata.get("labels") or {}):
                continue
            if field_selector is not None and not field_selector.matches(pod):
                continue
            containers = usage.get(key)
            if containers:
                items.append(api.pod_metrics(pod, containers))
        return sorted(items, key=lambda i: (i["metadata"]["namespace"], i["metadata"]["name"]))

    async def _list_pods(self, request: Request) -> Response:
        namespace = request.path_params.get("namespace")
        try:
            items = self._pod_items(request, namespace)
        except errors.ApiError as e:
            return _error(e)
        return _answer(request, api.metrics_list("PodMetrics", items))

    async def _get_pod(self, request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        containers = self.storage.pod_usage().get((namespace, name))
        if containers:
            for pod in self.pods():
                metadata = pod.get("metadata") or {}
                if (metadata.get("namespace"), metadata.get("name")) == (namespace, name):
                    return _answer(request, api.pod_metrics(pod, containers), single=True)
        return _error(errors.not_found("podmetrics", f"{namespace}/{name}", api.GROUP))


def wire_json(body: Any, code: int = 200) -> Response:
    """JSON as Kubernetes writes it (a newline after the object)."""
    return Response(
        orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE),
        status_code=code,
        media_type="application/json",
    )


def _labels(request: Request) -> Any:
    text = request.query_params.get("labelSelector")
    return selectors.parse_label_selector(text) if text else None


def _answer(request: Request, body: Object, single: bool = False) -> Response:
    if "as=Table" in request.headers.get("accept", ""):
        return wire_json(api.table([body] if single else body["items"]))
    return wire_json(body)


def _error(error: errors.ApiError) -> Response:
    return wire_json(error.to_status(), error.code)
