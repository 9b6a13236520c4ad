"""The kubelet's streaming server: exec, attach and port-forward over SPDY and WebSockets."""
