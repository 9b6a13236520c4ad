"""The audit policy (`--audit-policy-file`): Kubernetes' `audit.k8s.io/v1` Policy (pure).

Rules are matched in order, the first match wins, and no match means level None (not
audited), as `k8s.io/apiserver/pkg/audit/policy/checker.go` decides:

    users, userGroups, verbs       the request's user, any of its groups, its verb
    resources, namespaces          resource requests only: `{group, resources, resourceNames}`
                                   (`pods`, `pods/log`, `*`, `pods/*`, `*/scale`); namespace ""
                                   matches cluster-scoped resources
    nonResourceURLs                non-resource requests only: exact, `*`, or a `/prefix*`
    level                          None, Metadata, Request, RequestResponse
    omitStages                     the policy's and the rule's, united
    omitManagedFields              the rule's when set, else the policy's

The user is the authenticated one (before impersonation), as in Kubernetes, where the audit
filter runs before the impersonation filter. Fields Kubernetes does not know are refused (a
misspelt `userGroup` would otherwise silently audit everyone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minik8s.api import errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats
from minik8s.api.validation.meta import invalid, required
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes

API_VERSION = "audit.k8s.io/v1"
NONE, METADATA, REQUEST, REQUEST_RESPONSE = "None", "Metadata", "Request", "RequestResponse"
LEVELS = (NONE, METADATA, REQUEST, REQUEST_RESPONSE)
RANK = {level: rank for rank, level in enumerate(LEVELS)}
"""Levels in order: a level logs everything the ones before it log."""

REQUEST_RECEIVED = "RequestReceived"
RESPONSE_STARTED = "ResponseStarted"
RESPONSE_COMPLETE = "ResponseComplete"
PANIC = "Panic"
STAGES = (REQUEST_RECEIVED, RESPONSE_STARTED, RESPONSE_COMPLETE, PANIC)

POLICY_FIELDS = frozenset({"apiVersion", "kind", "metadata", "rules", "omitStages",
                           "omitManagedFields"})  # fmt: skip
RULE_FIELDS = frozenset({"level", "users", "userGroups", "verbs", "resources", "namespaces",
                         "nonResourceURLs", "omitStages", "omitManagedFields"})  # fmt: skip
GROUP_RESOURCE_FIELDS = frozenset({"group", "resources", "resourceNames"})
URL_SLASH = "non-resource URL rules must begin with a '/' character"
URL_WILDCARD = "non-resource URL wildcards '*' must be the final character of the rule"
URL_AND_RESOURCES = "rules cannot apply to both regular resources and non-resource URLs"


@dataclass(frozen=True, slots=True)
class RequestAuditConfig:
    """What the policy decided for one request."""

    level: str
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    @property
    def enabled(self) -> bool:
        return self.level != NONE


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    def matches(self, resource: str, subresource: str, name: str) -> bool:
        if not self.resources:
            return True
        if self.resource_names and name not in self.resource_names:
            return False
        combined = f"{resource}/{subresource}" if subresource else resource
        for spec in self.resources:
            if spec == combined or spec == "*":
                return True
            if subresource and spec.startswith("*/") and spec[2:] == subresource:
                return True
            if spec.endswith("/*") and spec[:-2] == resource:
                return True
        return False


@dataclass(frozen=True, slots=True)
class PolicyRule:
    config: RequestAuditConfig
    """The level, and the stages and managed fields this rule omits (merged with the policy's)."""
    users: frozenset[str] = frozenset()
    user_groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    resources: tuple[GroupResources, ...] = ()
    namespaces: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()

    def matches(self, user: UserInfo | None, attrs: Attributes) -> bool:
        if self.users and (user is None or user.name not in self.users):
            return False
        if self.user_groups and (user is None or self.user_groups.isdisjoint(user.groups)):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            return self._matches_resource(attrs)
        if self.non_resource_urls:
            return not attrs.resource_request and any(
                path_matches(attrs.path, spec) for spec in self.non_resource_urls
            )
        return True

    def _matches_resource(self, attrs: Attributes) -> bool:
        if not attrs.resource_request:
            return False
        if self.namespaces and attrs.namespace not in self.namespaces:
            return False
        if not self.resources:
            return True
        return any(
            gr.group == attrs.api_group
            and gr.matches(attrs.resource, attrs.subresource, attrs.name)
            for gr in self.resources
        )


@dataclass(frozen=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    def evaluate(self, user: UserInfo | None, attrs: Attributes) -> RequestAuditConfig:
        """The first matching rule's config; level None when no rule matches. `user` is None
        for a request whose authentication failed (rules naming users or groups then miss)."""
        for rule in self.rules:
            if rule.matches(user, attrs):
                return rule.config
        return RequestAuditConfig(NONE, self.omit_stages, self.omit_managed_fields)


def path_matches(path: str, spec: str) -> bool:
    """A non-resource URL rule: `*`, the exact path, or a prefix ending in `*`."""
    if spec == "*" or spec == path:
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; ValueError (one line, naming the file) otherwise."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f'failed to read audit policy file "{path}": {e.strerror}') from e
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        detail = " ".join(str(e).split())
        raise ValueError(f"audit policy file {path}: failed decoding: {detail}") from e
    try:
        return parse_policy(document)
    except ValueError as e:
        raise ValueError(f"audit policy file {path}: {e}") from e


def parse_policy(document: Any) -> Policy:
    """A Policy from its parsed YAML/JSON; ValueError with Kubernetes' field messages."""
    if not isinstance(document, dict):
        raise ValueError("failed decoding: the policy is not a mapping")
    version = document.get("apiVersion")
    if version != API_VERSION or document.get("kind") != "Policy":
        raise ValueError(
            f"unknown group version field {version}, Kind={document.get('kind')} in policy "
            f'(want apiVersion "{API_VERSION}", kind "Policy")'
        )
    causes = _unknown_fields(document, POLICY_FIELDS, "")
    omit_stages = _stages(document.get("omitStages"), "omitStages", causes)
    omit_managed = _boolean(document.get("omitManagedFields"), "omitManagedFields", causes)
    raw_rules = document.get("rules")
    if raw_rules is not None and not isinstance(raw_rules, list):
        causes.append(invalid("rules", raw_rules, "must be a list"))
        raw_rules = []
    rules = [
        _rule(raw, f"rules[{i}]", omit_stages, bool(omit_managed), causes)
        for i, raw in enumerate(raw_rules or [])
    ]
    if causes:
        raise ValueError(_aggregate(causes))
    if not rules:
        raise ValueError("loaded illegal policy with 0 rules")
    return Policy(tuple(r for r in rules if r is not None), omit_stages, bool(omit_managed))


def _rule(
    raw: Any, path: str, policy_stages: frozenset[str], policy_managed: bool, causes: list[Cause]
) -> PolicyRule | None:
    if not isinstance(raw, dict):
        causes.append(invalid(path, raw, "must be a mapping"))
        return None
    causes += _unknown_fields(raw, RULE_FIELDS, path)
    level = raw.get("level")
    if not level:
        causes.append(required(f"{path}.level"))
    elif level not in LEVELS:
        causes.append(errors.not_supported(f"{path}.level", level, list(LEVELS)))
    urls = _strings(raw.get("nonResourceURLs"), f"{path}.nonResourceURLs", causes)
    for i, url in enumerate(urls):
        where = f"{path}.nonResourceURLs[{i}]"
        if url == "*":
            continue
        if not url.startswith("/"):
            causes.append(invalid(where, url, URL_SLASH))
        if url and "*" in url[:-1]:
            causes.append(invalid(where, url, URL_WILDCARD))
    resources = _group_resources(raw.get("resources"), f"{path}.resources", causes)
    namespaces = _strings(raw.get("namespaces"), f"{path}.namespaces", causes)
    if urls and (resources or namespaces):
        causes.append(invalid(f"{path}.nonResourceURLs", urls, URL_AND_RESOURCES))
    stages = _stages(raw.get("omitStages"), f"{path}.omitStages", causes)
    managed = _boolean(raw.get("omitManagedFields"), f"{path}.omitManagedFields", causes)
    config = RequestAuditConfig(
        str(level) if level in LEVELS else NONE,
        policy_stages | stages,
        policy_managed if managed is None else managed,
    )
    return PolicyRule(
        config,
        frozenset(_strings(raw.get("users"), f"{path}.users", causes)),
        frozenset(_strings(raw.get("userGroups"), f"{path}.userGroups", causes)),
        frozenset(_strings(raw.get("verbs"), f"{path}.verbs", causes)),
        resources,
        frozenset(namespaces),
        tuple(urls),
    )


def _group_resources(raw: Any, path: str, causes: list[Cause]) -> tuple[GroupResources, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        causes.append(invalid(path, raw, "must be a list"))
        return ()
    found = []
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            causes.append(invalid(where, entry, "must be a mapping"))
            continue
        causes += _unknown_fields(entry, GROUP_RESOURCE_FIELDS, where)
        group = entry.get("group") or ""
        if not isinstance(group, str):
            causes.append(invalid(f"{path}.group", group, "must be a string"))
            continue
        if group:
            # Kubernetes: a group is a DNS subdomain (`apps`, not `apps/v1`)
            messages = formats.is_dns1123_subdomain(group)
            if messages:
                causes.append(invalid(f"{path}.group", group, ",".join(messages)))
        resources = _strings(entry.get("resources"), f"{where}.resources", causes)
        names = _strings(entry.get("resourceNames"), f"{where}.resourceNames", causes)
        found.append(GroupResources(group, tuple(resources), tuple(names)))
    return tuple(found)


def _stages(raw: Any, path: str, causes: list[Cause]) -> frozenset[str]:
    stages = _strings(raw, path, causes)
    for i, stage in enumerate(stages):
        if stage not in STAGES:
            causes.append(errors.not_supported(f"{path}[{i}]", stage, list(STAGES)))
    return frozenset(s for s in stages if s in STAGES)


def _strings(raw: Any, path: str, causes: list[Cause]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        causes.append(invalid(path, raw, "must be a list of strings"))
        return []
    return list(raw)


def _boolean(raw: Any, path: str, causes: list[Cause]) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    causes.append(invalid(path, raw, "must be a boolean"))
    return None


def _unknown_fields(raw: dict[str, Any], known: Iterable[str], path: str) -> list[Cause]:
    prefix = f"{path}." if path else ""
    return [
        Cause(f"{prefix}{key}", f'unknown field "{key}"', "FieldValueNotSupported")
        for key in raw
        if key not in known
    ]


def _aggregate(causes: list[Cause]) -> str:
    """utilerrors.NewAggregate's text: one error as is, several as `[a, b]`."""
    texts = [f"{c.field}: {c.message}" for c in causes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
