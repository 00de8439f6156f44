"""Cross-origin pages in a real headless Chromium cannot steer a real daemon (issue 17, #5).

A real ``odibi-stream serve`` process runs a manual pipeline. Attack pages come from a second
local HTTP server (another port: another origin) and from a ``file://`` URL; they try a
``no-cors`` text/plain fetch, preflighted fetches and HTML form POSTs. A DNS-rebinding name is
simulated with Chromium's ``--host-resolver-rules`` (the attacker's name resolves to 127.0.0.1).
Each attack is confirmed to have *reached* the daemon (its refusal counters in ``/metrics``
grow), and the pipeline must be neither paused nor triggered. Finally the real status page,
same-origin, pauses the pipeline: the browser could act, the guards are what stopped it.
"""

from __future__ import annotations

import functools
import http.client
import re
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.server.chromium import WAIT_S, make_driver
from tests.integration.server.daemon_launch import ServeProc
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow

REBIND = "rebind.attacker.example"

FETCH_ATTACK = """<!doctype html><title>attack</title><script>
const T = "{target}";
const tries = [
  fetch(T + "/api/pipelines/m/pause", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}),
  fetch(T + "/api/pipelines/m/trigger", {{method: "POST", mode: "no-cors", body: "x"}}),
  fetch(T + "/api/pipelines/m/pause", {{method: "POST", headers: {{"X-Odibi-Request": "1"}}}}),
  fetch(T + "/api/pipelines/m/trigger", {{method: "POST",
        headers: {{"Content-Type": "application/json"}}, body: "{{}}"}}),
];
Promise.allSettled(tries).then(r => {{ document.title = "done:" + r.map(x => x.status).join(","); }});
</script>"""

FORM_ATTACK = """<!doctype html><title>attack</title>
<form id="f" method="POST" enctype="text/plain" action="{target}/api/pipelines/m/trigger" target="a">
<input name="x" value="y"></form>
<form id="g" method="POST" action="{target}/api/pipelines/m/pause" target="b"><input name="x" value="y"></form>
<iframe name="a"></iframe><iframe name="b"></iframe>
<script>
let loaded = 0;
for (const frame of document.querySelectorAll("iframe")) {{
  frame.addEventListener("load", () => {{ if (++loaded === 2) {{ document.title = "done"; }} }});
}}
document.getElementById("f").submit();
document.getElementById("g").submit();
</script>"""


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def refused(port: int, reason: str) -> int:
    _, body = get(port, "/metrics")
    found = re.search(rf'odibi_http_refused_requests_total{{reason="{reason}"}} (\d+)', body.decode())
    return int(found.group(1)) if found else 0


def pipeline(port: int) -> dict[str, Any]:
    return dict(orjson.loads(get(port, "/api/pipelines/m")[1]))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    profile = tmp_path_factory.mktemp("chromium-attack-profile")
    driver = make_driver(profile, f"--host-resolver-rules=MAP {REBIND} 127.0.0.1")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServeProc]:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("m", trigger="{manual: {}}")
    proc = ServeProc(proj.root, tmp_path / "daemon.log")
    try:
        wait_for(lambda: pipeline(proc.port)["state"] == "idle", 30, "pipeline loaded")
        yield proc
    finally:
        assert proc.stop() == 0
        assert "Traceback" not in proc.stderr()


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A second local HTTP server (another origin) serving the attack pages."""
    site = tmp_path / "attacker-site"
    site.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def wait(driver: webdriver.Chrome, predicate: Callable[[], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(lambda _d: predicate(), what)


def assert_untouched(daemon: ServeProc, batches: int) -> None:
    state = pipeline(daemon.port)
    assert state["state"] == "idle", state
    assert state["batches"] == batches, "a cross-origin trigger ran a batch"


def test_cross_origin_pages_cannot_pause_or_trigger(
    browser: webdriver.Chrome, daemon: ServeProc, attacker: tuple[Path, int], tmp_path: Path
) -> None:
    site, site_port = attacker
    target = f"http://127.0.0.1:{daemon.port}"
    batches = pipeline(daemon.port)["batches"]
    (site / "fetch.html").write_text(FETCH_ATTACK.format(target=target))
    (site / "form.html").write_text(FORM_ATTACK.format(target=target))
    local = tmp_path / "local-attack.html"
    local.write_text(FETCH_ATTACK.format(target=target))
    local_form = tmp_path / "local-form.html"
    local_form.write_text(FORM_ATTACK.format(target=target))

    pages = [
        f"http://127.0.0.1:{site_port}/fetch.html", f"http://localhost:{site_port}/form.html",
        local.as_uri(), local_form.as_uri(),
    ]
    for page in pages:
        before = refused(daemon.port, "csrf")
        browser.get(page)
        wait(browser, lambda: browser.title.startswith("done"), f"attack page {page} finished")
        assert_untouched(daemon, batches)  # every response is in: nothing was paused or run
        # the simple requests (no-cors fetch, forms) reached the daemon and were refused there;
        # the preflighted ones never left the browser
        wait_for(lambda b=before: refused(daemon.port, "csrf") >= b + 2, 10, f"refusals from {page}")  # type: ignore[misc]
        if "fetch" in page or "local-attack" in page:
            assert browser.title == "done:fulfilled,fulfilled,rejected,rejected", browser.title


def test_a_rebinding_name_gets_nothing(browser: webdriver.Chrome, daemon: ServeProc) -> None:
    batches = pipeline(daemon.port)["batches"]
    before = refused(daemon.port, "host")
    browser.get(f"http://{REBIND}:{daemon.port}/")
    assert "misdirected" in browser.find_element(By.TAG_NAME, "body").text
    assert browser.find_elements(By.CSS_SELECTOR, "#pipelines") == []
    # script running in the rebound origin is "same-origin" for the browser: the Host check
    # is what refuses it
    statuses = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all([
          fetch("/api/pipelines").then(r => r.status),
          fetch("/api/pipelines/m/pause", {method: "POST", headers: {"X-Odibi-Request": "1"}}).then(r => r.status),
          fetch("/api/pipelines/m/trigger", {method: "POST", headers: {"Content-Type": "application/json"},
                                             body: "{}"}).then(r => r.status),
        ]).then(done, e => done(String(e)));
    """)
    assert statuses == [421, 421, 421]
    assert refused(daemon.port, "host") >= before + 4
    assert_untouched(daemon, batches)


def test_the_same_origin_status_page_still_acts(browser: webdriver.Chrome, daemon: ServeProc) -> None:
    browser.get(f"http://127.0.0.1:{daemon.port}/")
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, 'tr[data-pipeline="m"]'), "pipeline row")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-pipeline="m"]')
    row.find_element(By.CSS_SELECTOR, 'button[data-action="pause"]').click()
    browser.find_element(By.ID, "confirm-ok").click()  # the console asks before acting
    wait_for(lambda: pipeline(daemon.port)["state"] == "paused", 10, "paused from the status page")
