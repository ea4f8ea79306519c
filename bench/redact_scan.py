"""Time the redactor's scan and redaction over a bundle-sized text (~1,300 files, 8 MB),
and its share of a real run.

    .venv/bin/python bench/redact_scan.py [bundle folder]
    .venv/bin/python bench/redact_scan.py --run     (also a real mocked run: the ratio)

The text mixes what a bundle holds (JSON exchanges, sha256 hashes, base64 file contents,
percent-encoded and `\\u`-escaped traversal targets, logs) with no secret in it; six
secrets are known, as in a live run. Prints the seconds of one scan and one redaction of
every file (best of three), with every form of issue 18 (nested escapes, reversed, ROT13,
base32, UTF-16 hex, NFKC look-alikes) searched.

`--run` starts the reference orchestrator (dummy worker) on a loopback port, runs
`pytest --codex-mode=mocked` on matrices/mocked.yaml and traversal.yaml with the six
secrets in its environment, then times one scan and one redaction of every file of the
bundle it wrote (what the run itself does: each write is redacted, the bundle scanned
once) and prints that as a share of the run's wall time. Goal: well under 10 %.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pytest_codex.secrets.redact import Redactor

REPO = Path(__file__).resolve().parent.parent
MATRICES = ("mocked.yaml", "traversal.yaml")
RUN_TIMEOUT_S = 600
HEALTH_TIMEOUT_S = 30
FILES = 1300
FILE_SIZE = 6400  # 1,300 x 6.4 KB = 8.3 MB
SECRETS = {
    "OPENAI_API_KEY": "sk-canary-4f1c2e9a7b3d5e6f8a9b0c1d2e3f4a5b",
    "OPENAI_ORG_ID": "org-canary-1a2b3c4d5e6f",
    "OPENAI_PROJECT": "proj_canary_0f9e8d7c6b5a",
    "CODEX_API_TOKEN": "token-canary-77aa88bb99cc",
    "GITHUB_TOKEN": "ghp_canary0123456789abcdefABCDEF0123",
    "DB_PASSWORD": "pa$$w0rd-canary!",
}


def bundle_file(rng: random.Random, index: int) -> bytes:
    parts: list[str] = []
    while sum(map(len, parts)) < FILE_SIZE:
        kind = rng.randrange(5)
        if kind == 0:
            parts.append(hashlib.sha256(f"{index}-{len(parts)}".encode()).hexdigest())
        elif kind == 1:
            raw = bytes(rng.randrange(256) for _ in range(240))
            parts.append(base64.b64encode(raw).decode())
        elif kind == 2:
            parts.append("GET /api/v1/p/files/%2e%2e%2f%2E%2E%5cetc%2fpasswd HTTP/1.1\n")
        elif kind == 3:
            parts.append(json.dumps({"detail": "naïve path \u2028 \\ é", "status": 400}))
        else:
            words = ["status", "completed", "project", "files", "size", "README.md", "app.py"]
            parts.append(" ".join(rng.choice(words) for _ in range(30)) + "\n")
    return "".join(parts).encode("utf-8")


def best_of(runs: int, action: object) -> float:
    assert callable(action)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def timed_files(files: list[bytes], label: str) -> tuple[float, float]:
    size = sum(map(len, files))
    started = time.perf_counter()
    redactor = Redactor(SECRETS)
    built = time.perf_counter() - started
    scan = best_of(3, lambda: [redactor.scan(data) for data in files])
    redact = best_of(3, lambda: [redactor.redact_bytes(data) for data in files])
    print(
        f"{label}: {len(files)} files, {size / 1e6:.2f} MB, {len(SECRETS)} secrets: "
        f"build {built * 1000:.1f} ms, scan {scan:.3f} s, redact {redact:.3f} s"
    )
    return scan, redact


def real_run() -> tuple[float, Path]:
    """Seconds of one mocked run against the reference orchestrator, and its bundle."""
    root = Path(tempfile.mkdtemp(prefix="redact-bench-"))
    port = _free_port()
    env = {
        **os.environ,
        "WORKSPACE_ROOT": str(root / "workspaces"),
        "DATABASE_URL": f"sqlite:///{root / 'orchestrator.db'}",
        "USE_DUMMY_WORKER": "true",
    }
    with (root / "orchestrator.log").open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "pytest_codex_orchestrator", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--codex-mode=mocked", "-q", "-p",
             "no:cacheprovider", f"--codex-base-url=http://127.0.0.1:{port}",
             f"--codex-workspace-root={root / 'workspaces'}",
             f"--codex-evidence-dir={root / 'evidence'}",
             *(f"--codex-matrix={REPO / 'matrices' / name}" for name in MATRICES)],
            cwd=REPO, env={**os.environ, **SECRETS}, capture_output=True, text=True,
            timeout=RUN_TIMEOUT_S, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"redact_scan: the mocked run failed:\n{done.stdout[-2000:]}")
    [bundle] = (root / "evidence").glob("*/mocked")
    return seconds, bundle


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"redact_scan: {url}/healthz did not answer within {HEALTH_TIMEOUT_S} s")


def main() -> None:
    arguments = [a for a in sys.argv[1:] if a != "--run"]
    if arguments:  # a real bundle folder
        files = [p.read_bytes() for p in sorted(Path(arguments[0]).rglob("*")) if p.is_file()]
    else:
        rng = random.Random(20261125)  # noqa: S311 - test data, not secrets
        files = [bundle_file(rng, index) for index in range(FILES)]
    timed_files(files, "synthetic" if not arguments else arguments[0])
    assert not any(Redactor(SECRETS).scan(data) for data in files)
    if "--run" in sys.argv[1:]:
        seconds, bundle = real_run()
        own = [p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()]
        scan, redact = timed_files(own, "the run's bundle")
        share = (scan + redact) / seconds
        print(
            f"mocked run {seconds:.2f} s; redaction (scan + redact of every file) "
            f"{scan + redact:.3f} s = {share:.1%} of the run (goal: well under 10 %)"
        )


if __name__ == "__main__":
    main()
