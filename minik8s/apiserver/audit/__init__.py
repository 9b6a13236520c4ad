"""Auditing: who did what, when, and what the apiserver answered (Kubernetes' audit log).

    policy.py      `--audit-policy-file`: audit.k8s.io/v1 Policy, rules matched in order (pure)
    event.py       the fields of an audit.k8s.io/v1 Event, as Kubernetes fills them (pure)
    context.py     one audited request: its events at RequestReceived, ResponseStarted,
                   ResponseComplete or Panic; hooks for the code that serves it
    auditor.py     the policy and the backends; a context per request; the Audit-ID
    logbackend.py  `--audit-log-path`: JSON lines written by a thread of its own
    logfile.py     the file, rotated as kube-apiserver's lumberjack rotates it
    webhook.py     `--audit-webhook-config-file`: EventList batches POSTed to a webhook
    options.py     the `--audit-*` flags and the `Auditor` they build
    metrics.py     apiserver_audit_event_total, _error_total{plugin}, _level_total{level}

The front (`apiserver/asgi.py`) asks the auditor for a context once the request is
authenticated, tells it the impersonated user and the authorization decision, and passes
every response message through it. Neither backend makes a request wait: both buffer
(bounded) and drop, counted, when full.
"""
