"""A tiny orchestrator shaped like the validation plan's app (not the bundled one), on
a real socket: projects as `{project_id, status, workspace}`, bare file listings of
`{path, size}`, `text/plain` file bodies, result.json with `logs` as a list, and edit
jobs answered `202 queued` that complete `job_delay` seconds later."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.local_http import serving

RESULT = {"status": "success", "summary": "made a CLI", "logs": ["started", "done"]}
FILES = {
    "README.md": "# Fibonacci\n\nPrints the first 10 Fibonacci numbers.\n",
    "app.py": "print([0, 1, 1, 2, 3, 5, 8, 13, 21, 34])\n",
    ".codex/result.json": json.dumps(RESULT),
}


class ShapedApi:
    def __init__(
        self, workspace_root: Path, job_delay: float = 0.3, running_note: str = ""
    ) -> None:
        self.workspace_root = workspace_root
        self.job_delay = job_delay
        self.running_note = running_note  # put in a running job's answer
        self.jobs: dict[str, float] = {}
        self.job_polls = 0
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        parts = [p for p in path.split("?", maxsplit=1)[0].split("/") if p]
        if parts == ["healthz"]:
            return self.json(200, {"status": "ok"})
        if parts[:3] == ["api", "v1", "projects"] and method == "POST" and len(parts) == 3:
            try:
                instruction = json.loads(body)["instruction"]
            except (ValueError, KeyError, TypeError):
                return self.json(422, {"detail": "instruction is required"})
            project_id = str(uuid.uuid4())
            workspace = self.workspace_root / project_id
            for name, text in FILES.items():
                (workspace / name).parent.mkdir(parents=True, exist_ok=True)
                (workspace / name).write_text(text)
            (workspace / "instruction.txt").write_text(str(instruction))
            return self.json(200, self.project(project_id))
        if parts[:3] == ["api", "v1", "projects"] and len(parts) == 4:
            if not (self.workspace_root / parts[3]).is_dir():
                return self.json(404, {"detail": "no such project"})
            return self.json(200, self.project(parts[3]))
        if len(parts) >= 4 and parts[:2] == ["api", "v1"]:
            workspace = self.workspace_root / parts[2]
            if not workspace.is_dir() or ".." in parts:
                return self.json(404, {"detail": "no such project"})
            if parts[3] == "files" and len(parts) == 4:
                listing = [
                    {"path": p.relative_to(workspace).as_posix(), "size": p.stat().st_size}
                    for p in sorted(workspace.rglob("*"))
                    if p.is_file()
                ]
                return self.json(200, listing)
            if parts[3] == "files":
                target = workspace.joinpath(*parts[4:])
                if not target.is_file():
                    return self.json(404, {"detail": "no such file"})
                return 200, "text/plain; charset=utf-8", target.read_bytes()
            if parts[3] == "jobs" and method == "POST":
                job_id = uuid.uuid4().hex
                with self.lock:
                    self.jobs[job_id] = time.monotonic()
                return self.json(202, {"job_id": job_id, "status": "queued"})
            if parts[3] == "jobs" and len(parts) == 5:
                with self.lock:
                    self.job_polls += 1
                    started = self.jobs.get(parts[4])
                if started is None:
                    return self.json(404, {"detail": "no such job"})
                done = time.monotonic() - started >= self.job_delay
                job = {"job_id": parts[4], "status": "completed" if done else "running"}
                if not done and self.running_note:
                    job["note"] = self.running_note
                return self.json(200, job)
        return self.json(404, {"detail": "not found"})

    def project(self, project_id: str) -> dict[str, Any]:
        return {
            "project_id": project_id,
            "status": "completed",
            "workspace": str(self.workspace_root / project_id),
        }

    @staticmethod
    def json(status: int, document: object) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps(document).encode()


@contextmanager
def serve(api: ShapedApi) -> Iterator[str]:
    """`api` on an ephemeral loopback port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, kind, data = api.handle(self.command, self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url
