"""The client every component and the CLI use to talk to the apiserver (client-go's role).

The names below are the public surface: `from minik8s.client import ApiClient, Informer`.

- `ApiClient` (+ `ClientSettings`, `RetryPolicy`): async verbs over the REST API, watches.
- `ClientConfig`, `load_kubeconfig`: where the apiserver is and how to authenticate;
  `kubeconfig_document`: a node's kubeconfig to write.
- `Informer`, `InformerFactory`: list+watch caches with event handlers and indexes (`cache`).
- `WorkQueue`, `run_workers`: Kubernetes' rate-limited, de-duplicating work queue.
- `LeaderElector`: leader election over a coordination.k8s.io Lease.
- `tasks`: named background tasks; `exceptions`: the transport failures (all `ApiError`s).

`transport` (aiohttp) and `retries` are internals: reach them through `ApiClient`.
"""

from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.informer import Informer, InformerFactory, InformerSettings
from minik8s.client.kubeconfig import (
    ClientConfig,
    ConfigError,
    kubeconfig_document,
    load_kubeconfig,
)
from minik8s.client.leaderelection import LeaderElector, default_identity
from minik8s.client.retries import RetryPolicy
from minik8s.client.watch import WatchEvent
from minik8s.client.workqueue import WorkQueue, run_workers

__all__ = [
    "ApiClient",
    "ClientConfig",
    "ClientSettings",
    "ConfigError",
    "Informer",
    "InformerFactory",
    "InformerSettings",
    "LeaderElector",
    "RetryPolicy",
    "WatchEvent",
    "WorkQueue",
    "default_identity",
    "kubeconfig_document",
    "load_kubeconfig",
    "run_workers",
]
