#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver for the status-page browser test
# (tests/integration/server/test_status_page_browser.py): Debian's `chromium` and
# `chromium-driver` packages, through apt-get, system-wide (/usr/bin/chromium,
# /usr/bin/chromedriver). Idempotent: does nothing when both are already present. Needs root
# (CI and dev machines run as root); says what it does before doing it. Remove with
# `apt-get remove chromium chromium-driver`.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
packages="chromium chromium-driver"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: the browser test needs Debian's $packages; run as root:" >&2
  echo "  apt-get install -y $packages" >&2
  exit 1
fi
echo "install-chromium: installing Debian packages $packages (system-wide, via apt-get) for the" \
  "status-page browser test; remove them with: apt-get remove $packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $packages
echo "install-chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)" \
  "and $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2 || echo chromedriver)" >&2
