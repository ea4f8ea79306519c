#!/usr/bin/env bash
# The main job: the mocked validation run against the bundled orchestrator, in Docker,
# writing an evidence bundle under docs/evidence/, then verifying that bundle.
#   bash scripts/validate.sh [pytest args...]
source "$(dirname "$0")/lib.sh"
cd "$REPO"
ensure_venv
ensure_images
step "pytest --codex-mode=mocked"
status=0
pytest --codex-mode=mocked "$@" || status=$?
bundle=$(find docs/evidence -mindepth 2 -maxdepth 2 -type d -name mocked | sort | tail -n 1)
if [ -z "$bundle" ]; then
    echo "validate: no evidence bundle was written under docs/evidence/" >&2
    exit 1
fi
step "codex-evidence verify $bundle"
codex-evidence verify "$bundle" || status=$?
printf '\nevidence bundle: %s\n' "$REPO/$bundle"
exit "$status"
