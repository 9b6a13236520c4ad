"""The cluster DNS (`minik8s-dns`): answers `<svc>.<ns>.svc.<zone>` from its informers.

- `records`: Services and EndpointSlices → the resource records of the Kubernetes DNS
  specification (pure).
- `zone`: the records by name, compiled into wire-format answers as the informers change.
- `wire`: the answer path: the fast parse of a plain query, answers, negative answers, TC.
- `server`: UDP and TCP listeners; `forward`: names outside the zone, with a small cache.
- `metrics`, `config`, `app` (the process).
"""
