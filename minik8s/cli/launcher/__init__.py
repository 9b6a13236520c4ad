"""`minik8s`: start, inspect and stop a local cluster, one background process per component.

Everything of a cluster lives under one home directory (`~/.minik8s` or `$MINIK8S_HOME`):
`logs/<component>.log`, `run/<component>.pid`, `etcd/` (data), `pki/` (the CA, every
certificate and key), `kubeconfigs/` (one per component), `kubeconfig` (the user's) and
`cluster.json` (the ports chosen, so a later `up` reuses them).
"""
