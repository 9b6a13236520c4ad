"""The kubelet's certificates from CertificateSigningRequests (Kubernetes' kubelet TLS
bootstrap and certificate manager): `bootstrap.py` gets the first client certificate with a
bootstrap token, `manager.py` renews the client and serving certificates before they expire;
the decisions (when to renew, the files' names, the kubeconfig) are in `plan.py`."""
