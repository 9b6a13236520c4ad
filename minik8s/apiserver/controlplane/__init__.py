"""What each apiserver runs beside serving requests, as Kubernetes' controlplane does: the
Service address repair, its identity Lease, the `kubernetes` Service and its endpoints (the
`lease` endpoint reconciler), and the bootstrap token controllers' apiserver-side parts.

`start()` launches them as named background tasks once the registry is ready; `stop()`
cancels them (and withdraws this apiserver from the `kubernetes` endpoints) on shutdown.
"""
