#!/usr/bin/env bash
# Fill tests/byo/wheelhouse/ on the host, so the byo image builds with no network
# (containers here reach no package index). The same approach as
# service/fill-wheelhouse.sh: refilled only when requirements.txt changes.
#   tests/byo/fill-wheelhouse.sh
set -euo pipefail
cd "$(dirname "$0")"

dest=wheelhouse
stamp="$dest/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
mkdir -p "$dest"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "wheelhouse: downloading wheels for tests/byo/requirements.txt into tests/byo/$dest" >&2
# The image runs CPython 3.11 on glibc (python:3.11-slim or the Debian bookworm base).
"${PYTHON:-python3}" -m pip download -q --only-binary=:all: --python-version 3.11 \
    --dest "$dest" -r requirements.txt 2> >(grep -v "is ignored: it is neither" >&2)
echo "$want" > "$stamp"
