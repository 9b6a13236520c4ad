"""The apiserver's `--audit-*` flags (kube-apiserver's names and defaults) and the `Auditor`
they build.

Auditing is off unless `--audit-policy-file` and a backend (`--audit-log-path`,
`--audit-webhook-config-file`) are given; either alone is a warning at start, as in
Kubernetes (which logs it at -v=2). What minik8s does not implement is refused, not
ignored: the `blocking` and `blocking-strict` modes (the event loop must never wait for a
disk or a webhook: both backends always batch), the `legacy` log format, `--audit-*-version`
other than `audit.k8s.io/v1`.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field

from minik8s.apiserver.audit import logbackend, logfile, webhook
from minik8s.apiserver.audit.auditor import Auditor, Backend
from minik8s.apiserver.audit.policy import API_VERSION, load_policy
from minik8s.componentbase import options

logger = logging.getLogger(__name__)

MODES = ("batch", "blocking", "blocking-strict")


@dataclass(frozen=True)
class AuditOptions:
    policy_file: str | None = None
    """`audit.k8s.io/v1` Policy: which requests are audited, at which level."""
    log_path: str | None = None
    """File the events are written to as JSON lines (`-`: standard output)."""
    log_maxage: int = 0
    """Days a rotated file is kept (0: no limit)."""
    log_maxbackup: int = 0
    """Rotated files kept (0: all)."""
    log_maxsize: int = 0
    """Megabytes before the file is rotated (0: 100, lumberjack's default)."""
    log_buffer_size: int = 10_000
    """Events waiting for the writer thread; more are dropped and counted."""
    webhook_config_file: str | None = None
    """kubeconfig of the webhook events are POSTed to, in batches."""
    webhook_batch: webhook.BatchSettings = field(default_factory=webhook.BatchSettings)

    @property
    def enabled(self) -> bool:
        return bool(self.policy_file) and bool(self.log_path or self.webhook_config_file)


def add_audit_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--audit-policy-file", default=None, help="audit.k8s.io/v1 Policy file")
    add("--audit-log-path", default=None, help="audit log file (- for standard output)")
    add(
        "--audit-log-maxage", type=options.non_negative_int, default=0, help="days to keep old logs"
    )
    add(
        "--audit-log-maxbackup", type=options.non_negative_int, default=0, help="old log files kept"
    )
    add(
        "--audit-log-maxsize",
        type=options.non_negative_int,
        default=0,
        help="megabytes before rotation",
    )
    add("--audit-log-format", default="json", choices=["json"], help="only json")
    add("--audit-log-mode", default="batch", type=_batch_mode, help="only batch")
    add("--audit-log-version", default=API_VERSION, choices=[API_VERSION])
    add("--audit-log-batch-buffer-size", type=options.positive_int, default=10_000)
    add("--audit-webhook-config-file", default=None, help="kubeconfig of the audit webhook")
    add("--audit-webhook-mode", default="batch", type=_batch_mode, help="only batch")
    add("--audit-webhook-version", default=API_VERSION, choices=[API_VERSION])
    add("--audit-webhook-initial-backoff", type=options.positive_duration, default=10.0)
    add("--audit-webhook-batch-buffer-size", type=options.positive_int, default=10_000)
    add("--audit-webhook-batch-max-size", type=options.positive_int, default=400)
    add("--audit-webhook-batch-max-wait", type=options.positive_duration, default=30.0)
    options.bool_flag(parser, "--audit-webhook-batch-throttle-enable", True)
    add("--audit-webhook-batch-throttle-qps", type=options.positive_float, default=10.0)
    add("--audit-webhook-batch-throttle-burst", type=options.positive_int, default=15)


def audit_options(args: argparse.Namespace) -> AuditOptions:
    return AuditOptions(
        policy_file=args.audit_policy_file,
        log_path=args.audit_log_path,
        log_maxage=args.audit_log_maxage,
        log_maxbackup=args.audit_log_maxbackup,
        log_maxsize=args.audit_log_maxsize,
        log_buffer_size=args.audit_log_batch_buffer_size,
        webhook_config_file=args.audit_webhook_config_file,
        webhook_batch=webhook.BatchSettings(
            buffer_size=args.audit_webhook_batch_buffer_size,
            max_size=args.audit_webhook_batch_max_size,
            max_wait=args.audit_webhook_batch_max_wait,
            throttle_enable=args.audit_webhook_batch_throttle_enable,
            throttle_qps=args.audit_webhook_batch_throttle_qps,
            throttle_burst=args.audit_webhook_batch_throttle_burst,
            initial_backoff=args.audit_webhook_initial_backoff,
        ),
    )


def build(opts: AuditOptions) -> Auditor | None:
    """The auditor the options ask for (None: auditing off); ValueError (one line) for a
    policy, log path or webhook config that cannot work."""
    if not opts.policy_file:
        if opts.log_path or opts.webhook_config_file:
            logger.warning("no --audit-policy-file: no audit events will be recorded")
        return None
    policy = load_policy(opts.policy_file)
    backends: list[Backend] = []
    if opts.log_path:
        backends.append(logbackend.LogBackend(_log_writer(opts), opts.log_buffer_size))
    if opts.webhook_config_file:
        config = webhook.load_config(opts.webhook_config_file)
        backends.append(webhook.WebhookBackend(config, opts.webhook_batch))
    if not backends:
        logger.warning("--audit-policy-file without --audit-log-path or "
                       "--audit-webhook-config-file: no audit events will be recorded")  # fmt: skip
        return None
    return Auditor(policy, backends)


def _log_writer(opts: AuditOptions) -> logbackend.Writer:
    assert opts.log_path
    if opts.log_path == "-":
        return logfile.StdoutFile()
    try:
        return logfile.RotatingFile(
            opts.log_path, opts.log_maxsize, opts.log_maxbackup, opts.log_maxage
        )
    except OSError as e:
        raise ValueError(f"--audit-log-path {opts.log_path}: {e.strerror}") from e


def _batch_mode(text: str) -> str:
    if text == "batch":
        return text
    if text in MODES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not supported by minik8s: audit backends always batch, so that no "
            "request waits for a disk or a webhook"
        )
    raise argparse.ArgumentTypeError(f"invalid mode {text!r}: known modes: {', '.join(MODES)}")
