#!/usr/bin/env bash
# A headless browser for the review page's tests: Debian's chromium and chromium-driver.
# Quick when both are present (no apt call); otherwise apt-get update, then install them.
#   bash scripts/ensure-browser.sh
set -euo pipefail

CHROMIUM=${CODEX_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CODEX_CHROMEDRIVER:-/usr/bin/chromedriver}

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "ensure-browser: no $CHROMIUM or $CHROMEDRIVER and no apt-get; install chromium and its driver, or set CODEX_CHROMIUM and CODEX_CHROMEDRIVER" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
printf '\n==> installing chromium and chromium-driver (Debian packages)\n' >&2
"${SUDO[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends \
    chromium chromium-driver
"$CHROMIUM" --version >&2
"$CHROMEDRIVER" --version >&2
