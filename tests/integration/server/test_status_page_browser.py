"""The status page in a real headless Chromium against the real control-plane server.

The daemon side is a small in-test ControlPlane (the protocol boundary); the HTTP server, the
page and the browser are real. Chromium comes from Debian (scripts/install-chromium.sh, run by
``make test``); the test skips only when it is absent and cannot be installed here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from odibi_stream.observability.metrics import Metrics
from odibi_stream.server.app import ServerHandle, start_server
from tests.integration.server.chromium import WAIT_S, make_driver

# Every character here must reach the page as text, never as markup.
XSS_NAME = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
TOKEN = "page-token-5f2c"

pytestmark = pytest.mark.slow


class FakeDaemon:
    """A thread-safe ControlPlane test double: states change when the page POSTs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.states = {"orders": "idle", "clicks": "failed", XSS_NAME: "running"}
        self.counts = {"orders": 3, "clicks": 0, XSS_NAME: 1}
        self.metrics = Metrics()

    def _describe(self, name: str) -> dict[str, Any]:
        batch = self.counts[name]
        return {
            "name": name,
            "state": self.states[name],
            "trigger": "file_watch" if name == "orders" else "cron",
            "engine": "pandas",
            "last_batch": {"batch": batch, "rows_in": 5 * batch, "rows_out": 4 * batch, "replayed": False,
                           "rejected": 0, "late": 0} if batch else None,
            "last_error": "SinkError: lake unreachable <b>bold?</b>" if name == "clicks" else None,
            "lag": {"raw": {"files": 2, "bytes": 2048}} if name == "orders" else {},
            "watermarks": {"clean": datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)} if name == "orders" else {},
            "nodes": ["raw", "clean", "lake", "rejects"] if name == "orders" else ["src", name],
            "edges": [["raw", "clean"], ["clean", "lake"], ["raw", "rejects"]] if name == "orders" else [["src", name]],
            "error": {
                "message": "cannot parse CSV file <b>x</b>", "type": "UnreadableFile", "batch": 1,
                "step": "execute", "node": "src", "where": "pipelines/x.yaml:7",
                "input": "landing/a.csv", "hint": "set on_error: dead_letter",
            } if name == XSS_NAME else None,
            "reload_error": None,
            "degraded": name == XSS_NAME,
            "batches": batch,
        }

    def pipelines(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._describe(n) for n in sorted(self.states)]

    def pipeline(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self._describe(name) if name in self.states else None

    def _act(self, action: str, name: str) -> None:
        with self.lock:
            if name not in self.states:
                raise KeyError(name)
            self.calls.append((action, name))
            if action == "pause":
                self.states[name] = "paused"
            elif action == "resume":
                self.states[name] = "idle"
            else:
                self.counts[name] += 1

    def trigger(self, name: str) -> None:
        self._act("trigger", name)

    def pause(self, name: str) -> None:
        self._act("pause", name)

    def resume(self, name: str) -> None:
        self._act("resume", name)

    def retry(self, name: str) -> None:
        self._act("retry", name)

    def skip(self, name: str) -> int:
        self._act("skip", name)
        return 0

    def batches(self, name: str, limit: int) -> list[dict[str, Any]] | None:
        with self.lock:
            if name not in self.states:
                return None
            return [{"batch": b, "status": "committed", "rows_in": 5, "rows_out": 4, "rejected": 0, "late": 0,
                     "duration_ms": 10.0 * (b + 1), "rows_per_second": 100.0 * (b + 1), "lag": b, "dead_letters": 0,
                     "finished": None, "error": None} for b in range(self.counts[name], 0, -1)][:limit]

    def batch(self, name: str, batch: int) -> dict[str, Any] | None:
        return None

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return True, {"reload_error": None}

    def metrics_text(self) -> tuple[bytes, str]:
        return self.metrics.render()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def server(daemon: FakeDaemon) -> Iterator[ServerHandle]:
    handle = start_server(daemon, "127.0.0.1", 0, None)
    yield handle
    handle.stop()


def wait_for(driver: webdriver.Chrome, predicate: Callable[[], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(lambda _d: predicate(), what)


def rows(driver: webdriver.Chrome) -> dict[str, WebElement]:
    found = driver.find_elements(By.CSS_SELECTOR, "#pipelines tbody tr")
    return {str(tr.get_attribute("data-pipeline")): tr for tr in found}


def cell(driver: webdriver.Chrome, pipeline: str, column: str) -> str:
    tr = rows(driver).get(pipeline)
    return tr.find_element(By.CSS_SELECTOR, f"td.c-{column}").text if tr is not None else ""


def click(driver: webdriver.Chrome, pipeline: str, action: str) -> None:
    """Click an action button, then confirm it in the console's dialog."""
    rows(driver)[pipeline].find_element(By.CSS_SELECTOR, f'button[data-action="{action}"]').click()
    dialog = driver.find_element(By.ID, "confirm")
    wait_for(driver, dialog.is_displayed, "confirmation dialog")
    driver.find_element(By.ID, "confirm-ok").click()
    wait_for(driver, lambda: not dialog.is_displayed(), "dialog closed")


def test_table_and_dags_render_escaped(
    browser: webdriver.Chrome, server: ServerHandle, tmp_path: Path
) -> None:
    browser.get(server.url)
    wait_for(browser, lambda: len(rows(browser)) == 3, "three pipeline rows")
    assert cell(browser, "orders", "name") == "orders"
    assert cell(browser, "orders", "state") == "idle"
    assert cell(browser, "orders", "trigger") == "file_watch"
    assert cell(browser, "orders", "batch") == "#3"
    assert cell(browser, "orders", "rows") == "15 / 12"
    assert "raw: 2 files, 2048 bytes" in cell(browser, "orders", "lag")
    assert "clean: 2024-05-01 12:00:00+00:00" in cell(browser, "orders", "watermark")
    assert cell(browser, "clicks", "state") == "failed"
    assert cell(browser, "clicks", "error") == "SinkError: lake unreachable <b>bold?</b>"
    assert cell(browser, "clicks", "batch") == "—"
    # a structured error: where (YAML line, batch, step, node), what, the input and the hint
    assert cell(browser, XSS_NAME, "error").splitlines() == [
        "pipelines/x.yaml:7 · batch 1 · step execute · node src: UnreadableFile: cannot parse CSV file <b>x</b>",
        "input: landing/a.csv",
        "hint: set on_error: dead_letter",
    ]

    # The hostile name is shown literally and nothing it contains ran or became an element.
    assert cell(browser, XSS_NAME, "name") == XSS_NAME
    assert browser.execute_script("return window.__xss === undefined") is True
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, #pipelines b") == []

    sparks = rows(browser)["orders"].find_element(By.CSS_SELECTOR, 'svg.spark[data-series="throughput"]')
    assert sparks.get_attribute("data-values") == "[200,300,400]"  # oldest first, as the history API says

    browser.get(server.url + "#/p/orders")
    wait_for(browser, lambda: browser.find_element(By.ID, "p-name").text == "orders", "pipeline page")
    dag = browser.find_element(By.CSS_SELECTOR, "figure#p-dag")
    wait_for(browser, lambda: dag.find_elements(By.CSS_SELECTOR, "g.node"), "DAG drawn")
    nodes = [g.get_attribute("data-node") for g in dag.find_elements(By.CSS_SELECTOR, "g.node")]
    edges = {p.get_attribute("data-edge") for p in dag.find_elements(By.CSS_SELECTOR, "path.edge")}
    assert sorted(nodes) == ["clean", "lake", "raw", "rejects"]
    assert edges == {"raw->clean", "clean->lake", "raw->rejects"}
    x_of = {
        g.get_attribute("data-node"): g.rect["x"] for g in dag.find_elements(By.CSS_SELECTOR, "g.node")
    }
    assert x_of["raw"] < x_of["clean"] < x_of["lake"]  # drawn left to right by topological layer

    shot = tmp_path / "status-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_buttons_post_and_the_table_follows(
    browser: webdriver.Chrome, server: ServerHandle, daemon: FakeDaemon
) -> None:
    browser.get(server.url)
    wait_for(browser, lambda: len(rows(browser)) == 3, "three pipeline rows")

    click(browser, "orders", "pause")
    wait_for(browser, lambda: cell(browser, "orders", "state") == "paused", "orders shown paused")
    assert ("pause", "orders") in daemon.calls
    assert daemon.states["orders"] == "paused"

    click(browser, "orders", "resume")
    wait_for(browser, lambda: cell(browser, "orders", "state") == "idle", "orders shown idle")

    click(browser, "orders", "trigger")
    wait_for(browser, lambda: cell(browser, "orders", "batch") == "#4", "triggered batch shown")
    assert [c for c in daemon.calls if c[1] == "orders"] == [
        ("pause", "orders"), ("resume", "orders"), ("trigger", "orders"),
    ]

    click(browser, XSS_NAME, "pause")  # the name survives URL encoding both ways
    wait_for(browser, lambda: daemon.states[XSS_NAME] == "paused", "hostile-named pipeline paused")
    assert browser.execute_script("return window.__xss === undefined") is True


def test_token_from_the_fragment_is_sent_as_bearer(
    browser: webdriver.Chrome, daemon: FakeDaemon
) -> None:
    with start_server(daemon, "127.0.0.1", 0, TOKEN) as handle:
        browser.get(handle.url)
        status = browser.find_element(By.ID, "status")
        wait_for(browser, lambda: "Unauthorized" in status.text, "unauthorized notice")
        assert rows(browser) == {}

        browser.get(handle.url + "#token=" + TOKEN)
        wait_for(browser, lambda: len(rows(browser)) == 3, "rows once the token is known")
        click(browser, "orders", "pause")
        wait_for(browser, lambda: cell(browser, "orders", "state") == "paused", "paused with token")
        assert daemon.calls == [("pause", "orders")]
