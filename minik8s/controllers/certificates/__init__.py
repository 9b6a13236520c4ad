"""The certificate controllers of kube-controller-manager: `csrapproving` (approver.py),
`csrsigning` (signer.py) and `csrcleaner` (cleaner.py); their decisions in `csr_plan.py`."""
