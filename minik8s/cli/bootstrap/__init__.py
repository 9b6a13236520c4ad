"""What kubeadm does for joining nodes, over the real API: bootstrap tokens (`minik8s token`),
the objects TLS bootstrapping needs (`clusterobjects.py`), token discovery of the cluster's CA
(`discovery.py`) and `minik8s join` (`join.py`)."""
