"""Authorizers and their union, as `--authorization-mode` orders them (Kubernetes' semantics).

Each authorizer says Allow, Deny or NoOpinion with a reason; the union asks them in order
and the first Allow or Deny wins. `system:masters` is always allowed first, as in Kubernetes
(its privileged-group authorizer). Nothing allowed means 403, with the reasons of the
authorizers that gave one (e.g. the Node authorizer's "no relationship found …").
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from minik8s.api.rbac import Rule
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes

MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")


class Decision(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    NO_OPINION = "NoOpinion"


@dataclass
class RulesResult:
    """What a user may do in a namespace (SelfSubjectRulesReview)."""

    resource_rules: list[Rule] = field(default_factory=list)
    non_resource_rules: list[Rule] = field(default_factory=list)
    incomplete: bool = False
    errors: list[str] = field(default_factory=list)


class Authorizer(Protocol):
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]: ...

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult: ...


class AlwaysAllow:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, ""

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        return RulesResult([Rule(("*",), ("*",), ("*",))], [Rule(("*",), non_resource_urls=("*",))])


class AlwaysDeny:
    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return Decision.NO_OPINION, "Everything is forbidden."

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        return RulesResult(incomplete=True)


class PrivilegedGroups:
    """`system:masters` may do anything, whatever RBAC says (it cannot be locked out)."""

    def __init__(self, groups: Sequence[str] = (users.SYSTEM_PRIVILEGED_GROUP,)) -> None:
        self.groups = frozenset(groups)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if not self.groups.isdisjoint(attrs.user.groups):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        if not self.groups.isdisjoint(user.groups):
            return AlwaysAllow().rules_for(user, namespace)
        return RulesResult()


class Union:
    """The authorizers of `--authorization-mode`, in order, behind the privileged groups."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(attrs)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "\n".join(reasons)

    def allowed(self, attrs: Attributes) -> bool:
        return self.authorize(attrs)[0] is Decision.ALLOW

    def rules_for(self, user: UserInfo, namespace: str) -> RulesResult:
        result = RulesResult()
        for authorizer in self.authorizers:
            found = authorizer.rules_for(user, namespace)
            result.resource_rules += found.resource_rules
            result.non_resource_rules += found.non_resource_rules
            result.incomplete = result.incomplete or found.incomplete
            result.errors += found.errors
        return result
