"""Time the redactor's scan and redaction over a bundle-sized text (~1,300 files, 8 MB).

    .venv/bin/python bench/redact_scan.py [bundle folder]

The text mixes what a bundle holds (JSON exchanges, sha256 hashes, base64 file contents,
percent-encoded and `\\u`-escaped traversal targets, logs) with no secret in it; six
secrets are known, as in a live run. Prints the seconds of one scan and one redaction of
every file (best of three).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sys
import time
from pathlib import Path

from pytest_codex.secrets.redact import Redactor

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


def main() -> None:
    if len(sys.argv) > 1:  # a real bundle folder
        files = [p.read_bytes() for p in sorted(Path(sys.argv[1]).rglob("*")) if p.is_file()]
    else:
        rng = random.Random(20261125)  # noqa: S311 - test data, not secrets
        files = [bundle_file(rng, index) for index in range(FILES)]
    size = sum(map(len, files))
    started = time.perf_counter()
    redactor = Redactor(SECRETS)
    built = time.perf_counter() - started
    scan = best_of(3, lambda: [redactor.scan(data) for data in files])
    redact = best_of(3, lambda: [redactor.redact_bytes(data) for data in files])
    assert not any(redactor.scan(data) for data in files)
    print(
        f"{len(files)} files, {size / 1e6:.1f} MB, {len(SECRETS)} secrets: "
        f"build {built * 1000:.1f} ms, scan {scan:.3f} s, redact {redact:.3f} s"
    )


if __name__ == "__main__":
    main()
