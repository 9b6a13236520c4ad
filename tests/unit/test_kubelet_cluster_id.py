"""A starting kubelet waits out an apiserver that does not answer yet (a thousand nodes
starting together), and gives up on an answer that will not change (403)."""

from __future__ import annotations

import httpx
import pytest

from minik8s.api import errors
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.kubeconfig import ClientConfig
from minik8s.client.retries import RetryPolicy
from minik8s.kubelet.server import cluster_id
from tests.support.mock_transport import MockTransport

KUBE_SYSTEM = {"kind": "Namespace", "metadata": {"name": "kube-system", "uid": "u-1"}}


def client_answering(*answers: int) -> tuple[ApiClient, list[int]]:
    """A client whose apiserver answers the given codes in turn (200: the namespace)."""
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        code = answers[min(len(seen), len(answers) - 1)]
        seen.append(code)
        if code == 200:
            return httpx.Response(200, json=KUBE_SYSTEM)
        status = {"kind": "Status", "code": code, "message": f"answer {code}"}
        return httpx.Response(code, json=status)

    settings = ClientSettings(retry=RetryPolicy(max_attempts=1))
    return ApiClient(
        ClientConfig.from_url("http://fake"), settings, transport=MockTransport(handle)
    ), seen


async def test_cluster_id_waits_for_an_apiserver_that_is_not_ready() -> None:
    client, seen = client_answering(503, 429, 200)
    try:
        assert await cluster_id(client) == "u-1"
        assert seen == [503, 429, 200]
    finally:
        await client.aclose()


async def test_cluster_id_gives_up_on_a_refusal() -> None:
    client, seen = client_answering(403)
    try:
        with pytest.raises(errors.Forbidden):
            await cluster_id(client)
        assert seen == [403]
    finally:
        await client.aclose()
