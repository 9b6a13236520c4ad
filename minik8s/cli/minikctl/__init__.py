"""minikctl: kubectl's verbs against a minik8s (or any Kubernetes-compatible) apiserver.

One module per verb or small group of verbs; `app` wires them into one typer app, `errors`
maps every failure to one line on stderr, `output` prints tables and objects like kubectl.
"""
