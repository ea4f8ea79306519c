"""A workspace disk that is full: the job fails with a structured error, its records
stay, and once there is room again the service carries on. A real 256 KiB tmpfs is
mounted for it (the suite runs as root, as CI does)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_codex_orchestrator.service import Orchestrator


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True, timeout=30
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True, timeout=30)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return filler


def test_a_full_workspace_disk_fails_the_job_and_loses_nothing(
    make_service: Callable[..., Orchestrator], small_disk: Path
) -> None:
    service = make_service(workspace_root=small_disk / "workspaces")
    filler = fill(small_disk)
    project = service.create_project("Create the Fibonacci CLI.")
    assert project["status"] == "failed"
    assert project["job"]["status"] == "failed"
    assert project["job"]["error"]["type"] == "OSError"
    assert "No space left on device" in project["job"]["error"]["message"]
    assert service.get_project(project["id"])["status"] == "failed"

    filler.unlink()
    again = service.create_project("Create the Fibonacci CLI.")
    assert again["status"] == "completed"
    assert {f["path"] for f in service.list_files(again["id"])["files"]} >= {"app.py"}
