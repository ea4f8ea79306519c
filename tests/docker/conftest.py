"""Docker tests: they need an engine (scripts/ensure-docker.sh; CI runs it) and never
skip. The base image and the wheelhouse are ensured here, so `pytest tests/docker`
works on its own."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from pytest_codex.target import swarm
from tests.conftest import REPO


@pytest.fixture(scope="session", autouse=True)
def base_image() -> str:
    """The base image for the project's Dockerfiles (built from Debian packages when
    python:3.11-slim cannot be pulled); exported as CODEX_BASE_IMAGE for compose."""
    done = subprocess.run(
        ["bash", str(REPO / "service/base-image/build.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"base image: {done.stderr[-2000:]}"
    subprocess.run(
        ["bash", str(REPO / "service/fill-wheelhouse.sh"), "--worker"], check=True, timeout=900
    )
    image = done.stdout.strip()
    os.environ["CODEX_BASE_IMAGE"] = image
    return image


def build(*argv: str) -> None:
    done = subprocess.run(
        ["docker", "build", "-q", *argv], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="session")
def worker_image(base_image: str) -> str:
    """The live worker image, built as the live stack builds it (a cache hit when it did)."""
    build(
        "-t",
        "codex-worker:latest",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        str(REPO / "service" / "worker"),
    )
    return "codex-worker:latest"


@pytest.fixture(scope="session")
def orchestrator_image(base_image: str) -> str:
    """The orchestrator image (it also runs the model stand-in)."""
    build(
        "-t",
        "pytest-codex/orchestrator:latest",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        str(REPO / "service"),
    )
    return "pytest-codex/orchestrator:latest"


@pytest.fixture(scope="module")
def swarm_engine() -> Iterator[bool]:
    """The engine as a swarm manager for a module: `docker swarm init` when it is in no
    swarm, left again when its last user here is done (pytest_codex.target.swarm)."""
    with swarm.single_node_swarm() as created:
        yield created
