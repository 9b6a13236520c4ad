"""The bootstrap token controllers of kube-controller-manager (off by default, as there:
`--controllers=*,bootstrapsigner,tokencleaner`, which `minik8s up` and the compose cluster
pass): `bootstrapsigner` (signer.py) signs `kube-public/cluster-info` with every signing token;
`tokencleaner` (cleaner.py) deletes expired token Secrets."""
