#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (make test-browser), unless it is already there.
# Idempotent: a second run only prints the version. The tests never download a browser:
# Playwright drives /usr/bin/chromium (see tests/browser/conftest.py).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install_chromium.sh: $CHROMIUM is missing and we are not root and have no sudo;" >&2
        echo "  install it with: apt-get install chromium" >&2
        exit 1
    fi
    echo "install_chromium.sh: installing Debian's chromium with apt-get" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

# The Debian launcher sources /etc/chromium.d/*, one of which prints a harmless shell warning
# on some hosts ("[: ...: unexpected operator"); keep only the version line.
"$CHROMIUM" --version 2>/dev/null
