"""The bundled stack's build context, assembled in a cache folder from what is installed.

The same code serves a checkout and a wheel install: the stack files (compose files,
Dockerfiles, requirements, the worker's entrypoint, the base-image script) are read from
`pytest_codex/bundled/` in a wheel and from `service/` in a checkout (the same layout),
the orchestrator and model stand-in sources from the installed packages. The folder is
named after a hash of all of it, so an unchanged stack reuses the folder (and Docker its
layer cache) and a changed one gets a fresh folder. No pytest import here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest_codex

# Relative to the source folder, the same in `service/` and `pytest_codex/bundled/`.
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
# Service packages copied into the context from where they are installed.
PACKAGES = ("pytest_codex_orchestrator", "pytest_codex_model_stub")
# Folders the image builds copy; they always exist (with a .keep), wheels or not.
WHEELHOUSE = "wheelhouse"
WORKER_WHEELS = "worker/wheels"
MAX_SOURCE_FILES = 500  # per package: a bound on the walk, far above the ~20 there are
KEEP_CONTEXTS = 4  # older stack-<hash> folders beyond this many are removed
HASH_LENGTH = 16


class StackFilesError(Exception):
    """The bundled stack files are missing or cannot be written; the text says why."""


@dataclass(frozen=True)
class BuildContext:
    """An assembled build context: compose files, Dockerfiles, sources, wheel folders."""

    path: Path
    digest: str

    @property
    def wheelhouse(self) -> Path:
        return self.path / WHEELHOUSE

    @property
    def worker_wheels(self) -> Path:
        return self.path / WORKER_WHEELS

    @property
    def worker(self) -> Path:
        return self.path / "worker"

    def compose_files(self, mode: str, live_model: str) -> tuple[Path, ...]:
        """The stack for a mode: mocked, live with the model stand-in (hermetic), or live
        with the real model behind the workers' forwarding proxy."""
        files = [self.path / "compose.yaml"]
        if mode == "live":
            files.append(self.path / "compose.live.yaml")
            overlay = "compose.hermetic.yaml" if live_model == "stub" else "compose.openai.yaml"
            files.append(self.path / overlay)
        return tuple(files)


def cache_root(env: Mapping[str, str] = os.environ) -> Path:
    """`$CODEX_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/pytest-codex`."""
    if env.get("CODEX_CACHE_DIR"):
        return Path(env["CODEX_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-codex"


def source_dir() -> Path:
    """Where the stack files are: `pytest_codex/bundled/` (wheel) or `service/` (checkout)."""
    package = Path(pytest_codex.__file__).resolve().parent
    for candidate in (package / "bundled", package.parent / "service"):
        if (candidate / "compose.yaml").is_file():
            return candidate
    raise StackFilesError(
        f"bundled stack: no compose.yaml in {package / 'bundled'} or {package.parent / 'service'}"
        "; reinstall pytest-codex (the wheel ships them) or pass --codex-compose-file"
    )


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise StackFilesError(
            f"bundled stack: package {name!r} is not installed; reinstall pytest-codex"
        )
    return Path(locations[0]).resolve()


def package_files(name: str) -> list[tuple[str, Path]]:
    """(path in the context, source) for every source file of a package, sorted."""
    root = package_dir(name)
    found: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or not path.is_file():
            continue
        found.append((f"{name}/{path.relative_to(root).as_posix()}", path))
        if len(found) > MAX_SOURCE_FILES:
            raise StackFilesError(
                f"bundled stack: {root} holds more than {MAX_SOURCE_FILES} files; "
                "is the package folder the right one?"
            )
    return found


def context_files() -> list[tuple[str, Path]]:
    """Everything the context holds apart from wheels: (path in the context, source)."""
    source = source_dir()
    files: list[tuple[str, Path]] = []
    for name in STACK_FILES:
        path = source / name
        if not path.is_file():
            raise StackFilesError(
                f"bundled stack: {path} is missing; reinstall pytest-codex "
                "or pass --codex-compose-file"
            )
        files.append((name, path))
    for package in PACKAGES:
        files += package_files(package)
    return files


def digest(files: list[tuple[str, Path]]) -> str:
    hasher = hashlib.sha256()
    for name, path in files:
        hasher.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:HASH_LENGTH]


def assemble(root: Path | None = None) -> BuildContext:
    """The build context for the installed stack, made once per content hash under
    `root` (default `cache_root()`): `stack-<hash>/`."""
    root = root if root is not None else cache_root()
    files = context_files()
    key = digest(files)
    target = root / f"stack-{key}"
    if not (target / "compose.yaml").is_file():
        try:
            _write(root, target, files)
        except OSError as error:
            raise StackFilesError(
                f"bundled stack: cannot write {target}: {error.strerror or error}; "
                "set CODEX_CACHE_DIR to a writable folder"
            ) from None
        _prune(root, keep=target)
    return BuildContext(target, key)


def bundled_context(files: tuple[Path, ...]) -> BuildContext | None:
    """The assembled context when `files` are the bundled stack's (what
    `assemble().compose_files` gave), else None: the user's own compose files."""
    if not files or not files[0].parent.name.startswith("stack-"):
        return None
    context = assemble()
    return context if files[0].parent == context.path else None


def _write(root: Path, target: Path, files: list[tuple[str, Path]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{target.name}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for name, source in files:
        dest = staging / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    for folder in (WHEELHOUSE, WORKER_WHEELS):
        (staging / folder).mkdir(parents=True, exist_ok=True)
        (staging / folder / ".keep").touch()
    if target.exists():  # without compose.yaml: not one of ours (they appear whole, by rename)
        shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:  # another session made it first: theirs is the same content
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "compose.yaml").is_file():
            raise


def _prune(root: Path, keep: Path) -> None:
    """Remove the oldest stack folders beyond KEEP_CONTEXTS (never `keep`)."""
    contexts = sorted(
        (p for p in root.glob("stack-*") if p.is_dir() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in contexts[KEEP_CONTEXTS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
