"""The dashboard of `minik8s up --nodes 1` in a real headless Chromium: `minik8s dashboard
--url` signs in once; "follow one pod" lists the seed flow's steps in order as a real kubelet
starts the pod; its log streams; an exec command's output shows in the terminal. Screenshots
go under $MINIK8S_TEST_ARTEFACTS (default: a temp dir)/dashboard-e2e."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.browser import artefact_dir, chromium
from tests.support.dashboard import require_frontend
from tests.support.launcher import Launcher, launched
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

UI_WAIT = 60.0
"""Deadline of a page condition that waits on a real container (a loaded shared machine)."""
POD = "dash-logger"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    require_frontend()
    with launched(tmp_path_factory.mktemp("dashboard-home"), "--nodes", "1") as launcher:
        yield launcher


@pytest.fixture(scope="module")
def browser(cluster: Launcher) -> Iterator[Any]:
    link = cluster.run("dashboard", "--url")
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip()
    assert "/login?code=" in url
    with chromium() as driver:
        driver.get(url)
        wait_for(
            lambda: "signed in as kubernetes-admin" in driver.find_element("id", "who").text,
            "the one-time link to sign the admin in",
            timeout=UI_WAIT,
        )
        assert "code=" not in driver.current_url
        again = cluster.run("dashboard", "--url")  # a new code each time; the old one is spent
        assert again.stdout.strip() != url
        yield driver


def origin(driver: Any) -> str:
    parts = urlsplit(driver.current_url)
    return f"{parts.scheme}://{parts.netloc}"


def shot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(artefact_dir("dashboard-e2e") / f"{name}.png"))


def _steps(driver: Any) -> list[str]:
    return [
        li.get_attribute("data-key") for li in driver.find_elements("css selector", "#podflow li")
    ]


def test_follow_one_pod_lists_the_seed_flow_in_order(cluster: Launcher, browser: Any) -> None:
    base = origin(browser)
    browser.get(f"{base}/architecture?follow=default/{POD}")
    wait_for(
        lambda: browser.find_elements("css selector", "svg g[data-box='kubelet:node-1']"),
        "the node's box in the diagram",
        timeout=UI_WAIT,
    )
    created = cluster.kubectl(
        "run",
        POD,
        "--image=minik8s/busybox",
        "--image-pull-policy=Never",
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.5; done",
    )
    assert created.returncode == 0, created.stderr
    steps = wait_for(
        lambda: "ready" in _steps(browser) and _steps(browser),
        "the followed pod to reach Ready",
        timeout=UI_WAIT,
    )
    order = ["accepted", "stored", "scheduled", "running", "ready"]
    assert [s for s in steps if s in order] == order, steps
    events = [s for s in steps if s.startswith("event/")]
    assert events and steps.index(events[0]) > steps.index("scheduled"), steps
    text = browser.find_element("id", "podflow").text
    assert "Started" in text and "bound to node node-1" in text, text
    wait_for(
        lambda: browser.find_elements(
            "css selector", '#traffic tr[data-arrow="kubelet:node-1->runtime:node-1"]'
        ),
        "a kubelet -> runtime token (the container start)",
        timeout=UI_WAIT,
    )
    shot(browser, "architecture-follow")


def test_the_pods_log_streams_and_exec_output_shows(cluster: Launcher, browser: Any) -> None:
    base = origin(browser)
    browser.get(f"{base}/pod?ns=default&name={POD}")
    wait_for(
        lambda: "line-" in browser.find_element("id", "log").text,
        "the log's first lines",
        timeout=UI_WAIT,
    )
    first = browser.find_element("id", "log").text.count("line-")
    wait_for(
        lambda: browser.find_element("id", "log").text.count("line-") > first + 2,
        "more lines to stream in (follow)",
        timeout=UI_WAIT,
    )
    command = browser.find_element("id", "exec-command")
    command.clear()
    command.send_keys("echo dashboard-exec-ok")
    browser.find_element("id", "exec-start").click()
    wait_for(
        lambda: "dashboard-exec-ok" in browser.find_element("id", "terminal").text,
        "the exec command's output in the terminal",
        timeout=UI_WAIT,
    )
    wait_for(
        lambda: browser.find_element("id", "terminal").get_attribute("data-status") == "Success",
        "the exec's final Status",
        timeout=UI_WAIT,
    )
    shot(browser, "pod")
    cluster.kubectl("delete", "pod", POD, "--grace-period=0", "--wait=false")


def test_a_rule_sync_is_a_token_on_the_nodes_kube_proxy(cluster: Launcher, browser: Any) -> None:
    """The signal: kube-proxy bumps the count of its `SyncedProxyRules` Event on its Node after
    each rule sync; the architecture view's Events watch draws it kube-proxy -> iptables."""
    browser.get(f"{origin(browser)}/architecture")
    wait_for(
        lambda: browser.find_elements("css selector", "svg g[data-box='proxy:node-1']"),
        "the node's kube-proxy box in the diagram",
        timeout=UI_WAIT,
    )
    created = cluster.kubectl("create", "service", "clusterip", "dash-sync", "--tcp=80:80")
    assert created.returncode == 0, created.stderr
    try:
        wait_for(
            lambda: browser.find_elements(
                "css selector", '#traffic tr[data-arrow="proxy:node-1->iptables:node-1"]'
            ),
            "a kube-proxy -> iptables token on node-1 after the Service's rule sync",
            timeout=UI_WAIT,
        )
        assert "SyncedProxyRules" in browser.find_element("id", "flowlog").text
        shot(browser, "architecture-proxy-sync")
    finally:
        cluster.kubectl("delete", "service", "dash-sync", "--wait=false")


def test_the_overview_shows_node_usage_from_the_metrics_api(
    cluster: Launcher, browser: Any
) -> None:
    browser.get(f"{origin(browser)}/overview")
    cell = 'table#usage tr[data-name="node-1"] td[data-usage="cpu"][data-percent]'
    wait_for(
        lambda: browser.find_elements("css selector", cell),
        "node-1's CPU usage from metrics.k8s.io (the metrics server needs two scrapes)",
        timeout=120,
    )
    memory = browser.find_element(
        "css selector", 'table#usage tr[data-name="node-1"] td[data-usage="memory"]'
    ).text
    assert "% of" not in memory and "allocatable" in memory and "%" in memory, memory
    shot(browser, "overview-usage")
