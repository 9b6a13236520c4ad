"""The client every component and the CLI use to talk to the apiserver.

- `kubeconfig`: `ClientConfig` and `load_kubeconfig()`.
- `api`: `ApiClient`, async verbs over the REST API; `watch` streams `WatchEvent`s.
- `informer`: `Informer`, a list+watch cache with event handlers; `cache`: its `Indexer`.
- `workqueue`: `WorkQueue` and `run_workers`, Kubernetes' rate-limited work queue.
- `leaderelection`: `LeaderElector` over a coordination.k8s.io Lease.
"""
