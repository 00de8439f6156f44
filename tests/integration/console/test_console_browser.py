"""The operator console in a real headless Chromium against a real daemon and HTTP server.

A project with two pipelines runs in-process (``Runtime.background``): ``orders`` (files →
checks → Delta, bad rows to a dead-letter table) and ``fragile``, whose transform fails while a
flag file exists. The browser must show the list with sparklines, the failed pipeline with its
failing node marked and the error's step/node/file:line, the batch history and stories — every
number matching the API — and the recovery after Retry (with its confirmation). Screenshots are
kept in build/test-artifacts/console/ and checked (decoded, sized, the failed node drawn red).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from odibi_stream.api import Runtime
from tests.conftest import land, write_project
from tests.integration.console.artifacts import artifact_dir, check_png, dominant_reddish
from tests.integration.server.chromium import WAIT_S, make_driver

pytestmark = pytest.mark.slow

ODIBI = """\
project: console
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
server: {port: 0}
runtime: {lease_ttl_seconds: 5}
"""

ORDERS = """\
pipeline: orders
trigger: {file_watch: {debounce_ms: 5}}
on_error: dead_letter
dead_letter: {connection: local, path: dlq, format: delta}
nodes:
  - name: raw
    read: {connection: local, format: csv, path: landing/orders/*.csv, incremental: {mode: files, settle_seconds: 0}}
    checks: [{name: positive, expr: "amount >= 0"}]
  - name: lake
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/orders}
"""

FRAGILE = """\
pipeline: fragile
max_attempts: 1
trigger: {file_watch: {debounce_ms: 5}}
nodes:
  - name: src
    read: {connection: local, format: csv, path: landing/fragile/*.csv, incremental: {mode: files, settle_seconds: 0}}
  - name: clean
    depends_on: [src]
    transform: {function: console_fns.flaky, params: {flag: FLAG}}
  - name: out
    depends_on: [clean]
    write: {connection: local, format: delta, path: lake/fragile}
"""

FUNCTIONS = '''
import os

import pandas as pd


def flaky(df: pd.DataFrame, flag: str) -> pd.DataFrame:
    if os.path.exists(flag):
        raise ValueError("upstream looks wrong: flag file present")
    return df
'''


def api(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as resp:
        return json.loads(resp.read())


def wait(driver: webdriver.Chrome, predicate: Callable[[], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT_S * 2, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(lambda _d: predicate(), what)


def poll(predicate: Callable[[], Any], what: str, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling the HTTP API with a deadline: there is no event to wait on


def texts(driver: webdriver.Chrome, css: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def confirm(driver: webdriver.Chrome, expected: str) -> None:
    dialog = driver.find_element(By.ID, "confirm")
    wait(driver, dialog.is_displayed, "confirmation dialog shown")
    assert expected in driver.find_element(By.ID, "confirm-text").text
    driver.find_element(By.ID, "confirm-ok").click()
    wait(driver, lambda: not dialog.is_displayed(), "dialog closed")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    profile = tmp_path / "profile"
    profile.mkdir()
    driver = make_driver(profile)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Runtime, Path]]:
    root = tmp_path / "proj"
    flag = root / "fail.flag"
    write_project(root, {"orders": ORDERS, "fragile": FRAGILE.replace("FLAG", str(flag))},
                  odibi_yaml=ODIBI, files={"console_fns.py": FUNCTIONS})
    flag.write_text("fail")
    for name in ("orders", "fragile"):
        (root / "data" / "landing" / name).mkdir(parents=True, exist_ok=True)
    runtime = Runtime.from_project(root, port=0)
    with runtime.background() as running:
        yield running, root


def test_console_list_failure_stories_and_recovery(browser: webdriver.Chrome, live: tuple[Runtime, Path]) -> None:
    runtime, root = live
    url = str(runtime.url).rstrip("/")
    shots = artifact_dir("console")
    landing = root / "data" / "landing"
    for i in range(3):
        land(landing / "orders", f"o{i}.csv", "id,amount\n" + "".join(f"{i * 10 + j},{j - 1}\n" for j in range(5)))
        poll(lambda i=i: (api(url, "/api/pipelines/orders").get("last_batch") or {}).get("batch") == i,
             f"orders batch {i} committed")
    land(landing / "fragile", "f0.csv", "id\n1\n2\n")
    poll(lambda: api(url, "/api/pipelines/fragile")["state"] == "failed", "fragile failed")
    poll(lambda: api(url, "/api/pipelines/fragile/batches")["batches"], "failed story written")
    poll(lambda: len(api(url, "/api/pipelines/orders/batches")["batches"]) == 3, "orders stories written")

    # ---- the list: states, numbers and sparklines as the API says
    browser.get(url + "/")
    rows_css = "#pipelines tbody tr"
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, rows_css)) == 2, "two pipeline rows")
    orders_api = api(url, "/api/pipelines/orders")
    history = api(url, "/api/pipelines/orders/batches?limit=60")["batches"]
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-pipeline="orders"]')
    wait(browser, lambda: row.find_element(By.CSS_SELECTOR, "td.c-batch").text == f"#{orders_api['last_batch']['batch']}",
         "orders last batch")
    lb = orders_api["last_batch"]
    assert row.find_element(By.CSS_SELECTOR, "td.c-rows").text == f"{lb['rows_in']} / {lb['rows_out']}"
    expected = [b["rows_per_second"] or 0 for b in reversed(history) if b["status"] == "committed"]

    def sparkline() -> list[float]:  # found afresh: a sparkline is redrawn when its history changes
        found = row.find_element(By.CSS_SELECTOR, 'svg.spark[data-series="throughput"]')
        return list(json.loads(found.get_attribute("data-values") or "[]"))

    wait(browser, lambda: sparkline() == expected, "throughput sparkline")
    frag_row = browser.find_element(By.CSS_SELECTOR, 'tr[data-pipeline="fragile"]')
    assert frag_row.find_element(By.CSS_SELECTOR, "td.c-state").text == "failed"
    assert "ValueError" in frag_row.find_element(By.CSS_SELECTOR, "td.c-error").text
    check_png(browser.get_screenshot_as_png(), 1000, 600)
    browser.save_screenshot(str(shots / "1-list.png"))

    # ---- the failed pipeline: error with step/node/file:line, failing node marked, history, story
    frag_row.find_element(By.CSS_SELECTOR, "td.c-name a").click()
    wait(browser, lambda: browser.find_element(By.ID, "p-name").text == "fragile", "pipeline page")
    frag_batches = api(url, "/api/pipelines/fragile/batches")["batches"]
    failed = frag_batches[0]
    assert failed["status"] == "failed" and failed["error_node"] == "clean" and failed["error_step"] == "execute"
    error_box = browser.find_element(By.ID, "p-error")
    wait(browser, lambda: "node clean" in error_box.text, "error box names the node")
    assert "step execute" in error_box.text
    assert failed["error_where"] and failed["error_where"] in error_box.text  # pipelines/fragile.yaml:N
    node = browser.find_element(By.CSS_SELECTOR, '#p-dag g.node[data-node="clean"]')
    assert node.get_attribute("data-failed") == "true"
    assert browser.find_elements(By.CSS_SELECTOR, "#p-dag g.node[data-failed]") == [node]
    assert dominant_reddish(check_png(node.screenshot_as_png, 100, 20)), "the failed node is drawn red"
    ok_node = browser.find_element(By.CSS_SELECTOR, '#p-dag g.node[data-node="src"]')
    assert not dominant_reddish(check_png(ok_node.screenshot_as_png, 100, 20))
    first = browser.find_element(By.CSS_SELECTOR, "#batches tbody tr")
    assert (first.get_attribute("data-batch"), first.get_attribute("data-status")) == (str(failed["batch"]), "failed")
    browser.save_screenshot(str(shots / "2-failed.png"))

    browser.find_element(By.CSS_SELECTOR, f'a[data-story="{failed["batch"]}"]').click()
    story_error = wait(browser, lambda: browser.find_elements(By.ID, "story-error"), "failed story shown")[0]
    story = api(url, f"/api/pipelines/fragile/batches/{failed['batch']}")
    assert story["error"]["message"] in story_error.text and story["error"]["where"] in story_error.text
    assert "src" in browser.find_element(By.ID, "story").text  # its planned input

    # ---- recovery: remove the cause, Retry (confirmed), the page follows
    (root / "fail.flag").unlink()
    browser.find_element(By.CSS_SELECTOR, '#p-actions button[data-action="retry"]').click()
    confirm(browser, "Retry the failed batch of fragile")
    poll(lambda: api(url, "/api/pipelines/fragile")["state"] == "idle"
         and api(url, "/api/pipelines/fragile/batches")["batches"][0]["status"] == "committed", "fragile recovered")
    wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#batches tbody tr").get_attribute("data-status")
         == "committed", "recovered batch listed")
    wait(browser, lambda: not browser.find_element(By.ID, "p-error").is_displayed(), "error cleared")
    assert browser.find_elements(By.CSS_SELECTOR, "#p-dag g.node[data-failed]") == []
    # A worker checks once more for data after a commit (briefly "running"): wait for the refresh.
    wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, "#p-state").text == "idle", "idle shown")
    recovered = api(url, "/api/pipelines/fragile/batches")["batches"]
    listed = [e.get_attribute("data-batch") for e in browser.find_elements(By.CSS_SELECTOR, "#batches tbody tr")]
    assert listed == [str(b["batch"]) for b in recovered]
    browser.save_screenshot(str(shots / "3-recovered.png"))

    # ---- a healthy pipeline: charts, outputs, dead letters match the API and its stories
    browser.find_element(By.ID, "home").click()
    wait(browser, lambda: browser.find_element(By.ID, "list-view").is_displayed(), "back to the list")
    browser.find_element(By.CSS_SELECTOR, 'tr[data-pipeline="orders"] td.c-name a').click()
    wait(browser, lambda: browser.find_element(By.ID, "p-name").text == "orders", "orders page")
    bars = wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, '[data-chart="duration_ms"] rect.bar'), "bars")
    assert [(b.get_attribute("data-batch"), float(b.get_attribute("data-value") or 0)) for b in bars] == [
        (str(b["batch"]), b["duration_ms"]) for b in reversed(history)
    ]
    newest = api(url, f"/api/pipelines/orders/batches/{history[0]['batch']}")
    out_row = wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, '#outputs tr[data-node="lake"]'), "outputs")[0]
    cells = [c.text for c in out_row.find_elements(By.TAG_NAME, "td")]
    assert cells == ["lake", "delta", newest["outputs"][0]["location"], str(newest["outputs"][0]["sink"]["version"])]
    assert newest["outputs"][0]["location"] == str((root / "data" / "lake" / "orders").resolve())
    dl = browser.find_element(By.CSS_SELECTOR, '#deadletters tr[data-node="raw"]')
    assert dl.find_elements(By.TAG_NAME, "td")[1].text == str(newest["dead_letters"]["by_node"]["raw"]) == "1"
    total_dead = sum(b["dead_letters"] for b in history)
    assert browser.find_element(By.CSS_SELECTOR, "#s-dead .v").text == str(total_dead) == "3"
    browser.find_element(By.CSS_SELECTOR, f'a[data-story="{history[0]["batch"]}"]').click()
    story_box = wait(browser, lambda: [e for e in browser.find_elements(By.ID, "story") if e.is_displayed()], "story")[0]
    assert "amount" in story_box.text and "check 'positive' failed" in story_box.text  # the rejected sample
    browser.save_screenshot(str(shots / "4-orders.png"))
    for name in ("1-list.png", "2-failed.png", "3-recovered.png", "4-orders.png"):
        check_png((shots / name).read_bytes(), 1000, 600)
