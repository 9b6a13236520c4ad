"""Validation of Jobs, CronJobs and ReplicationControllers, with Kubernetes' field paths and
messages (pkg/apis/batch/validation and the RC part of pkg/apis/core/validation)."""

from __future__ import annotations

from typing import Any

from minik8s.api import cronschedule, selectors
from minik8s.api import errors as api_errors
from minik8s.api.defaults_batch import CONTROLLER_UID_LABEL
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.validation.apps import validate_template_pod_spec
from minik8s.api.validation.meta import (
    child,
    enum,
    immutable,
    index,
    invalid,
    items,
    mapping,
    non_negative,
    required,
    validate_label_selector,
    validate_labels,
)
from minik8s.api.validation.pod import validate_pod_spec

COMPLETION_MODES = ["NonIndexed", "Indexed"]
JOB_RESTART_POLICIES = ["OnFailure", "Never"]
POD_REPLACEMENT_POLICIES = ["TerminatingOrFailed", "Failed"]
FAILURE_POLICY_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]
EXIT_CODE_OPERATORS = ["In", "NotIn"]
CONDITION_STATUSES = ["False", "True", "Unknown"]
CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"]
MAX_INDEXED_COMPLETIONS = 100_000
MAX_INDEXED_PARALLELISM = 100_000
MAX_FAILURE_POLICY_RULES = 20
MAX_EXIT_CODE_VALUES = 255
CRONJOB_NAME_MAX = 52
"""A CronJob's name leaves room for the `-<minutes>` suffix of its Jobs (63 - 11)."""
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
UNSUPPORTED_JOB_FIELDS = ("successPolicy", "backoffLimitPerIndex", "maxFailedIndexes")
"""Job fields minik8s refuses (a 422) rather than ignore."""
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"


# --- Job -------------------------------------------------------------------------------------


def validate_job(job: Object) -> list[Cause]:
    spec = mapping(job, "spec")
    causes = validate_job_spec(spec, "spec", templated=False)
    if not spec.get("manualSelector"):
        causes += _validate_generated_selector(job)
    return causes


def validate_job_spec(spec: Object, path: str, templated: bool) -> list[Cause]:
    """A JobSpec (`templated`: inside a CronJob's jobTemplate, which has no selector yet)."""
    causes: list[Cause] = []
    for field in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ):
        causes += non_negative(child(path, field), spec.get(field))
    for field in UNSUPPORTED_JOB_FIELDS:
        if spec.get(field) is not None:
            causes.append(api_errors.forbidden(child(path, field), "not supported by minik8s"))
    managed_by = spec.get("managedBy")
    if managed_by is not None and managed_by != JOB_CONTROLLER_NAME:
        causes.append(
            api_errors.forbidden(
                child(path, "managedBy"),
                f"not supported by minik8s: only {JOB_CONTROLLER_NAME} manages Jobs",
            )
        )
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline == 0:
        causes.append(invalid(child(path, "activeDeadlineSeconds"), 0, "must be greater than 0"))
    mode = spec.get("completionMode")
    causes += enum(child(path, "completionMode"), mode, COMPLETION_MODES)
    if mode == "Indexed":
        causes += _validate_indexed(spec, path)
    elif spec.get("backoffLimitPerIndex") is not None:
        causes.append(
            required(child(path, "completionMode"), "when backoffLimitPerIndex is specified")
        )
    causes += enum(
        child(path, "podReplacementPolicy"),
        spec.get("podReplacementPolicy"),
        POD_REPLACEMENT_POLICIES,
    )
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        causes += _validate_pod_failure_policy(policy, child(path, "podFailurePolicy"))
        if spec.get("podReplacementPolicy") == "TerminatingOrFailed":
            causes.append(
                api_errors.not_supported(
                    child(path, "podReplacementPolicy"), "TerminatingOrFailed", ["Failed"]
                )
            )
    selector = spec.get("selector")
    if templated:
        if selector is not None and not spec.get("manualSelector"):
            causes.append(
                invalid(child(path, "selector"), selector, "`selector` will be auto-generated")
            )
    elif not isinstance(selector, dict):
        causes.append(required(child(path, "selector")))
    else:
        causes += validate_label_selector(selector, child(path, "selector"))
    causes += _validate_template(spec, path, policy, selector if not templated else None)
    return causes


def _validate_indexed(spec: Object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    if completions is None:
        causes.append(required(child(path, "completions"), "when completion mode is Indexed"))
    elif isinstance(completions, int) and completions > MAX_INDEXED_COMPLETIONS:
        causes.append(
            invalid(
                child(path, "completions"),
                completions,
                f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode "
                "is Indexed",
            )
        )
    if isinstance(parallelism, int) and parallelism > MAX_INDEXED_PARALLELISM:
        causes.append(
            invalid(
                child(path, "parallelism"),
                parallelism,
                f"must be less than or equal to {MAX_INDEXED_PARALLELISM} when completion mode "
                "is Indexed",
            )
        )
    return causes


def _validate_template(spec: Object, path: str, policy: Any, selector: Any) -> list[Cause]:
    template = spec.get("template")
    template_path = child(path, "template")
    if not isinstance(template, dict):
        return [required(template_path)]
    causes: list[Cause] = []
    labels = mapping(mapping(template, "metadata"), "labels")
    causes += validate_labels(labels, child(template_path, "metadata", "labels"))
    if isinstance(selector, dict):
        try:
            parsed = selectors.label_selector_from_object(selector)
            if parsed.empty or not parsed.matches(labels):
                causes.append(
                    invalid(child(template_path, "metadata", "labels"), labels, SELECTOR_MISMATCH)
                )
        except selectors.InvalidSelector:
            causes.append(invalid(child(path, "selector"), selector, "invalid label selector"))
    pod_spec = mapping(template, "spec")
    if not pod_spec:
        causes.append(required(child(template_path, "spec", "containers")))
        return causes
    causes += validate_pod_spec(pod_spec, child(template_path, "spec"))
    restart_path = child(template_path, "spec", "restartPolicy")
    restart = pod_spec.get("restartPolicy")
    if restart not in JOB_RESTART_POLICIES:
        causes.append(api_errors.not_supported(restart_path, restart, JOB_RESTART_POLICIES))
    elif restart == "OnFailure" and isinstance(policy, dict):
        causes.append(
            invalid(
                restart_path,
                restart,
                'only "Never" is supported when podFailurePolicy is specified',
            )
        )
    return causes


def _validate_pod_failure_policy(policy: Object, path: str) -> list[Cause]:
    rules = policy.get("rules")
    rules_path = child(path, "rules")
    if not isinstance(rules, list):
        return [required(rules_path)]
    if len(rules) > MAX_FAILURE_POLICY_RULES:
        return [
            api_errors.Cause(
                rules_path,
                f"Too many: {len(rules)}: must have at most {MAX_FAILURE_POLICY_RULES} items",
                "FieldValueTooMany",
            )
        ]
    causes: list[Cause] = []
    for i, rule in enumerate(items(policy, "rules")):
        rule_path = index(rules_path, i)
        action = rule.get("action")
        if action is None or action == "":
            causes.append(required(child(rule_path, "action")))
        elif action == "FailIndex":
            causes.append(
                api_errors.forbidden(
                    child(rule_path, "action"),
                    "FailIndex needs backoffLimitPerIndex, which minik8s does not support",
                )
            )
        else:
            causes += enum(child(rule_path, "action"), action, FAILURE_POLICY_ACTIONS)
        on_codes = rule.get("onExitCodes")
        on_conditions = rule.get("onPodConditions")
        if on_codes is not None and on_conditions is not None:
            causes.append(
                invalid(
                    rule_path,
                    "",
                    "specifying both OnExitCodes and OnPodConditions is not supported",
                )
            )
        elif on_codes is None and on_conditions is None:
            causes.append(
                invalid(
                    rule_path, "", "specifying one of OnExitCodes and OnPodConditions is required"
                )
            )
        if isinstance(on_codes, dict):
            causes += _validate_exit_codes(on_codes, child(rule_path, "onExitCodes"))
        for j, pattern in enumerate(on_conditions if isinstance(on_conditions, list) else []):
            pattern_path = index(child(rule_path, "onPodConditions"), j)
            if isinstance(pattern, dict):
                causes += enum(
                    child(pattern_path, "status"), pattern.get("status"), CONDITION_STATUSES
                )
                if not pattern.get("type"):
                    causes.append(required(child(pattern_path, "type")))
    return causes


def _validate_exit_codes(requirement: Object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    operator = requirement.get("operator")
    if not operator:
        causes.append(required(child(path, "operator")))
    else:
        causes += enum(child(path, "operator"), operator, EXIT_CODE_OPERATORS)
    values = requirement.get("values")
    values_path = child(path, "values")
    if not isinstance(values, list) or not values:
        causes.append(required(values_path, "at least one value is required"))
        return causes
    if len(values) > MAX_EXIT_CODE_VALUES:
        causes.append(
            api_errors.Cause(
                values_path,
                f"Too many: {len(values)}: must have at most {MAX_EXIT_CODE_VALUES} items",
                "FieldValueTooMany",
            )
        )
    previous: int | None = None
    for i, value in enumerate(values):
        if operator == "In" and value == 0:
            causes.append(
                invalid(index(values_path, i), value, "must not be 0 for the In operator")
            )
        if previous is not None and isinstance(value, int):
            if value == previous:
                causes.append(api_errors.duplicate(index(values_path, i), value))
            elif value < previous:
                causes.append(invalid(index(values_path, i), value, "must be ordered"))
        previous = value if isinstance(value, int) else previous
    return causes


def _validate_generated_selector(job: Object) -> list[Cause]:
    """Without `manualSelector`, the selector must be the generated one (the Job's uid)."""
    uid = (job.get("metadata") or {}).get("uid")
    selector = mapping(job, "spec").get("selector")
    if not uid or not isinstance(selector, dict):
        return []
    if mapping(selector, "matchLabels").get(CONTROLLER_UID_LABEL) != uid:
        return [invalid("spec.selector", selector, "`selector` not auto-generated")]
    return []


def validate_job_update(new: Object, old: Object) -> list[Cause]:
    new_spec, old_spec = mapping(new, "spec"), mapping(old, "spec")
    causes = immutable("spec.selector", new_spec.get("selector"), old_spec.get("selector"))
    for field in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "manualSelector"):
        causes += immutable(child("spec", field), new_spec.get(field), old_spec.get(field))
    if new_spec.get("completions") != old_spec.get("completions"):
        indexed = new_spec.get("completionMode") == "Indexed"
        if not (indexed and new_spec.get("completions") == new_spec.get("parallelism")):
            causes += immutable(
                "spec.completions", new_spec.get("completions"), old_spec.get("completions")
            )
    if new_spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
        causes += immutable("spec.template", new_spec.get("template"), old_spec.get("template"))
    return causes


# --- CronJob ---------------------------------------------------------------------------------


def validate_cronjob(cronjob: Object) -> list[Cause]:
    causes: list[Cause] = []
    name = (cronjob.get("metadata") or {}).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        causes.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = mapping(cronjob, "spec")
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(required("spec.schedule"))
    elif cronschedule.has_time_zone_prefix(schedule):
        causes.append(
            invalid(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )
        )
    else:
        try:
            cronschedule.parse(schedule)
        except cronschedule.ScheduleError as e:
            causes.append(invalid("spec.schedule", schedule, str(e)))
    if "timeZone" in spec and spec["timeZone"] is not None:
        try:
            cronschedule.load_time_zone(spec["timeZone"])
        except cronschedule.ScheduleError as e:
            causes.append(invalid("spec.timeZone", spec["timeZone"], str(e)))
    policy = spec.get("concurrencyPolicy")
    if policy is None or policy == "":
        causes.append(required("spec.concurrencyPolicy"))
    else:
        causes += enum("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
    for field in (
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ):
        causes += non_negative(child("spec", field), spec.get(field))
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict):
        causes.append(required("spec.jobTemplate"))
        return causes
    causes += validate_labels(
        mapping(mapping(job_template, "metadata"), "labels"), "spec.jobTemplate.metadata.labels"
    )
    job_spec = job_template.get("spec")
    if not isinstance(job_spec, dict):
        causes.append(required("spec.jobTemplate.spec"))
    else:
        causes += validate_job_spec(job_spec, "spec.jobTemplate.spec", templated=True)
    return causes


# --- ReplicationController -------------------------------------------------------------------


def validate_replication_controller(rc: Object) -> list[Cause]:
    spec = mapping(rc, "spec")
    causes = non_negative("spec.replicas", spec.get("replicas"))
    causes += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = spec.get("selector")
    if not selector:
        causes.append(required("spec.selector"))
    else:
        causes += validate_labels(selector, "spec.selector")
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(required("spec.template"))
        return causes
    labels = mapping(mapping(template, "metadata"), "labels")
    causes += validate_labels(labels, "spec.template.metadata.labels")
    if selector and not all(labels.get(k) == v for k, v in selector.items()):
        causes.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
    causes += validate_template_pod_spec(template, "ReplicationController")
    return causes
