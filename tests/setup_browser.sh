#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/test_browser.py).
# Idempotent: does nothing when /usr/bin/chromium is already there.
# Needs root (or sudo) and access to the Debian package mirror.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "setup_browser: /usr/bin/chromium present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup_browser: need root to apt-get install chromium" >&2; exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version 2>/dev/null || true
