#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver for the status-page browser test. Idempotent:
# does nothing when both are already present. Needs root (CI and dev machines run as root).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: need root to apt-get install chromium chromium-driver" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y chromium chromium-driver
