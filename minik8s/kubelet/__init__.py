"""The kubelet: one process per node that runs the node's pods as Docker containers.

- `config`: settings and flags; `node`: registration, node status and the Lease heartbeat.
- `specs` (pure): pod spec → container configs; `actions` (pure): what a sync must do;
  `status` (pure): runtime state → pod status; `backoff` (pure): CrashLoopBackOff timing.
- `podworkers`: one serialised worker per pod; `pleg`: relists containers to notice changes;
  `statusmanager`: writes `pods/{name}/status` only when it changed; `probes`: probe workers.
- `server`: the kubelet's HTTP API (containerLogs, exec) that the apiserver proxies to.
- `runtime`: the `Runtime` protocol; `runtime.docker` (the only module importing `docker`)
  and `runtime.fake` (a hollow runtime for scale tests, like kubemark).
"""
