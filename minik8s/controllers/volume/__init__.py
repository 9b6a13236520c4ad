"""Volume controllers: the PersistentVolume binder, the claim/volume protection finalizers and
the local-path provisioner (each with its pure planning module)."""
