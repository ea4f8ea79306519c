"""Image preparation and the bundled stack's build context: real files, real Docker, real
pip (the wheelhouse tests download from the package index through the host, as users do)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_codex.target import images, stackfiles
from tests.conftest import REPO


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh pytest-codex cache for one test (CODEX_CACHE_DIR)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("CODEX_CACHE_DIR", str(root))
    return root


def test_context_holds_the_stack_and_is_reused(cache: Path) -> None:
    first = stackfiles.assemble()
    assert first.path == cache / f"stack-{first.digest}"
    for name in (
        *stackfiles.STACK_FILES,
        "pytest_codex_orchestrator/api.py",
        "pytest_codex_model_stub/server.py",
    ):
        assert (first.path / name).is_file(), name
    assert (first.wheelhouse / ".keep").is_file()
    assert (first.worker_wheels / ".keep").is_file()
    assert not list(first.path.rglob("__pycache__"))
    assert (first.path / "Dockerfile").read_bytes() == (REPO / "service/Dockerfile").read_bytes()
    marker = first.path / "marker"
    marker.touch()
    again = stackfiles.assemble()
    assert again == first
    assert marker.exists()  # reused, not rewritten
    assert first.compose_files("mocked", "stub") == (first.path / "compose.yaml",)
    assert [p.name for p in first.compose_files("live", "stub")] == [
        "compose.yaml",
        "compose.live.yaml",
        "compose.hermetic.yaml",
    ]
    assert [p.name for p in first.compose_files("live", "openai")] == [
        "compose.yaml",
        "compose.live.yaml",
        "compose.openai.yaml",
    ]


def test_digest_follows_every_byte(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("one")
    before = stackfiles.digest([("a.txt", source)])
    assert stackfiles.digest([("b.txt", source)]) != before
    source.write_text("two")
    assert stackfiles.digest([("a.txt", source)]) != before


def test_old_contexts_are_pruned(cache: Path) -> None:
    for number in range(stackfiles.KEEP_CONTEXTS + 2):
        old = cache / f"stack-old{number}"
        old.mkdir(parents=True)
        os.utime(old, (number, number))
    context = stackfiles.assemble()
    kept = sorted(p.name for p in cache.glob("stack-*"))
    assert len(kept) == stackfiles.KEEP_CONTEXTS
    assert context.path.name in kept
    assert "stack-old0" not in kept  # the oldest went first


def test_cache_root_follows_the_environment(tmp_path: Path) -> None:
    assert stackfiles.cache_root({"CODEX_CACHE_DIR": "/x"}) == Path("/x")
    assert stackfiles.cache_root({"XDG_CACHE_HOME": "/y"}) == Path("/y/pytest-codex")
    assert stackfiles.cache_root({}) == Path.home() / ".cache/pytest-codex"


def test_unwritable_cache_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CODEX_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(stackfiles.StackFilesError, match="set CODEX_CACHE_DIR") as caught:
        stackfiles.assemble()
    assert "\n" not in str(caught.value)


def test_wheelhouse_is_downloaded_once_then_linked(cache: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.20\n")
    dest = tmp_path / "context" / "wheelhouse"
    dest.mkdir(parents=True)
    (dest / "stale-0.1-py3-none-any.whl").write_text("old")
    count, how = images.fill_wheelhouse(requirements, dest, "3.11", "x86_64")
    assert (count, how) == (1, "downloaded")
    assert [p.name for p in dest.glob("*.whl")] == ["idna-3.20-py3-none-any.whl"]
    assert (dest / ".keep").is_file()
    count, how = images.fill_wheelhouse(requirements, dest, "3.11", "x86_64")
    assert (count, how) == (1, "cached")


def test_wheelhouse_left_empty_when_the_host_cannot_download(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no index, and no links: nothing to find
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.20\n")
    dest = tmp_path / "wheelhouse"
    count, how = images.fill_wheelhouse(requirements, dest, "3.11", "x86_64")
    assert count == 0
    assert how.startswith("host download failed: ")
    assert how.endswith("the image build uses the index")
    assert (dest / ".keep").is_file()
    assert not list((cache / "wheels").glob("*/*.whl"))


def test_debian_base_needs_root_and_says_how() -> None:
    with pytest.raises(images.ImagePrepError) as caught:
        images.build_debian_base(euid=1000)
    message = str(caught.value)
    assert message.startswith("base image: python:3.11-slim cannot be pulled")
    assert "sudo bash " in message
    assert "CODEX_BASE_IMAGE" in message
    assert "\n" not in message


@pytest.mark.docker
def test_engine_down_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    lines: list[str] = []
    with pytest.raises(images.ImagePrepError) as caught:
        images.prepare(None, progress=lines.append)
    message = str(caught.value)
    assert message.startswith("docker: the engine does not answer (")
    assert "scripts/ensure-docker.sh" in message
    assert "\n" not in message
    assert lines == []


@pytest.mark.docker
def test_base_image_from_the_environment() -> None:
    present, _ = images.base_image({})
    assert images.base_image({"CODEX_BASE_IMAGE": present}) == (
        present,
        "present, from CODEX_BASE_IMAGE",
    )
    with pytest.raises(images.ImagePrepError) as caught:
        images.base_image({"CODEX_BASE_IMAGE": "pytest-codex/absent:never"})
    message = str(caught.value)
    assert "CODEX_BASE_IMAGE=pytest-codex/absent:never is neither present nor pullable" in message
    assert "unset CODEX_BASE_IMAGE" in message


@pytest.mark.docker
def test_without_the_variable_a_present_base_is_found(cache: Path) -> None:
    image, how = images.base_image({})
    assert image in (images.DEFAULT_BASE_IMAGE, images.DEBIAN_BASE_IMAGE)
    assert how == "present"  # CI built the Debian one (or pulled the public one) before
    assert images.image_python(image) == "3.11"
    assert list((cache / "pythons").iterdir())  # the answer is cached by image id


@pytest.mark.docker
def test_prepare_for_user_compose_files_exports_only_the_base(cache: Path) -> None:
    lines: list[str] = []
    prepared = images.prepare(None, progress=lines.append, env={})
    assert prepared.env == {"CODEX_BASE_IMAGE": prepared.base_image}
    assert len(lines) == 1
    assert lines[0].startswith(f"pytest-codex: base image {prepared.base_image} (present) ")
    assert lines[0].endswith(" s")
    assert set(prepared.timings) == {"base_image"}


@pytest.mark.docker
def test_empty_wheelhouse_gets_past_copy_to_the_index(cache: Path) -> None:
    """The Dockerfile's COPY works with an empty wheelhouse: the build then asks the
    index (here with no network, so it fails there, and only there)."""
    context = stackfiles.assemble()
    base, _ = images.base_image({})
    done = subprocess.run(
        ["docker", "build", "--network", "none", "--build-arg", f"BASE_IMAGE={base}",
         "--build-arg", "PIP_RETRIES=0",
         str(context.path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "COPY failed" not in output
    assert "No matching distribution found for docker==" in output  # the index, reached for


@pytest.mark.docker
def test_prepare_builds_the_bundled_image(cache: Path) -> None:
    lines: list[str] = []
    context = stackfiles.assemble()
    prepared = images.prepare(context, progress=lines.append, env={})
    assert [line.split(" ")[1] for line in lines] == ["base", "wheelhouse", "building"]
    assert lines[2].startswith(
        f"pytest-codex: building orchestrator image {images.ORCHESTRATOR_IMAGE}"
    )
    assert set(prepared.timings) == {"base_image", "wheelhouse", "orchestrator_image"}
    assert sorted(p.name for p in context.wheelhouse.glob("*.whl"))  # filled: offline build
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", images.ORCHESTRATOR_IMAGE,
         "python3", "-c", "import docker, pytest_codex_orchestrator, pytest_codex_model_stub"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
