"""Server-side apply and managed fields: the pure semantics (minik8s.api.fieldmanager)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.fieldmanager import fieldpath, manager, schema, typed

DEPLOYMENT = schema.for_kind("apps", "v1", "Deployment")
POD = schema.for_kind("", "v1", "Pod")
MAIN = manager.view_for(None, has_status=True)
STATUS = manager.view_for("status", has_status=True)
CSA = manager.Identity("kubectl-client-side-apply", manager.UPDATE, "apps/v1")
KUBECTL = manager.Identity("kubectl", manager.APPLY, "apps/v1")
OTHER = manager.Identity("other", manager.APPLY, "apps/v1")


def deployment(replicas: int = 2, image: str = "nginx:1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
            **spec,
        },
    }


def created(obj: dict[str, Any], who: manager.Identity = CSA) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["managedFields"] = manager.update(None, obj, DEPLOYMENT, who, MAIN, now="T")
    return obj


def fields_of(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in obj["metadata"]["managedFields"] if e["manager"] == name)["fieldsV1"]


def test_paths_round_trip_through_fields_v1() -> None:
    paths = {
        ("f:spec", "f:replicas"),
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:app"),
        ("f:spec", "f:containers", 'k:{"name":"a"}'),
        ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"),
    }
    tree = fieldpath.to_fields_v1(paths)
    assert tree == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}},
            "f:replicas": {},
        },
    }
    assert list(tree["f:metadata"]["f:labels"]) == [".", "f:app"]
    assert fieldpath.from_fields_v1(tree) == paths
    assert (
        fieldpath.to_string(("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"))
        == '.spec.containers[name="a"].image'
    )


def test_create_owns_every_field_like_kubernetes_lists_them() -> None:
    obj = created(deployment())
    entry = obj["metadata"]["managedFields"][0]
    assert [*entry] == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # LabelSelector is atomic
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}
                },
            },
        },
    }


def test_list_items_merge_by_key_and_keep_live_only_items_in_place() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
    config = {"spec": {"containers": [{"name": "c"}, {"name": "a", "image": "2"}]}}
    merged = typed.merge(live, config, POD)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["c", "a", "b"]
    assert merged["spec"]["containers"][1]["image"] == "2"
    ports = typed.field_set({"ports": [{"containerPort": 80}]}, POD.fields["spec"].fields[
        "containers"
    ].element)  # fmt: skip
    assert ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}') in ports


def test_apply_conflicts_with_another_manager_and_force_takes_the_field() -> None:
    live = created(deployment(replicas=2))
    with pytest.raises(errors.Conflict) as raised:
        manager.apply(live, deployment(replicas=3), DEPLOYMENT, OTHER, MAIN, force=False)
    status = raised.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
        "apps/v1: .spec.replicas"
    )
    assert status["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                "field": ".spec.replicas",
            }
        ]
    }
    applied = manager.apply(live, deployment(replicas=3), DEPLOYMENT, OTHER, MAIN, force=True)
    assert applied.obj["spec"]["replicas"] == 3
    assert "f:replicas" in fields_of(applied.obj, "other")["f:spec"]
    assert "f:replicas" not in fields_of(applied.obj, "kubectl-client-side-apply")["f:spec"]


def test_applying_the_same_value_is_shared_ownership_not_a_conflict() -> None:
    live = created(deployment(replicas=2))
    applied = manager.apply(live, deployment(replicas=2), DEPLOYMENT, OTHER, MAIN, force=False)
    assert not applied.changed
    assert "f:replicas" in fields_of(applied.obj, "other")["f:spec"]
    assert "f:replicas" in fields_of(applied.obj, "kubectl-client-side-apply")["f:spec"]


def test_several_conflicts_are_listed_by_manager() -> None:
    live = created(deployment(replicas=2, image="nginx:1"))
    with pytest.raises(errors.Conflict) as raised:
        manager.apply(live, deployment(3, "nginx:2"), DEPLOYMENT, OTHER, MAIN, force=False)
    assert raised.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using '
        'apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image'
    )


def test_a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() -> None:
    first = deployment(minReadySeconds=5)
    live = manager.apply(None, first, DEPLOYMENT, OTHER, MAIN, force=False).obj
    again = manager.apply(live, deployment(), DEPLOYMENT, OTHER, MAIN, force=False)
    assert "minReadySeconds" not in again.obj["spec"]
    # Another manager that owns it keeps it.
    live = manager.apply(None, first, DEPLOYMENT, OTHER, MAIN, force=False).obj
    live["metadata"]["managedFields"] = manager.update(
        copy.deepcopy(live),
        {**live, "spec": {**live["spec"], "minReadySeconds": 7}},
        DEPLOYMENT,
        CSA,
        MAIN,
        now="T",
    )
    live["spec"]["minReadySeconds"] = 7
    again = manager.apply(live, deployment(), DEPLOYMENT, OTHER, MAIN, force=False)
    assert again.obj["spec"]["minReadySeconds"] == 7


def test_kubectl_takes_over_fields_a_client_side_apply_set_to_the_same_values() -> None:
    manifest = deployment(replicas=2)
    live = created(manifest)
    live["metadata"]["annotations"] = {manager.LAST_APPLIED: json.dumps(manifest)}
    # kubectl owns nothing yet, and the last-applied replicas still hold: no conflict.
    applied = manager.apply(live, deployment(replicas=3), DEPLOYMENT, KUBECTL, MAIN, False)
    assert applied.obj["spec"]["replicas"] == 3
    last = json.loads(applied.obj["metadata"]["annotations"][manager.LAST_APPLIED])
    assert last["spec"]["replicas"] == 3
    # A field someone changed after the client-side apply still conflicts.
    live["spec"]["replicas"] = 4
    with pytest.raises(errors.Conflict):
        manager.apply(live, deployment(replicas=3), DEPLOYMENT, KUBECTL, MAIN, False)


def test_updates_take_changed_fields_from_other_managers() -> None:
    live = manager.apply(None, deployment(replicas=2), DEPLOYMENT, OTHER, MAIN, False).obj
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    editor = manager.Identity("kubectl-edit", manager.UPDATE, "apps/v1")
    fields = manager.update(live, scaled, DEPLOYMENT, editor, MAIN, now="T")
    by_manager = {e["manager"]: e["fieldsV1"] for e in fields}
    assert by_manager["kubectl-edit"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in by_manager["other"]["f:spec"]
    # Nothing changed: nothing recorded.
    scaled["metadata"]["managedFields"] = fields
    assert manager.update(scaled, scaled, DEPLOYMENT, editor, MAIN, now="U") == fields


def test_status_writes_own_status_only_and_main_writes_never_do() -> None:
    live = created(deployment())
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 2}
    controller = manager.Identity("kube-controller-manager", manager.UPDATE, "apps/v1", "status")
    fields = manager.update(live, with_status, DEPLOYMENT, controller, STATUS, now="T")
    entry = next(e for e in fields if e.get("subresource") == "status")
    assert entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    assert (
        manager.update(live, with_status, DEPLOYMENT, CSA, MAIN, now="T")
        == (live["metadata"]["managedFields"])
    )


def test_an_empty_list_resets_managed_fields() -> None:
    live = created(deployment())
    assert manager.update(live, live, DEPLOYMENT, CSA, MAIN, sent=[], now="T") == []


def test_apply_checks_its_configuration() -> None:
    with pytest.raises(errors.BadRequest, match="Incorrect version specified in apply patch"):
        manager.apply(None, {"apiVersion": "v1"}, DEPLOYMENT, OTHER, MAIN, False)
    bad = deployment()
    bad["metadata"]["managedFields"] = []
    with pytest.raises(errors.BadRequest, match=r"metadata\.managedFields must be nil"):
        manager.apply(None, bad, DEPLOYMENT, OTHER, MAIN, False)
    with pytest.raises(errors.Invalid, match="fieldManager: Required value"):
        manager.validate_manager(None, apply=True, force=False)
    with pytest.raises(errors.Invalid, match="may not be specified for non-apply patch"):
        manager.validate_manager("x", apply=False, force=True)
    assert manager.manager_name(None, "kubectl/v1.32.0 (linux/amd64)") == "kubectl"
