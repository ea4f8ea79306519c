#!/usr/bin/env bash
# The main job (at this stage): bring the bundled orchestrator up in its container, run
# the seed calls once as a smoke test, and tear it down. The mocked validation run with
# its evidence bundle replaces this when the pytest plugin lands (issue 3).
#   bash scripts/validate.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO"
ensure_venv
ensure_images
step "smoke run against the orchestrator container"
exec python scripts/smoke.py
