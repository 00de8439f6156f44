"""Headless Chromium for the server tests (Debian's chromium + chromium-driver, nothing downloaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 15.0


def ensure_chromium() -> None:
    """Install Chromium with the project's script if missing; skip (with the reason) if impossible."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root + apt-get)")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-chromium.sh")],
        capture_output=True, text=True, timeout=1200, check=False,
    )
    if proc.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"chromium is not installable: {proc.stderr.strip()[-300:]}")


def make_driver(profile: Path, *extra_flags: str) -> webdriver.Chrome:
    """A headless Chromium with a fresh profile in ``profile``."""
    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--window-size=1400,900", *extra_flags,
    ):
        options.add_argument(flag)
    # An explicit driver path makes Selenium skip Selenium Manager: nothing is downloaded.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_S)
    return driver
