"""The stack's containers found by compose's labels (`Compose.running`, `containers`,
`published_port`), for real with the engine's compose: a project name compose v1
rewrites (`My.Run` is labelled `myrun`), a one-off `compose run` container that must not
count, and a stopped container only `containers` lists. The project is unique to the run
and removed at the end."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.target import compose as stack

SERVICE = """\
version: "3.8"
services:
  web:
    image: ${CODEX_BASE_IMAGE}
    command: ["python3", "-m", "http.server", "8000"]
    ports: ["127.0.0.1::8000"]
  idle:
    image: ${CODEX_BASE_IMAGE}
    command: ["true"]
"""


@pytest.fixture
def project(tmp_path: Path, base_image: str) -> Iterator[stack.Compose]:
    files = (tmp_path / "compose.yaml",)
    files[0].write_text(SERVICE)
    name = f"PyTest.Codex-Lookup_{secrets.token_hex(3)}"  # v1 labels it lowercased, no dot
    compose = stack.Compose(
        stack.detect_compose_command(), files, name, {"CODEX_BASE_IMAGE": base_image}
    )
    try:
        compose.run("up", "-d")
        yield compose
    finally:
        compose.run("down", "-v", "--remove-orphans", "-t", "1")


def test_a_rewritten_project_name_is_found_and_one_off_containers_do_not_count(
    project: stack.Compose,
) -> None:
    assert project.label == project.project.lower().replace(".", "")
    [web] = project.running("web")
    port = project.published_port("web", 8000)
    inspected = subprocess.run(
        ["docker", "port", web, "8000/tcp"], capture_output=True, text=True, check=True
    )
    assert f":{port}" in inspected.stdout
    # A one-off container of the same service, publishing nothing: not one of its
    # containers, as `compose ps` would not count it.
    project.run("run", "-d", "--no-deps", "web", "sleep", "60")
    assert project.running("web") == [web]
    assert project.published_port("web", 8000) == port
    # `idle` has exited: not running, but still one of the service's containers.
    assert project.running("idle") == []
    assert len(project.containers("idle")) == 1
    with pytest.raises(stack.StackError, match="no running container of 'idle'"):
        project.published_port("idle", 8000)
