#!/usr/bin/env bash
# Installs Debian's Chromium for the registry's headless browser test (Playwright, CDP).
set -u
pkgs="chromium"  # Playwright drives it over CDP: no chromedriver needed
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "install_chromium: not root and no sudo; the browser test will be skipped" >&2; exit 0
fi
$SUDO apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
    || echo "install_chromium: apt-get failed; the browser test will be skipped" >&2
exit 0
