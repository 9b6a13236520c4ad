"""Fixtures of the kubelet e2e tests (see kubelet_support)."""

from tests.e2e.kubelet_support import api_m, kubeconfig_m, kubelet, ns  # noqa: F401
