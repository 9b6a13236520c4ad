"""minik8s-cloud-controller-manager: the controllers that talk to the cloud (load balancers,
node instances), behind a provider interface shaped like Kubernetes' cloudprovider.Interface."""
