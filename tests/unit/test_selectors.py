"""Label and field selectors: grammar, canonical form, matching and Kubernetes' error messages."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api import errors, selectors

KEY_SYNTAX = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a in (y,x)", "a in (x,y)"),
        ("a notin (x, y)", "a notin (x,y)"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("a in (b,)", "a in (,b)"),
        ("a in (,b)", "a in (,b)"),
        ("a=", "a="),
        ("  b = 2 ,\ta\n=\r1 ", "a=1,b=2"),
        ("in in (in, notin)", "in in (in,notin)"),
        ("a>3,b<10", "a>3,b<10"),
        ("example.com/app=web", "example.com/app=web"),
        ("z,y,x", "x,y,z"),
    ],
)
def test_label_selector_parses_to_its_canonical_string(text: str, canonical: str) -> None:
    assert str(selectors.parse_label_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", None, True),
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a==b", {"a": "b"}, True),
        ("a!=b", {"a": "c"}, True),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", None, False),
        ("a notin (x,y)", {"a": "z"}, True),
        ("a notin (x,y)", {}, True),
        ("a notin (x,y)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {"b": "1"}, True),
        ("!a", {"a": "1"}, False),
        ("a=", {"a": ""}, True),
        ("a in (,x)", {"a": ""}, True),
        ("a>3", {"a": "4"}, True),
        ("a>3", {"a": "3"}, False),
        ("a>3", {"a": "x"}, False),
        ("a<3", {"a": "-7"}, True),
        ("a<3", {}, False),
        ("a=1,b=2", {"a": "1", "b": "2", "c": "3"}, True),
        ("a=1,b=2", {"a": "1"}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert selectors.parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a in (b))", "found ')', expected: ',' or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("a===b", "unable to parse requirement: found '=', expected: identifier"),
        (
            "app:web=x",
            f'unable to parse requirement: <nil>: Invalid value: "app:web": name part {KEY_SYNTAX}',
        ),
        (
            "a/b/c",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key '
            f"{KEY_SYNTAX} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')",
        ),
        (
            "a=" + "v" * 64,
            f'unable to parse requirement: values[0][a]: Invalid value: "{"v" * 64}": '
            "must be no more than 63 characters",
        ),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_label_selector_syntax_errors_are_bad_requests(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        selectors.parse_label_selector(text)
    assert caught.value.message == message


def test_label_selector_prefix_errors_name_the_prefix() -> None:
    with pytest.raises(errors.BadRequest, match="prefix part a lowercase RFC 1123 subdomain"):
        selectors.parse_label_selector("app.kubernetes_io/name=x")


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {"a": "b"}, False),
        (None, {}, False),
        ({}, {"a": "b"}, True),
        ({"matchLabels": {}, "matchExpressions": []}, {}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            {"tier": "b"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]},
            {},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": ""}, False),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}],
            },
            {"app": "web", "env": "dev"},
            True,
        ),
    ],
)
def test_structured_label_selector_follows_label_selector_as_selector(
    selector: dict[str, Any] | None, labels: dict[str, str], expected: bool
) -> None:
    assert selectors.label_selector_from_object(selector).matches(labels) is expected


def test_structured_label_selector_prints_sorted_requirements() -> None:
    selector = selectors.label_selector_from_object(
        {
            "matchLabels": {"b": "2"},
            "matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x"]}],
        }
    )
    assert str(selector) == "a in (x,y),b=2"
    assert str(selectors.label_selector_from_object(None)) == ""


@pytest.mark.parametrize(
    ("selector", "message", "field"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            '"Equals" is not a valid label selector operator',
            "matchExpressions[0].operator",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set "
            "can't be empty",
            "values",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and '
            "does not exist",
            "values",
        ),
        (
            {"matchLabels": {"bad key": "x"}},
            f'key: Invalid value: "bad key": name part {KEY_SYNTAX}',
            "key",
        ),
    ],
)
def test_structured_label_selector_errors(
    selector: dict[str, Any], message: str, field: str
) -> None:
    with pytest.raises(selectors.InvalidSelector) as caught:
        selectors.label_selector_from_object(selector)
    assert caught.value.message == message
    assert [cause.field for cause in caught.value.causes] == [field]
    assert isinstance(caught.value, ValueError)


def test_label_selector_from_set_matches_exactly_the_set() -> None:
    selector = selectors.label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})
    assert selectors.label_selector_from_set(None).matches({"x": "y"})


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("app=web,tier=db", "tier", "db"),
        ("app==web", "app", "web"),
        ("app in (web)", "app", "web"),
        ("app in (web,db)", "app", None),
        ("app!=web", "app", None),
        ("app=web", "tier", None),
    ],
)
def test_label_selector_exact_value(text: str, key: str, value: str | None) -> None:
    assert selectors.parse_label_selector(text).exact(key) == value


def test_empty_and_nothing_selectors() -> None:
    assert selectors.parse_label_selector("").empty
    assert not selectors.parse_label_selector("a").empty
    assert not selectors.NOTHING.empty
    assert not selectors.NOTHING.matches({})


# --- field selectors -----------------------------------------------------------------------

POD = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always", "schedulerName": "default"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}]},
}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("metadata.name=web-1", "metadata.name=web-1"),
        ("metadata.name==web-1", "metadata.name=web-1"),
        ("status.phase!=Failed,spec.nodeName=n", "spec.nodeName=n,status.phase!=Failed"),
        ("metadata.name=a\\,b", "metadata.name=a\\,b"),
        ("metadata.name=a\\=b\\\\c", "metadata.name=a\\=b\\\\c"),
        ("metadata.name=,,spec.nodeName=", "metadata.name=,spec.nodeName="),
    ],
)
def test_field_selector_parses_to_its_canonical_string(text: str, canonical: str) -> None:
    assert str(selectors.parse_field_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-2", False),
        ("metadata.namespace=default,spec.nodeName=node-a", True),
        ("spec.nodeName!=node-a", False),
        ("spec.nodeName=", False),
        ("spec.serviceAccountName=", True),
        ("status.nominatedNodeName!=x", True),
        ("status.podIP=10.0.0.7", True),
        ("spec.hostNetwork=false", True),
        ("spec.host=node-a", True),
        ("status.phase=Running,status.phase!=Pending", True),
    ],
)
def test_field_selector_matches_pods(text: str, expected: bool) -> None:
    assert selectors.parse_field_selector(text, "Pod").matches(POD) is expected


def test_field_selector_unescapes_values() -> None:
    obj = {"metadata": {"name": "a,b=c\\d"}}
    assert selectors.parse_field_selector("metadata.name=a\\,b\\=c\\\\d").matches(obj)


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        ({"spec": {"unschedulable": True}}, "spec.unschedulable", "true"),
        ({"spec": {}}, "spec.unschedulable", "false"),
        ({"spec": {"hostNetwork": True}}, "spec.hostNetwork", "true"),
        ({"status": {"podIP": "1.2.3.4"}}, "status.podIP", "1.2.3.4"),
        ({"status": {}}, "status.podIP", ""),
        ({"source": {"component": "kubelet"}}, "source", "kubelet"),
        ({"involvedObject": {"kind": "Pod"}}, "involvedObject.kind", "Pod"),
        ({"status": {"replicas": 3}}, "status.replicas", "3"),
        ({"spec": {"ports": [1]}}, "spec.ports", ""),
        ({}, "metadata.name", ""),
    ],
)
def test_field_values_follow_the_registries(obj: dict[str, Any], field: str, value: str) -> None:
    assert selectors.field_value(obj, field) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (
            "a=b,metadata.name",
            "invalid selector: 'a=b,metadata.name'; can't understand 'metadata.name'",
        ),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: ="),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        selectors.parse_field_selector(text)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("Pod", "metadata.name"),
        ("Pod", "metadata.namespace"),
        ("Pod", "spec.nodeName"),
        ("Pod", "spec.restartPolicy"),
        ("Pod", "spec.schedulerName"),
        ("Pod", "spec.serviceAccountName"),
        ("Pod", "spec.hostNetwork"),
        ("Pod", "status.phase"),
        ("Pod", "status.podIP"),
        ("Pod", "status.nominatedNodeName"),
        ("Node", "metadata.name"),
        ("Node", "spec.unschedulable"),
        ("Namespace", "status.phase"),
        ("Service", "spec.clusterIP"),
        ("Service", "spec.type"),
        ("Event", "involvedObject.uid"),
        ("Event", "reason"),
        ("Event", "reportingComponent"),
        ("Event", "source"),
        ("Event", "type"),
        ("Endpoints", "metadata.namespace"),
        ("ConfigMap", "metadata.name"),
        ("Deployment", "metadata.name"),
        ("ReplicaSet", "metadata.namespace"),
        ("Lease", "metadata.name"),
    ],
)
def test_supported_field_labels(kind: str, field: str) -> None:
    selectors.parse_field_selector(f"{field}=x", kind)


@pytest.mark.parametrize(
    ("kind", "field", "message"),
    [
        ("Pod", "spec.containers", "field label not supported: spec.containers"),
        ("Node", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("Namespace", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("Event", "message", "field label not supported: message"),
        ("Service", "spec.ports", "field label not supported: spec.ports"),
        (
            "ReplicaSet",
            "status.replicas",
            '"status.replicas" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
        (
            "Deployment",
            "spec.paused",
            '"spec.paused" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
    ],
)
def test_unsupported_field_labels_are_bad_requests(kind: str, field: str, message: str) -> None:
    selector = selectors.parse_field_selector(f"{field}=x")
    with pytest.raises(errors.BadRequest) as caught:
        selectors.validate_field_selector(selector, kind)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("spec.nodeName=node-a", "node-a"),
        ("status.phase=Running,spec.nodeName==node-b", "node-b"),
        ("spec.nodeName!=node-a", None),
        ("status.phase=Running", None),
        ("spec.nodeName=", ""),
    ],
)
def test_field_selector_exact_value(text: str, value: str | None) -> None:
    assert selectors.parse_field_selector(text).exact("spec.nodeName") == value


@pytest.mark.parametrize("value", ["", "plain", "a,b", "a=b", "back\\slash", "\\,=\\"])
def test_escaped_field_values_round_trip(value: str) -> None:
    text = f"metadata.name={selectors.escape_field_value(value)}"
    assert selectors.parse_field_selector(text).exact("metadata.name") == value
