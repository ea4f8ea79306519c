#!/usr/bin/env bash
# The test suite: lint, types, then every test (Docker tests included; they never skip).
#   bash scripts/test.sh [pytest args...]
source "$(dirname "$0")/lib.sh"
cd "$REPO"
ensure_venv
step "ensuring a headless browser (the review page's tests)"
bash "$REPO/scripts/ensure-browser.sh"
ensure_images --worker
step "ruff"
ruff check .
ruff format --check .
step "mypy"
mypy
step "pytest"
exec pytest "$@"
