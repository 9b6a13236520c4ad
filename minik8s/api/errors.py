"""The one exception tree of the API, and its mapping to and from Kubernetes `Status` objects.

The store raises these, the apiserver turns them into `Status` responses in one place, and the
client turns `Status` responses back into the same classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Cause:
    """One field-level reason of an `Invalid` error (`details.causes[]` in a Status)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        """As Kubernetes writes a StatusCause: empty fields left out."""
        out = {"reason": self.reason, "message": self.message, "field": self.field}
        return {k: v for k, v in out.items() if v}


def required(field: str) -> Cause:
    return Cause(field, "Required value", "FieldValueRequired")


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, f"Invalid value: {_show(value)}: {detail}", "FieldValueInvalid")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, f"Duplicate value: {_show(value)}", "FieldValueDuplicate")


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    allowed = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        field,
        f"Unsupported value: {_show(value)}: supported values: {allowed}",
        "FieldValueNotSupported",
    )


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


_BY_REASON: dict[str, type[ApiError]] = {}
_BY_CODE: dict[int, type[ApiError]] = {}


class ApiError(Exception):
    """An error the API reports as a `Status` object. Each subclass names its HTTP code and
    Kubernetes `StatusReason` once, in its class line; `from_status` maps them back."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"
    has_details: ClassVar[bool] = False
    """Whether Kubernetes' constructor of this error always sets `details` (maybe empty)."""

    def __init_subclass__(
        cls,
        *,
        code: int | None = None,
        reason: str | None = None,
        details: bool = False,
        for_code: bool = True,
        **kwargs: Any,
    ) -> None:
        """`code`/`reason` given: a Kubernetes reason of its own (registered for
        `from_status`; `for_code=False` when another class stands for a bare HTTP `code`).
        Neither: a refinement of its parent (the same code and reason)."""
        super().__init_subclass__(**kwargs)
        if code is None or reason is None:
            return
        cls.code, cls.reason, cls.has_details = code, reason, details
        _BY_REASON[reason] = cls
        if for_code:
            _BY_CODE[code] = cls

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        causes: list[Cause] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> dict[str, Any]:
        """The `Status` object, with its fields in Kubernetes' order (kind, apiVersion,
        metadata, status, message, reason, details, code) as its Go encoder writes them.

        `details` is there whenever Kubernetes' constructor of that error sets it (an empty
        `{}` for the generic "could not find the requested resource" 404, for instance)."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
        }
        if self.message:
            status["message"] = self.message
        if self.reason:
            status["reason"] = self.reason
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details or self.has_details:
            status["details"] = details
        status["code"] = self.code
        return status


class BadRequest(ApiError, code=400, reason="BadRequest"):
    pass


class Unauthorized(ApiError, code=401, reason="Unauthorized"):
    pass


class Forbidden(ApiError, code=403, reason="Forbidden", details=True):
    pass


class NotFound(ApiError, code=404, reason="NotFound", details=True):
    pass


class MethodNotAllowed(ApiError, code=405, reason="MethodNotAllowed", details=True):
    pass


class NotAcceptable(ApiError, code=406, reason="NotAcceptable"):
    pass


class AlreadyExists(ApiError, code=409, reason="AlreadyExists", details=True, for_code=False):
    pass


class Conflict(ApiError, code=409, reason="Conflict", details=True):
    pass


class Expired(ApiError, code=410, reason="Expired"):
    """A resourceVersion too old to serve (HTTP 410 Gone, reason Expired)."""


class Gone(ApiError, code=410, reason="Gone", for_code=False):
    pass


class RequestEntityTooLarge(ApiError, code=413, reason="RequestEntityTooLarge"):
    pass


class UnsupportedMediaType(ApiError, code=415, reason="UnsupportedMediaType"):
    pass


class Invalid(ApiError, code=422, reason="Invalid", details=True):
    pass


class TooManyRequests(ApiError, code=429, reason="TooManyRequests", details=True):
    pass


class InternalError(ApiError, code=500, reason="InternalError", details=True):
    pass


class NotImplementedYet(ApiError, code=501, reason="NotImplemented"):
    pass


class ServiceUnavailable(ApiError, code=503, reason="ServiceUnavailable"):
    pass


class Timeout(ApiError, code=504, reason="Timeout", details=True):
    pass


def from_status(status: dict[str, Any], http_code: int | None = None) -> ApiError:
    """Rebuild the exception a `Status` object (or a bare HTTP error code) stands for."""
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or http_code or 500)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or InternalError
    details = status.get("details") or {}
    causes = [
        Cause(
            field=str(c.get("field", "")),
            message=str(c.get("message", "")),
            reason=str(c.get("reason", "")),
        )
        for c in details.get("causes") or []
    ]
    err = cls(
        str(status.get("message") or f"HTTP {code}"),
        kind=details.get("kind"),
        name=details.get("name"),
        group=details.get("group"),
        causes=causes,
        retry_after_seconds=details.get("retryAfterSeconds"),
    )
    return err


def internal_error(error: Exception | str) -> InternalError:
    """Kubernetes' NewInternalError: the error's text as the message's tail and as a cause."""
    return InternalError(f"Internal error occurred: {error}", causes=[Cause("", str(error), "")])


def not_found(resource: str, name: str, group: str = "") -> NotFound:
    qualified = f"{resource}.{group}" if group else resource
    return NotFound(f'{qualified} "{name}" not found', kind=resource, name=name, group=group)


def already_exists(resource: str, name: str, group: str = "") -> AlreadyExists:
    qualified = f"{resource}.{group}" if group else resource
    return AlreadyExists(
        f'{qualified} "{name}" already exists', kind=resource, name=name, group=group
    )


def conflict(resource: str, name: str, group: str = "", detail: str = "") -> Conflict:
    qualified = f"{resource}.{group}" if group else resource
    detail = detail or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return Conflict(
        f'Operation cannot be fulfilled on {qualified} "{name}": {detail}',
        kind=resource,
        name=name,
        group=group,
    )


def invalid_object(kind: str, name: str, causes: list[Cause], group: str = "") -> Invalid:
    qualified = f"{kind}.{group}" if group else kind
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(
        f'{qualified} "{name}" is invalid: {summary}',
        kind=kind,
        name=name,
        group=group,
        causes=causes,
    )
