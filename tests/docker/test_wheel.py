"""The wheel is the product: built, installed into a clean venv outside the checkout, and
run from an empty folder against the bundled stack; and a checkout with no wheelhouse and
no CODEX_BASE_IMAGE, where the plugin prepares both. Each run uses a fresh cache, so the
wheelhouse is filled and the build context assembled as on a new machine; the base image
is the one already present (CI made it), found by tag, not rebuilt."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from pytest_codex.target import images
from tests.conftest import REPO

MAX_WHEEL_BYTES = 1_000_000  # the wheel holds sources and text only (~130 kB)
RUN_TIMEOUT = 900
STACK_FILES = (
    "compose.yaml",
    "compose.live.yaml",
    "compose.hermetic.yaml",
    "compose.openai.yaml",
    "swarm.yaml",
    "swarm.live.yaml",
    "swarm.hermetic.yaml",
    "Dockerfile",
    ".dockerignore",
    "requirements.txt",
    "base-image/build.sh",
    "worker/Dockerfile",
    "worker/requirements.txt",
    "worker/entrypoint.py",
    "worker/worker_secrets.py",
)
PROGRESS = re.compile(r"^pytest-codex: (.+) (\d+\.\d) s$", re.MULTILINE)


def run(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    return done, time.perf_counter() - started


def user_env(tmp_path: Path, path: str | None = None) -> dict[str, str]:
    """The environment of a new user: no CODEX_BASE_IMAGE, an empty cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEX_", "PYTEST_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env.get('PATH', '')}"
    return env


def check_mocked_run(done: subprocess.CompletedProcess[str], evidence: Path) -> Path:
    """The run passed every case, printed its preparation steps, and left a bundle."""
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    summary = re.search(r"=+ (\d+) passed in ", output)
    assert summary is not None, output[-2000:]
    assert int(summary.group(1)) > 250
    assert "failed" not in output.splitlines()[-1]
    steps = dict((m.group(1).split(" (")[0], m.group(0)) for m in PROGRESS.finditer(output))
    base = next(line for name, line in steps.items() if name.startswith("base image"))
    assert "from CODEX_BASE_IMAGE" not in base  # the plugin found the base by itself
    assert any(
        name.startswith("wheelhouse ") and "(downloaded)" in line for name, line in steps.items()
    ), steps
    assert any(name.startswith("building orchestrator image") for name in steps), steps
    print("\n".join(steps.values()))  # the figures, with -s
    [bundle] = list(evidence.glob("*/mocked"))
    assert (bundle / "manifest.json").is_file()
    return bundle


def test_wheel_installed_in_a_clean_venv_validates_the_bundled_stack(
    tmp_path: Path,
) -> None:
    timings: dict[str, float] = {}
    dist = tmp_path / "dist"
    done, timings["wheel"] = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)],
        tmp_path,
        dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = list(dist.glob("pytest_codex-*.whl"))
    assert wheel.stat().st_size < MAX_WHEEL_BYTES
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in STACK_FILES:
        assert f"pytest_codex/bundled/{name}" in names, name
    assert "pytest_codex_orchestrator/api.py" in names
    assert "pytest_codex/matrices/mocked.yaml" in names
    assert not [n for n in names if n.endswith((".whl", ".pyc", ".keep"))]

    venv = tmp_path / "venv"
    assert not venv.is_relative_to(REPO)
    done, timings["venv"] = run(
        [sys.executable, "-m", "venv", str(venv)], tmp_path, dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    done, timings["install"] = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        tmp_path,
        dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-2000:]

    folder = tmp_path / "empty"
    folder.mkdir()
    env = user_env(tmp_path, str(venv / "bin"))
    done, timings["mocked_run"] = run(
        [str(venv / "bin" / "pytest"), "--codex-mode=mocked", "-p", "no:cacheprovider"],
        folder,
        env,
    )
    bundle = check_mocked_run(done, folder / "docs" / "evidence")
    cache = tmp_path / "xdg-cache" / "pytest-codex"
    [context] = list(cache.glob("stack-*"))
    assert (context / "pytest_codex_orchestrator" / "api.py").is_file()
    done, _ = run([str(venv / "bin" / "codex-evidence"), "verify", str(bundle)], folder, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "codex-evidence: OK" in done.stdout
    print(f"wheel {wheel.stat().st_size} bytes; " + ", ".join(
        f"{k} {v:.1f} s" for k, v in timings.items()))  # fmt: skip


def test_checkout_run_prepares_base_image_and_wheelhouse(tmp_path: Path) -> None:
    """`pytest --codex-mode=mocked` in the checkout with no CODEX_BASE_IMAGE and no
    wheelhouse: the plugin finds the base image by tag and fills the wheelhouse."""
    env = user_env(tmp_path)
    evidence = tmp_path / "evidence"
    present = [
        image
        for image in (images.DEFAULT_BASE_IMAGE, images.DEBIAN_BASE_IMAGE)
        if images.image_present(image)
    ]
    assert present, "CI makes a base image before the Docker tests (tests/docker/conftest.py)"
    done, seconds = run(
        [
            sys.executable, "-m", "pytest", "--codex-mode=mocked", "-p", "no:cacheprovider",
            f"--codex-evidence-dir={evidence}",
        ],
        REPO,
        env,
    )  # fmt: skip
    check_mocked_run(done, evidence)
    assert f"pytest-codex: base image {present[0]} (present)" in done.stdout
    print(f"checkout mocked run {seconds:.1f} s")


@pytest.mark.parametrize(
    ("variables", "stop", "fix"),
    [
        (
            {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
            "codex stack: docker: the engine does not answer (",
            "bash scripts/ensure-docker.sh",
        ),
        (
            {"CODEX_BASE_IMAGE": "pytest-codex/absent:never"},
            "codex stack: base image: CODEX_BASE_IMAGE=pytest-codex/absent:never is neither "
            "present nor pullable; ",
            "unset CODEX_BASE_IMAGE",
        ),
    ],
    ids=["engine-down", "base-image-missing"],
)
def test_preparation_failure_stops_the_session_once(
    tmp_path: Path, variables: dict[str, str], stop: str, fix: str
) -> None:
    """No engine, or a base image that is not there: one line naming the fix, not one
    error per case, no traceback, no stack started."""
    env = user_env(tmp_path) | variables
    done, _ = run(
        [
            sys.executable, "-m", "pytest", "--codex-mode=mocked", "-p", "no:cacheprovider",
            f"--codex-evidence-dir={tmp_path / 'evidence'}",
        ],
        REPO,
        env,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert output.count("SESSION STOPPED") == 1, output[-3000:]
    assert f"SESSION STOPPED: {stop}" in output
    assert fix in output
    assert "building orchestrator image" not in output  # stopped before any build
    assert "Traceback" not in output
