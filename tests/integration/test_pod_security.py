"""Pods must not reach the host, as far as the API can see: Pod Security Admission on labelled
namespaces (enforce 403s with Kubernetes' messages, warn and template Warning headers,
namespace label checks and existing-pod warnings), `--allow-privileged`, and the validation
that keeps paths inside volumes and endpoints off the node (real etcd + apiserver)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.support.api import Api

pytestmark = pytest.mark.integration

PSA = "pod-security.kubernetes.io/"
RESTRICTED_MESSAGE = (
    'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container '
    '"c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
    '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true '
    '(pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
    'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
    '"Localhost")'
)


def namespace(api: Api, **labels: str) -> str:
    name = f"psa-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {PSA + k.replace("_", "-"): v
                                                  for k, v in labels.items()}}}  # fmt: skip
    r = api.post("/api/v1/namespaces", body)
    assert r.status_code == 201, r.text
    return name


def pod(name: str, spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "minik8s/busybox", **container}],
                     **(spec or {})}}  # fmt: skip


def create(api: Api, ns: str, body: dict[str, Any], status: int = 201) -> Any:
    r = api.post(f"/api/v1/namespaces/{ns}/pods", body)
    assert r.status_code == status, r.text
    return r


def warnings(response: Any) -> list[str]:
    """The texts of `Warning: 299 - "…"` headers, unquoted."""
    texts = [v.split('"', 1)[1].rsplit('"', 1)[0] for v in response.headers.get_list("warning")]
    return [re.sub(r"\\(.)", r"\1", text) for text in texts]


HOST_PATH = {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}


def test_baseline_enforced_refuses_each_way_to_the_host(api: Api) -> None:
    ns = namespace(api, enforce="baseline")
    cases = {
        "hostpath": (pod("hostpath", HOST_PATH), 'hostPath volumes (volume "h")'),
        "hostns": (pod("hostns", {"hostNetwork": True, "hostPID": True, "hostIPC": True}),
                   "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"),
        "caps": (pod("caps", securityContext={"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}),
                 'non-default capabilities (container "c" must not include "NET_ADMIN" in '
                 "securityContext.capabilities.add)"),
        "hostport": (pod("hostport", ports=[{"containerPort": 80, "hostPort": 8080}]),
                     'hostPort (container "c" uses hostPort 8080)'),
        "procmount": (pod("procmount", securityContext={"procMount": "Unmasked"}),
                      'procMount (container "c" must not set securityContext.procMount to '
                      '"Unmasked")'),
        "seccomp": (pod("seccomp", {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
                    'seccompProfile (pod must not set securityContext.seccompProfile.type to '
                    '"Unconfined")'),
        "apparmor": (pod("apparmor", securityContext={"appArmorProfile": {"type": "Unconfined"}}),
                     'forbidden AppArmor profile (container "c" must not set AppArmor profile '
                     'type to "Unconfined")'),
        "selinux": (pod("selinux", securityContext={"seLinuxOptions": {"user": "root"}}),
                    'seLinuxOptions (container "c" set forbidden securityContext.seLinuxOptions: '
                    "user may not be set)"),
        "probehost": (pod("probehost", livenessProbe={"httpGet": {"host": "169.254.169.254",
                                                                  "port": 80, "path": "/"}}),
                      'probe or lifecycle host (container "c" uses probe or lifecycle host '
                      '"169.254.169.254")'),
    }  # fmt: skip
    for name, (body, detail) in cases.items():
        r = create(api, ns, body, 403)
        status = r.json()
        assert status["reason"] == "Forbidden", status
        assert status["message"] == (
            f'pods "{name}" is forbidden: violates PodSecurity "baseline:latest": {detail}'
        )
    ok = pod("ok", {"volumes": [{"name": "e", "emptyDir": {}}]},
             securityContext={"capabilities": {"add": ["CHOWN"]}})  # fmt: skip
    create(api, ns, ok)
    # labels and annotations never make a running pod violate; an image change is re-checked
    path = f"/api/v1/namespaces/{ns}/pods/ok"
    r = api.patch(path, {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json")
    assert r.status_code == 200, r.text


def test_restricted_and_its_pinned_versions(api: Api) -> None:
    ns = namespace(api, enforce="restricted")
    r = create(api, ns, pod("plain"), 403)
    assert r.json()["message"] == f'pods "plain" is forbidden: {RESTRICTED_MESSAGE}'
    compliant = pod(
        "compliant",
        {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}},
        securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    )
    create(api, ns, compliant)
    # v1.33 predates the probe host check (v1.34); latest has it
    old = namespace(api, enforce="baseline", enforce_version="v1.33")
    probe = {"tcpSocket": {"host": "10.0.0.1", "port": 80}}
    create(api, old, pod("probe", readinessProbe=probe))
    create(api, namespace(api, enforce="baseline"), pod("probe", readinessProbe=probe), 403)


def test_warn_and_workload_templates_get_warning_headers(api: Api) -> None:
    ns = namespace(api, warn="restricted")
    r = create(api, ns, pod("warned"))
    assert warnings(r) == ["would violate" + RESTRICTED_MESSAGE.removeprefix("violates")]
    enforced = namespace(api, enforce="baseline")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                           "template": {"metadata": {"labels": {"app": "d"}},
                                        "spec": {**pod("x", HOST_PATH)["spec"]}}}}  # fmt: skip
    r = api.post(f"/apis/apps/v1/namespaces/{enforced}/deployments", deployment)
    assert r.status_code == 201, r.text  # templates are warned about, their pods refused
    assert warnings(r) == [
        'would violate PodSecurity "baseline:latest": hostPath volumes (volume "h")'
    ]


def test_namespace_labels_are_validated_and_a_stricter_level_reports_existing_pods(
    api: Api,
) -> None:
    r = api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": f"psa-{uuid.uuid4().hex[:8]}", "labels": {PSA + "enforce": "strict"}}})  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"] == [{
        "reason": "FieldValueInvalid",
        "message": 'Invalid value: "strict": must be one of privileged, baseline, restricted',
        "field": f"metadata.labels[{PSA}enforce]",
    }]  # fmt: skip
    ns = namespace(api)
    create(api, ns, pod("h1", HOST_PATH))
    create(api, ns, pod("h2", HOST_PATH))
    assert len(api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]) == 2  # cache caught up
    body = {"metadata": {"labels": {PSA + "enforce": "baseline"}}}
    r = api.patch(f"/api/v1/namespaces/{ns}", body, "application/merge-patch+json")
    assert r.status_code == 200, r.text
    assert warnings(r) == [
        f'existing pods in namespace "{ns}" violate the new PodSecurity enforce level '
        f'"baseline:latest"',
        "h1 (and 1 other pod): hostPath volumes",
    ]


def test_privileged_is_disallowed_by_cluster_policy_in_any_namespace(api: Api, ns: str) -> None:
    r = create(api, ns, pod("priv", securityContext={"privileged": True}), 422)
    assert r.json()["details"]["causes"][0] == {
        "reason": "FieldValueForbidden",
        "message": "Forbidden: disallowed by cluster policy",
        "field": "spec.containers[0].securityContext.privileged",
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (pod("p", {"volumes": [{"name": "v", "configMap": {"name": "cm", "items": [
            {"key": "k", "path": "../../etc/cron.d/x"}]}}]}),
         "spec.volumes[0].configMap.items[0].path", "must not contain '..'"),
        (pod("p", {"volumes": [{"name": "v", "configMap": {"name": "cm", "items": [
            {"key": "k", "path": "/etc/passwd"}]}}]}),
         "spec.volumes[0].configMap.items[0].path", "must be a relative path"),
        (pod("p", {"volumes": [{"name": "v", "emptyDir": {}}]},
             volumeMounts=[{"name": "v", "mountPath": "/v", "subPath": "../../.."}]),
         "spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"),
        (pod("p", {"volumes": [{"name": "v", "emptyDir": {}}]},
             volumeMounts=[{"name": "v", "mountPath": "/v", "subPathExpr": "/$(HOME)"}]),
         "spec.containers[0].volumeMounts[0].subPathExpr", "must be a relative path"),
        (pod("p", securityContext={"runAsUser": -1}),
         "spec.containers[0].securityContext.runAsUser", "must be between 0 and 2147483647"),
        (pod("p", {"securityContext": {"seccompProfile": {"type": "Localhost"}}}),
         "spec.securityContext.seccompProfile.localhostProfile", "Required value"),
    ],
)  # fmt: skip
def test_paths_and_ids_are_validated(
    api: Api, ns: str, body: dict[str, Any], field: str, message: str
) -> None:
    r = create(api, ns, body, 422)
    causes = r.json()["details"]["causes"]
    assert any(c["field"] == field and message in c["message"] for c in causes), causes


@pytest.mark.parametrize(
    ("ip", "detail"),
    [("127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
     ("169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)")],
)  # fmt: skip
def test_endpoints_may_not_point_at_the_node(api: Api, ns: str, ip: str, detail: str) -> None:
    body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"port": 80}]}]}  # fmt: skip
    r = api.post(f"/api/v1/namespaces/{ns}/endpoints", body)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["causes"][0]["message"] == f'Invalid value: "{ip}": {detail}'
