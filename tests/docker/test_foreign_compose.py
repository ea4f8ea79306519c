"""A user's own compose file as adopters write them at first: the service keeps its data
in a named volume (no `$CODEX_WORKSPACE_ROOT` mounted at the same path), builds its image
without `image:`, or publishes a fixed host port. The run says which checks it could not
make instead of failing them with FileNotFoundError, leaves no image tag behind, and a
taken port comes with a hint."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN mkdir -p /srv/p1/.codex && echo '{"status": "success"}' > /srv/p1/.codex/result.json
CMD ["python3", "-m", "http.server", "8000", "--directory", "/srv"]
"""
COMPOSE = """\
services:
  web:
    build:
      context: .
      args:
        BASE_IMAGE: ${CODEX_BASE_IMAGE}
    ports:
      - "PORTS"
    volumes:
      - data:/srv
volumes:
  data: {}
"""
MATRIX = """\
name: foreign
cases:
  - name: result
    request: {path: /p1/.codex/result.json}
    expect:
      status: 200
      result:
        schema: result.schema.json
        json: {status: success}
        on_disk: true
        project: p1
"""


def foreign_stack(folder: Path, ports: str) -> None:
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "compose.yaml").write_text(COMPOSE.replace("PORTS", ports))
    (folder / "foreign.yaml").write_text(MATRIX)
    (folder / "result.schema.json").write_text('{"type": "object"}')


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-compose-file={pytester.path / 'compose.yaml'}",
        "--codex-service=web",
        "--codex-health-path=/p1/.codex/result.json",
        "--codex-matrix=foreign.yaml",
        "--codex-evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
    )


def images_of(project: str) -> list[str]:
    """Images compose built for `project` (v1 names them <project>_<service> without
    dashes, v2 <project>-<service>)."""
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    squeezed = project.replace("-", "")
    return [name for name in listed if name.startswith((project, squeezed))]


def test_a_stack_without_the_same_path_mount_lists_checks_not_made(
    pytester: pytest.Pytester,
) -> None:
    foreign_stack(pytester.path, "127.0.0.1::8000")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*FileNotFoundError*")
    result.stdout.fnmatch_lines(["*not checked*result.json on disk*same path*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    not_run = manifest["checks_not_run"]
    assert len(not_run) == 3
    assert all("${CODEX_WORKSPACE_ROOT}:${CODEX_WORKSPACE_ROOT}" in line for line in not_run)
    assert not (bundle / "workspaces").exists()  # no snapshot of a folder nobody wrote
    # The image compose built for the run's project (no `image:`) went with the stack.
    project = manifest["target"]["project"]
    assert project.startswith("pytest-codex-")
    assert images_of(project) == []


def test_a_taken_fixed_host_port_comes_with_a_hint(pytester: pytest.Pytester) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        foreign_stack(pytester.path, f"127.0.0.1:{port}:8000")
        result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [f"*hint: host port 127.0.0.1:{port} is already taken*ephemeral host port*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
