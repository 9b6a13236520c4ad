"""The roles and bindings a cluster starts with (Kubernetes' bootstrap policy), reconciled at
apiserver start: `policy.py` (users, nodes, components), `controller_policy.py` (one role per
controller), `reconcile.py` (create what is missing, add what a default object lacks)."""
