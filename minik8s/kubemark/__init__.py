"""Hollow nodes, many per process (Kubernetes' kubemark): the real kubelet code on the fake
runtime, and a kube-proxy that renders its rules without applying them. For density benches."""
