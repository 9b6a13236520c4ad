"""minik8s-metrics-server: the kubelets' resource usage as metrics.k8s.io/v1beta1, served
through the aggregation layer."""
