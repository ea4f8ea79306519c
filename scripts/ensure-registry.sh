#!/usr/bin/env bash
# Make sure Debian's `docker-registry` (the Docker Distribution registry, no network
# needed) is installed, for pushing images to a swarm of more than one node
# (docs/scale-out.md) and for tests/docker/test_swarm.py. Installs it as root when
# missing; it is not started here (the caller runs `docker-registry serve <config>`).
set -euo pipefail

log() { printf 'ensure-registry: %s\n' "$*" >&2; }

if command -v docker-registry >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    log "docker-registry is missing and this is not root; run: apt-get install docker-registry"
    exit 1
fi
log "installing Debian's docker-registry"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >/dev/null
command -v docker-registry >/dev/null
