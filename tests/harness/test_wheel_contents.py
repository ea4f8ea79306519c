"""The wheel as a user gets it, built here (no Docker): its metadata (license, the xdist
extra), the docs its error messages point at, and what its code finds when imported
from the unpacked wheel rather than the checkout."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import zipfile
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import REPO

BUILD_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [built] = list(dist.glob("pytest_codex-*.whl"))
    return built


def metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def test_the_wheel_declares_its_license_and_ships_the_file(wheel: Path) -> None:
    found = metadata(wheel)
    assert found["License-Expression"] == "MIT"
    assert found.get_all("License-File") == ["LICENSE"]
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names


def test_an_extra_declares_pytest_xdist_as_the_readme_says(wheel: Path) -> None:
    found = metadata(wheel)
    assert "xdist" in (found.get_all("Provides-Extra") or [])
    assert any(
        r.startswith("pytest-xdist") and "extra == 'xdist'" in r
        for r in found.get_all("Requires-Dist") or []
    )
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "pytest-codex[xdist]" in readme


def test_matrix_errors_point_at_a_doc_inside_the_installed_wheel(
    wheel: Path, tmp_path: Path
) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    done = subprocess.run(
        [sys.executable, "-c", "from pytest_codex.matrix.files import DOCS; print(DOCS)"],
        env={**os.environ, "PYTHONPATH": str(unpacked)},
        cwd=tmp_path,  # not the checkout, whose pytest_codex `-c` would import first
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pointer = done.stdout.strip().removeprefix("see ")
    assert Path(pointer).is_file(), pointer
    assert Path(pointer).is_relative_to(unpacked)
    assert "## Selections and parallel runs" in Path(pointer).read_text(encoding="utf-8")


def test_the_wheel_installs_only_project_named_top_level_packages(wheel: Path) -> None:
    """No generic names (`codex_orchestrator`, `model_stub`) in site-packages."""
    names = zipfile.ZipFile(wheel).namelist()
    top = {
        name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")
    }
    assert top == {"pytest_codex", "pytest_codex_orchestrator", "pytest_codex_model_stub"}
    scripts = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
        .decode()
    )
    assert "codex-orchestrator = pytest_codex_orchestrator.cli:main" in scripts
