"""What every component process shares (like Kubernetes' component-base): the process runner
with clean SIGTERM shutdown, the /healthz + /metrics server, and the Event recorder."""
