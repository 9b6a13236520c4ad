"""kube-proxy: Services and EndpointSlices → iptables rules on this node.

- `config`: settings and flags.
- `rules` (pure): `render_rules(services, slices, node)` → `iptables-restore` input.
- `restore` (pure): which chains one sync writes and deletes, in how many restore calls.
- `iptables`: the only module running iptables, ip and nft; the Service route, sysctls, cleanup.
- `syncer`: coalesced syncs (min period, full resync), metrics; `app`: the process's main.
"""
