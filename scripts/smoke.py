"""Bring the bundled orchestrator up in its container, run the seed calls once, print
what came back, and tear the stack down (also when a call fails)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from pytest_codex import stack

REPO = Path(__file__).resolve().parent.parent
FIBONACCI = (
    "Create a Python CLI app that prints the first 10 Fibonacci numbers, "
    "with a README and a pytest test."
)


def main() -> int:
    workspace_root = Path(tempfile.mkdtemp(prefix="codex-smoke-", dir="/var/tmp"))
    compose = stack.Compose(
        stack.detect_compose_command(),
        (REPO / "service/compose.yaml",),
        f"pytest-codex-smoke-{uuid.uuid4().hex[:6]}",
        {**os.environ, "CODEX_WORKSPACE_ROOT": str(workspace_root)},
    )
    started = time.monotonic()
    try:
        print("smoke: building and starting the stack", flush=True)
        compose.run("up", "--build", "-d")
        port = compose.run("port", "orchestrator", "8000").strip().splitlines()[-1]
        url = f"http://{port}"
        while not stack.probe(url):
            if time.monotonic() - started > 120:
                print(stack.tail(compose.logs(), 30), file=sys.stderr)
                print(f"smoke: {url}/healthz did not answer within 120 s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"smoke: healthy at {url} after {time.monotonic() - started:.1f} s", flush=True)
        with httpx.Client(base_url=url, timeout=60) as client:
            project = client.post("/api/v1/projects", json={"instruction": FIBONACCI})
            print(
                f"POST /api/v1/projects -> {project.status_code} "
                f"status={project.json().get('status')}"
            )
            project.raise_for_status()
            project_id = project.json()["id"]
            files = client.get(f"/api/v1/{project_id}/files")
            print(f"GET /api/v1/{project_id}/files -> {files.status_code}")
            for entry in files.json()["files"]:
                print(f"    {entry['size']:>6}  {entry['path']}")
            app = client.get(f"/api/v1/{project_id}/files/app.py")
            print(f"GET .../files/app.py -> {app.status_code} ({app.json()['size']} bytes)")
            edit = client.post(
                f"/api/v1/{project_id}/jobs",
                json={"job_type": "edit", "instruction": "Add a comment."},
            )
            print(f"POST .../jobs -> {edit.status_code} status={edit.json().get('status')}")
            evil = client.get(f"/api/v1/{project_id}/files/%2e%2e/%2e%2e/etc/passwd")
            print(f"GET .../files/%2e%2e/%2e%2e/etc/passwd -> {evil.status_code}")
            ok = (
                project.json()["status"] == "completed"
                and files.status_code == 200
                and app.status_code == 200
                and edit.json().get("status") == "completed"
                and evil.status_code == 400
            )
        print(f"smoke: workspaces under {workspace_root}")
        print("smoke: PASSED" if ok else "smoke: FAILED")
        return 0 if ok else 1
    finally:
        compose.run("down", "-v", "--remove-orphans", "-t", "5")


if __name__ == "__main__":
    sys.exit(main())
