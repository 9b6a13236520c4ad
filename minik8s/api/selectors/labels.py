"""Label selectors: parsing, matching and printing, as apimachinery's `pkg/labels` does them.

They accept the whole string grammar of apimachinery's `labels.Parse`:

    a=b   a==b   a!=b   a in (x,y)   a notin (x,y)   a   !a   a>3   a<3

joined by commas (AND), whitespace tolerant, with label keys and values checked like Kubernetes
checks them. Errors are `errors.BadRequest` worded like Kubernetes' (`unable to parse
requirement: ...`, `found ',', expected: ...`), so clients see the messages they expect.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.validation import formats as formats


class Operator(enum.Enum):
    """Requirement operators, valued as apimachinery's `selection.Operator` strings."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
"""What a parse error says may follow a key, in apimachinery's order."""


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: `key <operator> values`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        value = labels.get(self.key)
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value is not None and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value is None or value not in self.values
        if value is None or not _INTEGER.match(value) or len(self.values) != 1:
            return False
        if not _INTEGER.match(self.values[0]):
            return False
        actual, bound = int(value), int(self.values[0])
        return actual > bound if op is Operator.GREATER_THAN else actual < bound

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        values = ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements, kept sorted by key. No requirements selects everything."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False
    """True only for the selector of a nil `metav1.LabelSelector`, which matches no object."""

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.selects_nothing:
            return False
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it selects every object)."""
        return not self.requirements and not self.selects_nothing

    def exact(self, key: str) -> str | None:
        """The single value an `=`, `==` or one-value `in` requirement on `key` demands."""
        for requirement in self.requirements:
            if requirement.key == key:
                exact_ops = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                if requirement.operator in exact_ops and len(requirement.values) == 1:
                    return requirement.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(selects_nothing=True)


class InvalidSelector(ValueError):
    """A structured `metav1.LabelSelector` that cannot become a selector.

    `causes` carry field paths relative to the selector (`matchExpressions[0].operator`), so
    validation can prefix them with where the selector sits in the object.
    """

    def __init__(self, message: str, causes: list[errors.Cause]) -> None:
        super().__init__(message)
        self.message = message
        self.causes = causes


_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class _RequirementError(Exception):
    """Field-level errors of one requirement, as (path, reason, body) triples."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        texts = list(dict.fromkeys(f"{path}: {body}" for path, _, body in self.problems))
        return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _go_strings(values: Iterable[str]) -> str:
    shown = list(values)
    if not shown:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_quote(v) for v in shown) + "}"


def _new_requirement(
    key: str, op: Operator, values: tuple[str, ...], base: str | None
) -> Requirement:
    """Build a requirement, checking it like apimachinery's `NewRequirement`.

    `base` is the field path the requirement sits at; None reproduces Kubernetes' nil path.
    """
    key_path = f"{base}.key" if base else "key"
    values_path = f"{base}.values" if base else "values"
    problems: list[tuple[str, str, str]] = []
    key_problems = formats.is_qualified_name(key)
    if key_problems:
        detail = "; ".join(key_problems)
        problems.append((key_path, "FieldValueInvalid", f"Invalid value: {_quote(key)}: {detail}"))
    shown = _go_strings(values)
    if op in (Operator.IN, Operator.NOT_IN) and not values:
        detail = "for 'in', 'notin' operators, values set can't be empty"
        problems.append((values_path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}"))
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and len(values) != 1:
        detail = "exact-match compatibility requires one single value"
        problems.append((values_path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}"))
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        detail = "values set must be empty for exists and does not exist"
        problems.append((values_path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}"))
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            detail = "for 'Gt', 'Lt' operators, exactly one value is required"
            problems.append((values_path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}"))
        for i, value in enumerate(values):
            if not _INTEGER.match(value):
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                body = f"Invalid value: {_quote(value)}: {detail}"
                problems.append((f"{values_path}[{i}]", "FieldValueInvalid", body))
    for i, value in enumerate(values):
        value_problems = formats.is_label_value(value)
        if value_problems:
            body = f"Invalid value: {_quote(value)}: {'; '.join(value_problems)}"
            problems.append((f"{values_path}[{i}][{key}]", "FieldValueInvalid", body))
    if problems:
        raise _RequirementError(problems)
    return Requirement(key, op, values)


def _sorted_selector(requirements: Iterable[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# --- the label selector string grammar -----------------------------------------------------


class _Token(enum.Enum):
    END = "end of string"
    CLOSE_PAREN = ")"
    COMMA = ","
    NOT = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER_THAN = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS_THAN = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN_PAREN = "("


_SYMBOLS = {
    t.value: t for t in _Token if t not in (_Token.END, _Token.IDENTIFIER, _Token.IN, _Token.NOT_IN)
}
_KEYWORDS = {"in": _Token.IN, "notin": _Token.NOT_IN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_OF_TOKEN = {
    _Token.IN: Operator.IN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
}


def _tokenize(text: str) -> list[tuple[_Token, str]]:
    tokens: list[tuple[_Token, str]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= end:
            tokens.append((_Token.END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            # The longest symbol wins: "!=" and "==" over "!" and "=".
            width = 2 if text[pos : pos + 2] in _SYMBOLS else 1
            symbol = text[pos : pos + width]
            tokens.append((_SYMBOLS[symbol], symbol))
            pos += width
            continue
        start = pos
        while pos < end and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((_KEYWORDS.get(word, _Token.IDENTIFIER), word))


class _SyntaxError(Exception):
    pass


class _LabelParser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._pos = 0

    def _peek(self, as_value: bool = True) -> tuple[_Token, str]:
        return self._as(self._tokens[self._pos], as_value)

    def _take(self, as_value: bool = True) -> tuple[_Token, str]:
        token = self._tokens[self._pos]
        self._pos += 1
        return self._as(token, as_value)

    @staticmethod
    def _as(token: tuple[_Token, str], as_value: bool) -> tuple[_Token, str]:
        # Where a value may stand, the keywords `in` and `notin` are plain identifiers.
        if as_value and token[0] in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, token[1]
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self._peek()
            if kind is _Token.END:
                return requirements
            if kind not in (_Token.IDENTIFIER, _Token.NOT):
                raise _SyntaxError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except (_SyntaxError, _RequirementError) as e:
                raise _SyntaxError(f"unable to parse requirement: {e}") from e
            kind, literal = self._take()
            if kind is _Token.END:
                return requirements
            if kind is not _Token.COMMA:
                raise _SyntaxError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self._peek()
            if kind not in (_Token.IDENTIFIER, _Token.NOT):
                raise _SyntaxError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        kind, literal = self._take()
        negated = kind is _Token.NOT
        if negated:
            kind, literal = self._take()
        if kind is not _Token.IDENTIFIER:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        key = literal
        key_problems = formats.is_qualified_name(key)
        if key_problems:
            detail = "; ".join(key_problems)
            raise _SyntaxError(f"<nil>: Invalid value: {_quote(key)}: {detail}")
        if negated or self._peek()[0] in (_Token.END, _Token.COMMA):
            operator = Operator.DOES_NOT_EXIST if negated else Operator.EXISTS
            return _new_requirement(key, operator, (), None)
        kind, literal = self._take(as_value=False)
        binary = _OPERATOR_OF_TOKEN.get(kind)
        if binary is None:
            raise _SyntaxError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        if binary in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = {self._exact_value()}
        return _new_requirement(key, binary, tuple(sorted(values)), None)

    def _value_set(self) -> set[str]:
        kind, literal = self._take()
        if kind is not _Token.OPEN_PAREN:
            raise _SyntaxError(f"found '{literal}' expected: '('")
        kind, literal = self._peek()
        if kind is _Token.CLOSE_PAREN:
            self._take()
            return {""}
        if kind not in (_Token.IDENTIFIER, _Token.COMMA):
            raise _SyntaxError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        if self._take()[0] is not _Token.CLOSE_PAREN:
            raise _SyntaxError(f"found '{literal}', expected: ')'")
        return values

    def _identifier_list(self) -> set[str]:
        """Comma-separated, possibly empty, values: `(a,,b)` and `(,a)` include ""."""
        values: set[str] = set()
        while True:
            kind, literal = self._take()
            if kind is _Token.IDENTIFIER:
                values.add(literal)
                following, shown = self._peek()
                if following is _Token.CLOSE_PAREN:
                    return values
                if following is not _Token.COMMA:
                    raise _SyntaxError(f"found '{shown}', expected: ',' or ')'")
            elif kind is _Token.COMMA:
                following = self._peek()[0]
                if not values or following in (_Token.CLOSE_PAREN, _Token.COMMA):
                    values.add("")
                if following is _Token.CLOSE_PAREN:
                    return values
            else:
                raise _SyntaxError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> str:
        if self._peek()[0] in (_Token.END, _Token.COMMA):
            return ""
        kind, literal = self._take()
        if kind is not _Token.IDENTIFIER:
            raise _SyntaxError(f"found '{literal}', expected: identifier")
        return literal


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query syntax; "" selects everything."""
    try:
        requirements = _LabelParser(text).parse()
    except _SyntaxError as e:
        raise errors.BadRequest(str(e)) from e
    return _sorted_selector(requirements)


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector matching exactly `labels` (a Service's or ReplicationController's selector).

    Like apimachinery's `SelectorFromSet`, an empty or missing set selects everything; the
    values are not validated.
    """
    items = (labels or {}).items()
    return _sorted_selector(Requirement(k, Operator.EQUALS, (v,)) for k, v in items)


_STRUCTURED_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a structured `metav1.LabelSelector` like `metav1.LabelSelectorAsSelector`.

    `None` (no selector at all) selects nothing, and `{}` (no requirements) selects everything.
    That is the apps/v1 semantics (Deployment, ReplicaSet); a Service's `spec.selector` is a
    plain map instead: use `label_selector_from_set`, under which an empty map selects
    everything too, while the endpoints controller treats a Service without selector as
    selecting nothing itself.

    Raises `InvalidSelector` (a ValueError) with Kubernetes' messages on an unknown operator or
    an invalid key, value or value count.
    """
    if selector is None:
        return NOTHING
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            requirements.append(_new_requirement(str(key), Operator.EQUALS, (str(value),), None))
        for i, expression in enumerate(expressions):
            operator_name = expression.get("operator")
            operator = _STRUCTURED_OPERATORS.get(operator_name)
            if operator is None:
                message = f"{_quote(str(operator_name))} is not a valid label selector operator"
                supported = list(_STRUCTURED_OPERATORS)
                path = f"matchExpressions[{i}].operator"
                raise InvalidSelector(
                    message, [errors.not_supported(path, operator_name, supported)]
                )
            values = tuple(str(v) for v in expression.get("values") or ())
            key = str(expression.get("key") or "")
            requirements.append(_new_requirement(key, operator, values, None))
    except _RequirementError as e:
        causes = [errors.Cause(path, body, reason) for path, reason, body in e.problems]
        raise InvalidSelector(str(e), causes) from e
    return _sorted_selector(requirements)
