"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, for the
dashboard's tests: never a downloaded browser; a fresh profile per browser; screenshots and
the URLs the browser asked for (Chrome's performance log) kept as test artefacts."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--disable-default-apps", "--disable-extensions",
)  # fmt: skip


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def artefact_dir(name: str) -> Path:
    """Where screenshots go: $MINIK8S_TEST_ARTEFACTS/<name>, else a temp directory."""
    base = os.environ.get("MINIK8S_TEST_ARTEFACTS")
    root = Path(base) if base else Path(tempfile.gettempdir()) / "minik8s-test-artefacts"
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def chromium(width: int = 1280, height: int = 800) -> Iterator[object]:
    """A Selenium WebDriver on headless Chromium, closed (and its profile removed) after."""
    if not available():
        pytest.skip("chromium and chromium-driver are not installed (make setup)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="minik8s-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: object) -> list[str]:
    """Every URL the browser requested since the last call (page, fetch, EventSource, WS)."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        params = message.get("params") or {}
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(params["url"])
    return urls
