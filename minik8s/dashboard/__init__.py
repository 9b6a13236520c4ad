"""The dashboard: a web UI for the cluster, its own process (`minik8s-dashboard`).

It talks to the apiserver only through the API, with the signed-in user's credential, so
what RBAC refuses the user, the dashboard refuses too. Its own identity
(`system:kube-dashboard`) is used for nothing but checking the audit webhook's caller.
"""
