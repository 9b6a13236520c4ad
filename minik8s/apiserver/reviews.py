"""The review kinds: questions to the apiserver, answered in the response and never stored.

    authentication.k8s.io/v1  TokenReview          who is this bearer token? (the whole chain)
                              SelfSubjectReview    who am I? (`kubectl auth whoami`)
    authorization.k8s.io/v1   SubjectAccessReview  may this user do that? (the kubelet asks)
                              SelfSubjectAccessReview, LocalSubjectAccessReview
                                                   may I / may they in this namespace?
                                                   (`kubectl auth can-i`)
                              SelfSubjectRulesReview  what may I do here? (`can-i --list`)

Each answer is the posted object with its `status` filled in, `201 Created`, as Kubernetes
answers them; a malformed spec is a 422 with Kubernetes' field paths.
"""

from __future__ import annotations

from typing import Any

from minik8s.api import errors, resources
from minik8s.api.meta import Object
from minik8s.api.rbac import Rule
from minik8s.api.resources import ResourceType
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.chain import Authenticator
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import Decision, Union
from minik8s.apiserver.requestinfo import Attributes


class Reviews:
    def __init__(self, authenticator: Authenticator, authorizer: Union) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer

    def create(
        self, resource: ResourceType, namespace: str | None, body: Any, requestor: UserInfo
    ) -> Object:
        """The answered review (the body with its status)."""
        if not isinstance(body, dict):
            raise errors.BadRequest(f"the body of the request must be a {resource.kind} object")
        for key, expected in (("kind", resource.kind), ("apiVersion", resource.api_version)):
            if body.get(key) not in (None, expected):
                raise errors.BadRequest(
                    f"the {key} in the data ({body.get(key)}) does not match the expected "
                    f"{key} ({expected})"
                )
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise self._invalid(resource, [errors.invalid("spec", spec, "must be an object")])
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise self._invalid(
                resource, [errors.invalid("metadata", metadata, "must be an object")]
            )
        if resource is resources.TOKENREVIEWS:
            status = self._token_review(spec)
        elif resource is resources.SELFSUBJECTREVIEWS:
            status = {"userInfo": requestor.to_dict()}
        elif resource is resources.SELFSUBJECTRULESREVIEWS:
            status = self._rules_review(requestor, str(spec.get("namespace") or ""))
        else:
            status = self._access_review(resource, namespace, spec, requestor)
        answer = {
            **body,
            "kind": resource.kind,
            "apiVersion": resource.api_version,
            "metadata": {**metadata, "creationTimestamp": None},
            "spec": spec,
            "status": status,
        }
        if resource is resources.SELFSUBJECTREVIEWS:
            answer.pop("spec", None)
        return answer

    @staticmethod
    def _invalid(resource: ResourceType, causes: list[errors.Cause]) -> errors.Invalid:
        return errors.invalid_object(resource.kind, "", causes, resource.group)

    def _token_review(self, spec: Object) -> Object:
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise self._invalid(resources.TOKENREVIEWS, [errors.required("spec.token")])
        user = self.authenticator.authenticate_token(token)
        if user is None:
            return {"user": {}, "error": "[invalid bearer token]"}
        status: Object = {"authenticated": True, "user": user.to_dict()}
        audiences = spec.get("audiences")
        if isinstance(audiences, list) and audiences:
            status["audiences"] = audiences
        return status

    def _access_review(
        self, resource: ResourceType, namespace: str | None, spec: Object, requestor: UserInfo
    ) -> Object:
        resource_attrs = spec.get("resourceAttributes")
        path_attrs = spec.get("nonResourceAttributes")
        if (resource_attrs is None) == (path_attrs is None):
            raise self._invalid(
                resource,
                [
                    errors.invalid(
                        "spec.resourceAttributes",
                        resource_attrs,
                        "exactly one of nonResourceAttributes or resourceAttributes must be "
                        "specified",
                    )
                ],
            )
        if resource in (resources.SUBJECTACCESSREVIEWS, resources.LOCALSUBJECTACCESSREVIEWS):
            user = _subject(resource, spec)
        else:
            user = requestor
        if resource_attrs is not None:
            if not isinstance(resource_attrs, dict):
                raise self._invalid(
                    resource,
                    [
                        errors.invalid(
                            "spec.resourceAttributes", resource_attrs, "must be an object"
                        )
                    ],
                )
            review_ns = str(resource_attrs.get("namespace") or "")
            if resource is resources.LOCALSUBJECTACCESSREVIEWS:
                if review_ns and review_ns != namespace:
                    raise self._invalid(
                        resource,
                        [
                            errors.invalid(
                                "spec.resourceAttributes.namespace",
                                review_ns,
                                "must match metadata.namespace",
                            )
                        ],
                    )
                review_ns = namespace or ""
            attrs = Attributes(
                user,
                str(resource_attrs.get("verb") or ""),
                True,
                review_ns,
                str(resource_attrs.get("group") or ""),
                str(resource_attrs.get("version") or ""),
                str(resource_attrs.get("resource") or ""),
                str(resource_attrs.get("subresource") or ""),
                str(resource_attrs.get("name") or ""),
                field_selector=_field_selector(resource_attrs),
            )
        else:
            if not isinstance(path_attrs, dict):
                raise self._invalid(
                    resource,
                    [errors.invalid("spec.nonResourceAttributes", path_attrs, "must be an object")],
                )
            attrs = Attributes(
                user,
                str(path_attrs.get("verb") or ""),
                resource_request=False,
                path=str(path_attrs.get("path") or ""),
            )
        decision, reason = self.authorizer.authorize(attrs)
        status: Object = {"allowed": decision is Decision.ALLOW}
        if decision is Decision.DENY:
            status["denied"] = True
        if reason:
            status["reason"] = reason
        return status

    def _rules_review(self, user: UserInfo, namespace: str) -> Object:
        found = self.authorizer.rules_for(user, namespace)
        status: Object = {
            "resourceRules": [_resource_rule(r) for r in found.resource_rules],
            "nonResourceRules": [
                {"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)}
                for r in found.non_resource_rules
            ],
            "incomplete": found.incomplete,
        }
        if found.errors:
            status["evaluationError"] = "; ".join(found.errors)
        return status


def _resource_rule(rule: Rule) -> Object:
    out: Object = {
        "verbs": list(rule.verbs),
        "apiGroups": list(rule.api_groups),
        "resources": list(rule.resources),
    }
    if rule.resource_names:
        out["resourceNames"] = list(rule.resource_names)
    return out


def _subject(resource: ResourceType, spec: Object) -> UserInfo:
    name = spec.get("user") or ""
    groups = spec.get("groups") or []
    if not isinstance(name, str) or not isinstance(groups, list):
        raise errors.invalid_object(
            resource.kind,
            "",
            [errors.invalid("spec.user", name, "must be a string with a list of groups")],
            resource.group,
        )
    if not name and not groups:
        raise errors.invalid_object(
            resource.kind,
            "",
            [errors.invalid("spec.user", name, "at least one of user or group must be specified")],
            resource.group,
        )
    extra = spec.get("extra") if isinstance(spec.get("extra"), dict) else None
    return UserInfo(
        name, str(spec.get("uid") or ""), tuple(str(g) for g in groups), users.make_extra(extra)
    )


def _field_selector(resource_attrs: Object) -> str:
    """`fieldSelector.rawSelector` (1.31+), so a kubelet's scoped list can be reviewed."""
    selector = resource_attrs.get("fieldSelector")
    if isinstance(selector, dict) and isinstance(selector.get("rawSelector"), str):
        return str(selector["rawSelector"])
    return ""
