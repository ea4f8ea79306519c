"""How the worker's secrets reach the Codex CLI without being in the container's
configuration, where `docker inspect` (and dockerd's config.v2.json) would show them.
Standard library only; copied into the worker image beside entrypoint.py.

The contract for OPENAI_API_KEY, OPENAI_ORG_ID and OPENAI_PROJECT, for every worker
backend (the orchestrator's container worker, a Swarm service):

- `<NAME>_FILE=<path>` (e.g. `OPENAI_API_KEY_FILE=/run/codex-secrets/OPENAI_API_KEY`):
  the value is the file's content (at most MAX_SECRET_BYTES, one trailing newline
  dropped); the path is the only thing in the configuration. A Swarm secret mounted at
  that path, or any file on a tmpfs, works.
- `CODEX_SECRETS_STDIN=1`: before anything else the entrypoint reads one JSON object
  `{"OPENAI_API_KEY": "...", ...}` from stdin until EOF (at most MAX_STDIN_BYTES, within
  STDIN_TIMEOUT_S) and writes each value, mode 0600, to its `<NAME>_FILE` (a tmpfs the
  container worker mounts at /run/codex-secrets), then reads them back as above. The
  container worker sends it through the Docker attach API and closes stdin.
- `<NAME>` itself, when set, is used as is (a worker run by hand or by the tests).

The values reach only this process's environment, which the CLI inherits.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

SECRET_NAMES = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT")
MAX_SECRET_BYTES = 16 * 1024  # one secret file, at most
MAX_STDIN_BYTES = 64 * 1024  # the secrets' JSON on stdin, at most
STDIN_TIMEOUT_S = 30.0  # until stdin's EOF, at most


class SecretsError(Exception):
    """The secrets were promised (CODEX_SECRETS_STDIN, <NAME>_FILE) but not delivered."""


def read_stdin(
    fd: int, max_bytes: int = MAX_STDIN_BYTES, timeout: float = STDIN_TIMEOUT_S
) -> bytes:
    """Everything on `fd` until EOF, bounded in size and time."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SecretsError(f"no end of stdin within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise SecretsError(f"stdin holds over {max_bytes} bytes")
        chunks.append(chunk)


def store_secrets(values: object) -> None:
    """Write each secret of the stdin object to its <NAME>_FILE, mode 0600."""
    if not isinstance(values, dict):
        raise SecretsError("stdin is not a JSON object")
    for name in SECRET_NAMES:
        value = values.get(name)
        path = os.environ.get(f"{name}_FILE")
        if not isinstance(value, str) or not value:
            continue
        if not path:
            raise SecretsError(f"{name} came on stdin but {name}_FILE is not set")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        descriptor = os.open(path, flags, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value)


def load_secrets() -> None:
    """Each <NAME>_FILE's content into this process's environment as <NAME> (for the CLI
    only: the container's configuration never holds it)."""
    for name in SECRET_NAMES:
        path = os.environ.get(f"{name}_FILE")
        if not path:
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as error:
            raise SecretsError(f"{name}_FILE cannot be read ({type(error).__name__})") from None
        if len(data) > MAX_SECRET_BYTES:
            raise SecretsError(f"{name}_FILE holds over {MAX_SECRET_BYTES} bytes")
        value = data.decode("utf-8", "replace").removesuffix("\n")
        if value:
            os.environ[name] = value


def receive_secrets() -> None:
    """The secrets as the contract in the module's docstring says; SecretsError when
    they were promised and did not come."""
    if os.environ.get("CODEX_SECRETS_STDIN") == "1":
        raw = read_stdin(sys.stdin.fileno())
        try:
            values = json.loads(raw or b"{}")
        except ValueError:
            raise SecretsError("stdin is not JSON") from None
        try:
            store_secrets(values)
        except OSError as error:
            raise SecretsError(
                f"a secret file cannot be written ({type(error).__name__})"
            ) from None
    load_secrets()
