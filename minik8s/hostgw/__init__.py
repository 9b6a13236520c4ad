"""The host-gw pod network agent (flannel's `host-gw` backend, small): one per node, it routes
every other node's `spec.podCIDR` via that node's InternalIP in this machine's routing table."""
