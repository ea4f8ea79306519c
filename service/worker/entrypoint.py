"""The live worker's entrypoint: run the real Codex CLI on the job, write result.json.

Reads `<workspace>/.codex/request.json`, runs `codex exec --json` with stdin closed and a
hard wall-clock limit of its own, passes the CLI's event stream through to stdout (the
orchestrator keeps it as the job's events.jsonl), and writes `.codex/result.json`:
`success` only when the turn completed and no file change failed (the CLI exits 0 even
when every write failed, so its exit code is not trusted). Standard library only; secret
values are never printed, only whether they are present.

Environment: CODEX_WORKSPACE (default /workspace), CODEX_BIN (default codex), CODEX_HOME,
CODEX_WORKER_TIMEOUT (seconds, default 270), CODEX_MODEL (default gpt-5.5),
OPENAI_BASE_URL (default the public API).

Secrets (OPENAI_API_KEY, OPENAI_ORG_ID, OPENAI_PROJECT) arrive as `worker_secrets.py`
says (files named by `<NAME>_FILE`, or stdin), never in the container's configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from worker_secrets import SecretsError, receive_secrets

WORKER = "codex-cli"
VERSION_TIMEOUT_S = 10  # `codex --version` answers at once; a hung one is not waited for
MAX_VERSION_CHARS = 80
ENV_PRESENCE = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
EDIT_PREFIX = (
    "Edit the existing project in the current directory; keep what works and change only "
    "what the request asks for. The request: "
)
USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
# How the CLI's error messages (retries off) map to a result's error.type, first match
# wins; anything else stays `model_error`. See docs/live-testing.md for each type.
MODEL_ERRORS = (
    ("stall", re.compile(r"idle timeout waiting for SSE", re.I)),
    (
        "auth",
        re.compile(
            r"status 40[13]\b|unauthorized|forbidden|incorrect api key|"
            r"missing environment variable",
            re.I,
        ),
    ),
    ("rate_limit", re.compile(r"status 429\b|too many requests|quota exceeded|rate limit", re.I)),
    (
        "server",
        re.compile(r"status 5\d\d\b|high demand|internal server error|service unavailable", re.I),
    ),
    ("unreachable", re.compile(r"connection failed|error sending request|dns error", re.I)),
    ("response_failed", re.compile(r"stream disconnected before completion", re.I)),
)
STREAM_IDLE_MAX_S = 60.0  # the CLI's wait for the next SSE event, at most


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message: str) -> None:
    print(f"worker: {message}", file=sys.stderr, flush=True)


def model_error_type(message: str) -> str:
    """`auth`, `rate_limit`, `server`, `unreachable`, `response_failed`, `stall`, or
    `model_error` when the CLI's message matches none of them."""
    for kind, pattern in MODEL_ERRORS:
        if pattern.search(message):
            return kind
    return "model_error"


def stream_idle_ms(timeout: float) -> int:
    """A third of the worker's limit (at most a minute), so a stalled stream ends as
    `stall` before the worker's own limit ends it as `timeout`."""
    return int(min(STREAM_IDLE_MAX_S, max(1.0, timeout / 3)) * 1000)


def codex_argv(
    binary: str, workspace: Path, last_message: Path, prompt: str, timeout: float = 270
) -> list[str]:
    """`codex exec` as CODEX_CLI.md says it works unattended against a chosen endpoint."""
    headers = {
        header: variable
        for header, variable in (
            ("OpenAI-Organization", "OPENAI_ORG_ID"),
            ("OpenAI-Project", "OPENAI_PROJECT"),
        )
        if os.environ.get(variable)
    }
    header_table = ", ".join(f'"{h}"="{v}"' for h, v in headers.items())
    base_url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    provider = (
        '{name="pytest-codex", base_url=' + json.dumps(base_url) + ', wire_api="responses", '
        'env_key="OPENAI_API_KEY", request_max_retries=0, stream_max_retries=0, '
        f"stream_idle_timeout_ms={stream_idle_ms(timeout)}, "
        "env_http_headers={" + header_table + "}}"
    )
    return [
        binary,
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--ephemeral",
        "-C",
        str(workspace),
        "-s",
        "danger-full-access",
        "-o",
        str(last_message),
        "--disable",
        "plugins",
        "--disable",
        "unbounded_connection_retries",
        "-c",
        "analytics.enabled=false",
        "-c",
        "model_provider=pytest-codex",
        "-c",
        f"model={os.environ.get('CODEX_MODEL') or 'gpt-5.5'}",
        "-c",
        f"model_providers.pytest-codex={provider}",
        prompt,
    ]


class Events:
    """What the event stream says happened."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.completed = False
        self.failed_changes: list[str] = []
        self.created: set[str] = set()
        self.modified: set[str] = set()
        self.errors: list[str] = []
        self.last_message = ""
        self.usage: dict[str, int] | None = None

    def take(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        item = event.get("item") or {}
        if kind == "item.completed" and item.get("type") == "file_change":
            paths = [self._relative(c.get("path", "")) for c in item.get("changes") or []]
            if item.get("status") != "completed":
                self.failed_changes += paths
                return
            for change, path in zip(item.get("changes") or [], paths, strict=True):
                {"add": self.created, "update": self.modified}.get(change.get("kind"), set()).add(
                    path
                )
        elif kind == "item.completed" and item.get("type") == "agent_message":
            self.last_message = str(item.get("text", ""))
        elif kind == "turn.completed":
            self.completed = True
            usage = event.get("usage") or {}
            self.usage = {key: int(usage.get(key) or 0) for key in USAGE_KEYS}
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))
        elif kind == "turn.failed":
            self.errors.append(str((event.get("error") or {}).get("message", "")))

    def _relative(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.workspace.resolve()).as_posix()
        except ValueError:
            return path


def pump(stream: IO[bytes], events: Events) -> None:
    """Pass every event line through to stdout and take what it says."""
    for raw in stream:
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.take(event)


def cli_version(binary: str) -> str:
    """`codex --version` as the CLI prints it (e.g. `codex-cli 0.58.0`), for result.json:
    the bundle then says which CLI the worker ran."""
    try:
        done = subprocess.run(
            [binary, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__})"
    line = (done.stdout.strip().splitlines() or [""])[0].strip()
    return line[:MAX_VERSION_CHARS] if done.returncode == 0 and line else "unknown"


def run_cli(argv: list[str], workspace: Path, timeout: float) -> tuple[int | None, Events, bool]:
    """Exit code (None when killed), what the events said, and whether time ran out."""
    events = Events(workspace)
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    reader = threading.Thread(target=pump, args=(process.stdout, events), daemon=True)
    reader.start()
    try:
        code: int | None = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        reader.join(timeout=5)
        return None, events, True
    reader.join(timeout=30)
    return code, events, False


def result_for(
    request: dict[str, Any],
    events: Events,
    code: int | None,
    timed_out: bool,
    started: str,
    timeout: float,
) -> dict[str, Any]:
    workspace = events.workspace
    created = sorted(p for p in events.created if (workspace / p).is_file())
    modified = sorted(p for p in events.modified - events.created if (workspace / p).is_file())
    for path in sorted((events.created | events.modified) - set(created) - set(modified)):
        log(f"the events claim {path} but it is not on disk; left out of the result")
    error = None
    if timed_out:
        error = (
            "timeout",
            f"the Codex CLI ran past the worker's limit of {timeout:.0f} s and was killed",
        )
    elif events.failed_changes:
        error = (
            "file_change_failed",
            "file changes failed: " + ", ".join(sorted(set(events.failed_changes))),
        )
    elif events.errors:
        error = (model_error_type(events.errors[-1]), events.errors[-1])
    elif not events.completed:
        error = ("cli_failed", f"the Codex CLI exited with {code} without completing the turn")
    finished = now()
    return {
        "status": "failed" if error else "success",
        "summary": error[1] if error else events.last_message,
        "job_type": request.get("job_type", "create"),
        "worker": WORKER,
        "created_files": created,
        "modified_files": modified,
        "logs": {"env": presence()},
        "usage": events.usage,
        "timing": {
            "started_at": started,
            "finished_at": finished,
            "duration_ms": _ms_between(started, finished),
        },
        "error": None
        if error is None
        else {"type": error[0], "message": error[1], "exit_code": code},
    }


def failure(request: dict[str, Any], started: str, kind: str, message: str) -> dict[str, Any]:
    finished = now()
    return {
        "status": "failed",
        "summary": message,
        "job_type": request.get("job_type", "create"),
        "worker": WORKER,
        "created_files": [],
        "modified_files": [],
        "logs": {"env": presence()},
        "usage": None,
        "timing": {
            "started_at": started,
            "finished_at": finished,
            "duration_ms": _ms_between(started, finished),
        },
        "error": {"type": kind, "message": message, "exit_code": None},
    }


def presence() -> dict[str, str]:
    return {name: "present" if os.environ.get(name) else "absent" for name in ENV_PRESENCE}


def _ms_between(start: str, end: str) -> int:
    parse = datetime.fromisoformat
    delta = parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))
    return max(0, int(delta.total_seconds() * 1000))


def write_result(workspace: Path, result: dict[str, Any]) -> bool:
    target = workspace / ".codex" / "result.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(".result.json.partial")
        partial.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        partial.replace(target)
    except OSError as error:
        log(f"cannot write {target}: {type(error).__name__}")
        return False
    return True


def main() -> int:
    started = now()
    workspace = Path(os.environ.get("CODEX_WORKSPACE") or "/workspace")
    timeout = float(os.environ.get("CODEX_WORKER_TIMEOUT") or 270)
    try:
        receive_secrets()
    except SecretsError as error:
        result = failure(
            {},
            started,
            "secrets_unavailable",
            f"the worker's secrets: {error}; check the secret's mount and its owner (uid 1000)",
        )
        return 1 if write_result(workspace, result) else 2
    try:
        request = json.loads((workspace / ".codex" / "request.json").read_text(encoding="utf-8"))
        if not isinstance(request, dict) or not str(request.get("instruction", "")).strip():
            raise ValueError("no instruction")
    except (OSError, ValueError) as error:
        result = failure(
            {},
            started,
            "bad_request",
            f".codex/request.json is missing or invalid ({type(error).__name__})",
        )
        return 1 if write_result(workspace, result) else 2
    binary = shutil.which(os.environ.get("CODEX_BIN") or "codex")
    if binary is None:
        result = failure(
            request,
            started,
            "cli_missing",
            "the Codex CLI is not installed in the worker image (CODEX_BIN)",
        )
        return 1 if write_result(workspace, result) else 2
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CODEX_HOME"] = str(home)
    prompt = str(request["instruction"])
    if request.get("job_type") == "edit":
        prompt = EDIT_PREFIX + prompt
    last_message = home / "last-message.txt"
    log(
        f"job {request.get('job_id')}: {request.get('job_type')}, env {presence()}, "
        f"limit {timeout:.0f} s"
    )
    clock = time.monotonic()
    code, events, timed_out = run_cli(
        codex_argv(binary, workspace, last_message, prompt, timeout), workspace, timeout
    )
    log(f"the CLI ended with {code} after {time.monotonic() - clock:.2f} s")
    result = result_for(request, events, code, timed_out, started, timeout)
    result["worker_version"] = cli_version(binary)
    if not write_result(workspace, result):
        return 2
    return 0 if result["status"] == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
