"""A tiny synchronous HTTP helper for apiserver tests (raw HTTP, so tests see the wire)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from tests.support import slices
from tests.support.processes import Apiserver


class Api:
    def __init__(self, server: Apiserver) -> None:
        headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
        self.http = httpx.Client(
            base_url=server.url, headers=headers, timeout=10, verify=server.verify
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None and not isinstance(body, bytes | str):
            body = orjson.dumps(body)
        headers = kwargs.pop("headers", {})
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        return self.http.request(method, path, content=body, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, content_type: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, body, headers={"Content-Type": content_type}, **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, body, **kwargs)

    @contextmanager
    def watch(self, path: str, **params: Any) -> Iterator[Iterator[dict[str, Any]]]:
        params = {"watch": "true", **params}
        with self.http.stream("GET", path, params=params, timeout=30) as response:
            assert response.status_code == 200, response.read()

            def events() -> Iterator[dict[str, Any]]:
                for line in response.iter_lines():
                    if line.strip():
                        yield orjson.loads(line)

            yield events()

    def namespace(self) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        r = self.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        assert r.status_code == 201, r.text
        return name


def pod_manifest(name: str, image: str = "nginx", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def deployment_manifest(name: str, replicas: int = 2, image: str = "nginx") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def service_with_endpoint_slice(name: str, ips: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Service with one port `http` (80 to 8080) and one EndpointSlice of its endpoints at
    `ips`, written directly (no pods, no EndpointSlice controller), as kube-proxy and the DNS
    read them."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }
    return service, slices.endpoint_slice(name, ips, namespace="")
