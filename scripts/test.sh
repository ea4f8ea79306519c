#!/usr/bin/env bash
# The test suite: lint, types, then every test (Docker tests included; they never skip).
#   bash scripts/test.sh [pytest args...]
# The fast tier, for the edit-test loop: lint, types, then every test that needs neither a
# Docker engine nor a browser (markers `docker` and `browser`, tests/conftest.py), on
# CODEX_FAST_WORKERS xdist workers (default 2). CI runs the whole suite (.ci/run).
#   bash scripts/test.sh --fast [pytest args...]
source "$(dirname "$0")/lib.sh"
cd "$REPO"
fast=false
if [ "${1:-}" = "--fast" ]; then
    fast=true
    shift
fi
ensure_venv
if ! $fast; then
    step "ensuring a headless browser (the review page's tests)"
    bash "$REPO/scripts/ensure-browser.sh"
    ensure_images --worker
fi
step "ruff"
ruff check .
ruff format --check .
step "mypy"
mypy
step "pytest"
if $fast; then
    exec pytest -m "not docker and not browser" -n "${CODEX_FAST_WORKERS:-2}" "$@"
fi
exec pytest "$@"
