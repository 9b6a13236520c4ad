"""The aggregation layer (kube-aggregator's part of the apiserver): APIService objects, the
front-proxy identity the apiserver shows extension servers, the availability checks, discovery
of the groups they serve, and the proxy to them."""
