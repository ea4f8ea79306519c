#!/usr/bin/env bash
# Fill .cache/wheelhouse/ on the host with the wheels the images install, so image
# builds need no network (containers here reach no package index). Reuses what is there.
#   service/fill-wheelhouse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/wheelhouse
mkdir -p "$dest"
stamp="$dest/.requirements.sha256"
want=$(sha256sum service/requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "wheelhouse: downloading wheels for service/requirements.txt" >&2
# The images run CPython 3.11 on x86_64/aarch64 glibc, like this host.
python3 -m pip download -q --only-binary=:all: --dest "$dest" -r service/requirements.txt \
    2> >(grep -v "is ignored: it is neither" >&2)
echo "$want" > "$stamp"
