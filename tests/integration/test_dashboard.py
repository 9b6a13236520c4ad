"""The dashboard in a real headless Chromium, against a real apiserver (`--authorization-mode
=RBAC`, tokens, the audit webhook pointed at the dashboard) with kubectl as the other client.

Sign-in by a one-time code (the code is spent, the session is an HttpOnly SameSite=Strict
cookie); a pod created with kubectl appears live; scaling from the page changes the
Deployment; a user bound only to `view` sees the apiserver's 403; the architecture view shows
the kubectl -> apiserver request and the apiserver -> scheduler delivery of a new pod; the
page reconnects after an apiserver restart; no credential ever appears in a URL. Screenshots
of each page are written under $MINIK8S_TEST_ARTEFACTS (default: a temp dir)/dashboard.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from selenium.webdriver.common.keys import Keys

from minik8s.client.kubeconfig import kubeconfig_document
from minik8s.dashboard import grants
from tests.support.browser import artefact_dir, chromium, requested_urls
from tests.support.controllers import ControllerManager
from tests.support.dashboard import DashboardProcess
from tests.support.processes import Apiserver, Etcd, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

NS = "dash"
VIEW_TOKEN = secrets.token_hex(16)
POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
        {"level": "Metadata"},
    ],
}
UI_WAIT = 30.0
"""Deadline of a page condition (the machine is shared and loaded; the figure is the bench's)."""


@dataclass
class Setup:
    server: Apiserver
    dashboard: DashboardProcess
    kubeconfig: Path
    work: Path

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    def login_url(self, token: str) -> str:
        code = grants.mint(self.dashboard.grant_dir, grants.Credential(token=token))
        return f"{self.dashboard.url}/login?code={code}"


def _webhook_kubeconfig(path: Path, url: str, token: str) -> Path:
    path.write_text(yaml.safe_dump(kubeconfig_document(url, None, "apiserver", {"token": token})))
    return path


@pytest.fixture(scope="module")
def setup(etcd_server: Etcd) -> Iterator[Setup]:
    work = temp_dir("minik8s-dashboard-")
    port, audit_token = free_port(), secrets.token_urlsafe(24)
    (work / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    hook = _webhook_kubeconfig(
        work / "hook.conf", f"http://127.0.0.1:{port}/audit/webhook", audit_token
    )
    server = Apiserver(
        etcd_server.url,
        work / "apiserver",
        token=secrets.token_hex(16),
        extra_tokens={VIEW_TOKEN: "viewer"},
        extra_args=[
            "--authorization-mode=RBAC",
            f"--audit-policy-file={work / 'policy.yaml'}",
            f"--audit-webhook-config-file={hook}",
            "--audit-webhook-batch-max-wait=100ms",
            "--audit-webhook-batch-throttle-enable=false",
            "--audit-webhook-initial-backoff=200ms",
        ],
    )
    server.start()
    kubeconfig = server.write_kubeconfig(work / "admin.conf")
    # the dashboard's own kubeconfig: where the apiserver is, and its CA; no user at all
    assert server.ca_file is not None
    own = work / "dashboard.conf"
    own.write_text(
        yaml.safe_dump(kubeconfig_document(server.url, server.ca_file.read_bytes(), "none", {}))
    )
    manager = ControllerManager(
        kubeconfig,
        work / "controller-manager.log",
        extra_args=["--leader-elect=false", "--controllers=clusterrole-aggregation"],
    )
    dashboard = DashboardProcess(own, work / "dashboard", audit_token=audit_token, port=port)
    setup = Setup(server, dashboard, kubeconfig, work)
    try:
        manager.start()
        dashboard.start()
        setup.kubectl("create", "namespace", NS)
        setup.kubectl(
            "create", "rolebinding", "viewer", "--clusterrole=view", "--user=viewer", "-n", NS
        )
        wait_for(
            lambda: (
                setup.kubectl(
                    "auth", "can-i", "list", "deployments", "-n", NS, "--as=viewer", check=False
                ).stdout.strip()
                == "yes"
            ),
            "the aggregated view role to let viewer list deployments",
            timeout=30,
        )
        yield setup
    finally:
        dashboard.stop()
        manager.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(setup: Setup) -> Iterator[Any]:
    with chromium() as driver:
        driver.get(setup.login_url(setup.server.token or ""))
        wait_for(
            lambda: "signed in as admin" in driver.find_element("id", "who").text,
            "the page to say who is signed in",
            timeout=UI_WAIT,
        )
        yield driver


def shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(artefact_dir("dashboard") / f"{name}.png"))


def open_page(driver: Any, url: str, ready_css: str) -> None:
    driver.get(url)
    wait_for(
        lambda: driver.find_elements("css selector", ready_css),
        f"{url}: {ready_css}",
        timeout=UI_WAIT,
    )


def row(driver: Any, table: str, name: str) -> list[Any]:
    return driver.find_elements(
        "css selector", f'table[data-resource="{table}"] tr[data-name="{name}"]'
    )


def test_a_one_time_code_signs_in_once_and_leaves_only_a_cookie(setup: Setup, browser: Any) -> None:
    assert "code=" not in browser.current_url and browser.current_url.endswith("/")
    cookie = {c["name"]: c for c in browser.get_cookies()}["minik8s-dashboard-session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # not readable by scripts
    url = setup.login_url(setup.server.token or "")
    first = httpx.get(url, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    again = httpx.get(url, follow_redirects=False)
    assert again.status_code == 401 and "unknown, used or expired" in again.text
    unsigned = httpx.get(f"{setup.dashboard.url}/api/watch?r=pods", follow_redirects=False)
    assert unsigned.status_code == 401
    # a write with the cookie but without the page's CSRF token (a cross-site form) is refused
    jar = {"minik8s-dashboard-session": cookie["value"]}
    forged = httpx.post(
        f"{setup.dashboard.url}/api/scale/deployments/{NS}/web", cookies=jar, json={"replicas": 0}
    )
    assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
    shot(browser, "overview")


def test_without_a_metrics_api_node_usage_is_unavailable_not_an_error(
    setup: Setup, browser: Any
) -> None:
    open_page(browser, f"{setup.dashboard.url}/overview", "#usage-note")
    wait_for(
        lambda: "usage unavailable" in browser.find_element("id", "usage-note").text,
        "the overview to say usage is unavailable (this apiserver has no metrics.k8s.io)",
        timeout=UI_WAIT,
    )
    assert "Metrics API not available" in browser.find_element("id", "usage-note").text
    assert not browser.find_element("id", "usage").is_displayed()
    shown = [e.text for e in browser.find_elements("css selector", ".error") if e.is_displayed()]
    assert not shown, shown


def test_a_pod_created_with_kubectl_appears_live(setup: Setup, browser: Any) -> None:
    open_page(browser, f"{setup.dashboard.url}/pods", 'table[data-resource="pods"] thead th')
    setup.kubectl("run", "live-pod", "--image=nginx", "-n", NS)
    created = time.monotonic()
    wait_for(lambda: row(browser, "pods", "live-pod"), "the new pod's row", timeout=UI_WAIT)
    print(f"pod row shown {time.monotonic() - created:.2f}s after kubectl returned")
    assert "Pending" in row(browser, "pods", "live-pod")[0].text
    shot(browser, "pods")
    setup.kubectl("delete", "pod", "live-pod", "-n", NS, "--wait=false")
    wait_for(
        lambda: not row(browser, "pods", "live-pod"), "the deleted pod's row to go", timeout=UI_WAIT
    )


def test_scaling_a_deployment_from_the_page(setup: Setup, browser: Any) -> None:
    setup.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=1", "-n", NS)
    open_page(browser, f"{setup.dashboard.url}/object?r=deployments&ns={NS}&name=web", "#scale")
    replicas = browser.find_element("id", "replicas")
    replicas.clear()
    replicas.send_keys("3")
    browser.find_element("id", "scale").click()
    wait_for(
        lambda: (
            setup.kubectl(
                "get", "deploy", "web", "-n", NS, "-o", "jsonpath={.spec.replicas}"
            ).stdout
            == "3"
        ),
        "the Deployment's spec.replicas to be 3",
        timeout=UI_WAIT,
    )
    assert "Scaled to 3" in browser.find_element("id", "action-result").text
    shot(browser, "deployment")


def test_rollout_undo_from_the_page_without_history_shows_the_404(
    setup: Setup, browser: Any
) -> None:
    open_page(browser, f"{setup.dashboard.url}/object?r=deployments&ns={NS}&name=web", "#undo")
    browser.find_element("id", "undo").click()
    wait_for(
        lambda: "no rollout history found" in browser.find_element("id", "action-result").text,
        "the refusal of an undo with no ReplicaSet (no controller-manager runs here)",
        timeout=UI_WAIT,
    )


def test_a_view_only_user_sees_the_apiservers_403(setup: Setup) -> None:
    # a Deployment of its own: the test runs alone as well as after the scaling one
    setup.kubectl("create", "deployment", "viewed", "--image=nginx", "--replicas=2", "-n", NS)
    with chromium() as viewer:
        viewer.get(f"{setup.dashboard.url}/login")
        viewer.find_element("id", "token").send_keys(VIEW_TOKEN)
        viewer.find_element("css selector", "form button").click()
        wait_for(
            lambda: "signed in as viewer" in _who(viewer),
            "the viewer to be signed in",
            timeout=UI_WAIT,
        )
        open_page(
            viewer, f"{setup.dashboard.url}/object?r=deployments&ns={NS}&name=viewed", "#scale"
        )
        viewer.find_element("id", "scale").click()
        result = wait_for(
            lambda: viewer.find_element("id", "action-result").text,
            "the scale answer",
            timeout=UI_WAIT,
        )
        assert result.startswith("403 Forbidden")
        assert 'User "viewer" cannot patch resource "deployments/scale"' in result
        shot(viewer, "forbidden-scale")
        urls = requested_urls(viewer)
        assert urls and not [u for u in urls if VIEW_TOKEN in u], "a token appeared in a URL"
        assert VIEW_TOKEN not in viewer.page_source
        assert viewer.execute_script("return JSON.stringify(localStorage)") == "{}"
    assert (
        setup.kubectl("get", "deploy", "viewed", "-n", NS, "-o", "jsonpath={.spec.replicas}").stdout
        == "2"
    )


def _who(driver: Any) -> str:
    found = driver.find_elements("id", "who")
    if not found:
        raise AssertionError(driver.find_element("tag name", "body").text[:300])
    return str(found[0].text)


def _log_line(driver: Any, arrow: str, text: str) -> bool:
    lines = driver.find_elements("css selector", f'#flowlog li[data-arrow="{arrow}"]')
    return any(text in line.text for line in lines)


def test_the_architecture_view_shows_a_pods_creation(setup: Setup, browser: Any) -> None:
    open_page(browser, f"{setup.dashboard.url}/architecture", "svg g[data-box='apiserver']")
    wait_for(
        lambda: (
            "audit webhook" in browser.find_element("css selector", ".actions [role=status]").text
        ),
        "the flow stream to start with the audit log",
        timeout=UI_WAIT,
    )
    browser.find_element("id", "follow-pod").send_keys(f"{NS}/arch-pod")
    browser.find_element("id", "follow").click()
    setup.kubectl("run", "arch-pod", "--image=nginx", "-n", NS)
    wait_for(
        lambda: _log_line(browser, "kubectl->apiserver", f"create pods {NS}/arch-pod → 201"),
        "a kubectl -> apiserver step for the pod's creation",
        timeout=UI_WAIT,
    )
    wait_for(
        lambda: _log_line(browser, "apiserver->scheduler", f"pods {NS}/arch-pod"),
        "an apiserver -> scheduler watch delivery of the new pod",
        timeout=UI_WAIT,
    )
    counts = {
        r.get_attribute("data-arrow")
        for r in browser.find_elements("css selector", "#traffic tr[data-arrow]")
    }
    assert {"kubectl->apiserver", "apiserver->etcd", "apiserver->scheduler"} <= counts
    steps = wait_for(
        lambda: [
            li.get_attribute("data-key")
            for li in browser.find_elements("css selector", "#podflow li")
        ],
        "the followed pod's first steps",
        timeout=UI_WAIT,
    )
    assert steps[:2] == ["accepted", "stored"]
    shot(browser, "architecture")


def test_the_page_resumes_after_an_apiserver_restart(setup: Setup, browser: Any) -> None:
    open_page(browser, f"{setup.dashboard.url}/pods", 'table[data-resource="pods"] thead th')
    setup.server.stop()
    wait_for(
        lambda: "reconnecting" in browser.find_element("id", "conn").text,
        "the page to say it is reconnecting",
        timeout=UI_WAIT,
    )
    setup.server.start()
    setup.kubectl("run", "after-restart", "--image=nginx", "-n", NS)
    wait_for(
        lambda: row(browser, "pods", "after-restart"),
        "a pod created after the restart",
        timeout=UI_WAIT,
    )
    assert "live" in browser.find_element("id", "conn").text


def test_pages_at_phone_width_and_no_credential_in_any_url(setup: Setup, browser: Any) -> None:
    for page in ("workloads", "services", "config", "events", "namespaces", "nodes"):
        open_page(browser, f"{setup.dashboard.url}/{page}", "main h1")
        shot(browser, page)
    # keyboard: the first Tab reaches the skip link, and every table header sorts as a button
    browser.find_element("tag name", "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("class") == "skip"
    assert browser.find_elements("css selector", "th button.sort")
    browser.set_window_size(390, 844)
    try:
        open_page(browser, f"{setup.dashboard.url}/pods", 'table[data-resource="pods"] thead th')
        menu = browser.find_element("id", "menu")
        assert menu.is_displayed()
        menu.click()
        assert browser.find_element("id", "nav").is_displayed()
        shot(browser, "pods-phone")
    finally:
        browser.set_window_size(1280, 800)
    token = setup.server.token or ""
    leaked = [
        u for u in requested_urls(browser) if token in u or ("code=" in u and "/login" not in u)
    ]
    assert not leaked, f"credentials in URLs: {leaked}"
