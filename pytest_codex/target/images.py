"""Image preparation before `compose up`: a base image, wheelhouses, the bundled images.

What `scripts/lib.sh` did in shell, now done by the plugin for every user:

- base image: `$CODEX_BASE_IMAGE` when set (present or pullable), else `python:3.11-slim`
  when present, else the project's Debian image (`$CODEX_DEBIAN_IMAGE`, default
  `pytest-codex/base:bookworm`) when already built, else
  `python:3.11-slim` pulled (PULL_TIMEOUT), else the Debian image built by the shipped
  script (debootstrap + `docker import`; root);
- wheelhouses: the images' Python packages downloaded on the host (where the package
  index is reachable even when containers reach nothing) into a cache, for the image's
  Python and platform, and linked into the build context; without them the Dockerfiles
  install from the index;
- the bundled orchestrator image (and in live mode the worker image) built from the
  assembled context (`stackfiles.assemble`), tagged `$CODEX_ORCHESTRATOR_IMAGE` and
  `$CODEX_WORKER_IMAGE` when set (runs of different checkouts sharing an engine then
  never use each other's builds), else the default tags.

One progress line per step with its duration goes to `progress`. Every failure is one
`ImagePrepError` (a `StackError`) whose text is `<where>: <what>; <how to fix>`; the last
lines of the failed command are in its `details`; docker runs through
`pytest_codex.target.docker.run`. No pytest import here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_codex.target import docker, stackfiles
from pytest_codex.target.docker import StackError
from pytest_codex.target.stackfiles import BuildContext

DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEBIAN_BASE_IMAGE = "pytest-codex/base:bookworm"
ORCHESTRATOR_IMAGE = "pytest-codex/orchestrator:latest"
WORKER_IMAGE = "codex-worker:latest"
ENGINE_TIMEOUT = 30.0  # `docker version`, `image inspect`
PULL_TIMEOUT = 30.0  # one pull of the public base image (a registry that does not answer)
PROBE_TIMEOUT = 60.0  # one `docker run` asking the base image for its Python version
DEBIAN_BUILD_TIMEOUT = 900.0  # debootstrap + docker import (~45-65 s here)
DOWNLOAD_TIMEOUT = 900.0  # one `pip download` of a requirements file (the CLI is ~142 MB)
BUILD_TIMEOUT = 900.0  # one `docker build`
DETAIL_LINES = 15  # lines of a failed command's output kept in ImagePrepError.details
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}  # Docker's names to wheel platform tags
GLIBC_MINOR = 36  # Debian bookworm's glibc 2.36 (both base images are bookworm)
LEGACY_MANYLINUX = ("manylinux2014", "manylinux2010", "manylinux1")

Progress = Callable[[str], None]


class ImagePrepError(StackError):
    """An image could not be prepared; str() is one line with the cause and the fix."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Prepared:
    """What the compose command needs (`env`) and what each step took (`timings`)."""

    base_image: str
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


class _Steps:
    """Times each step and prints its progress line."""

    def __init__(self, progress: Progress, timings: dict[str, float]) -> None:
        self.progress = progress
        self.timings = timings

    def done(self, key: str, started: float, text: str) -> None:
        seconds = time.perf_counter() - started
        self.timings[key] = round(seconds, 3)
        self.progress(f"pytest-codex: {text} {seconds:.1f} s")


def prepare(
    context: BuildContext | None,
    *,
    live: bool = False,
    progress: Progress = to_stderr,
    env: Mapping[str, str] = os.environ,
) -> Prepared:
    """Prepare the images a stack needs; once per session, before `compose up`.

    `context`: the bundled stack's assembled context (`stackfiles.assemble()`): its
    wheelhouses are filled and its images built (the worker image too when `live`). None
    for the user's own compose files: only the base image, exported as CODEX_BASE_IMAGE.
    """
    prepared = Prepared(base_image="")
    steps = _Steps(progress, prepared.timings)
    started = time.perf_counter()
    arch = engine_arch()
    base, how = base_image(env)
    prepared.base_image = base
    prepared.env["CODEX_BASE_IMAGE"] = base
    steps.done("base_image", started, f"base image {base} ({how})")
    if context is None:
        return prepared
    wheelhouses = [("wheelhouse", context.path / "requirements.txt", context.wheelhouse)]
    orchestrator = env.get("CODEX_ORCHESTRATOR_IMAGE") or ORCHESTRATOR_IMAGE
    prepared.env["CODEX_ORCHESTRATOR_IMAGE"] = orchestrator
    images = [("orchestrator", orchestrator, context.path)]
    if live:
        worker = env.get("CODEX_WORKER_IMAGE") or WORKER_IMAGE
        prepared.env["CODEX_WORKER_IMAGE"] = worker
        wheelhouses.append(
            ("worker wheelhouse", context.worker / "requirements.txt", context.worker_wheels)
        )
        images.append(("worker", worker, context.worker))
    python = ""
    for label, requirements, dest in wheelhouses:
        started = time.perf_counter()
        python = python or image_python(base, env)  # cached by image id after the first run
        count, how = fill_wheelhouse(requirements, dest, python, arch, env)
        steps.done(label.replace(" ", "_"), started, f"{label} {count} wheels ({how})")
    for name, tag, folder in images:
        started = time.perf_counter()
        build_image(tag, folder, base)
        steps.done(f"{name}_image", started, f"building {name} image {tag}")
    return prepared


def _docker(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The exit code is the caller's to judge; no `docker` or no answer is StackError."""
    return docker.docker(*args, timeout=timeout, check=False)


def _tail(text: str, lines: int = DETAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def engine_arch() -> str:
    """The engine's architecture as a wheel platform tag part (x86_64, aarch64)."""
    done = _docker("version", "--format", "{{.Server.Arch}}", timeout=ENGINE_TIMEOUT)
    arch = done.stdout.strip()
    if done.returncode != 0 or not arch:
        raise ImagePrepError(
            f"docker: the engine does not answer ({_first_line(done.stderr)}); start it "
            "(in a checkout: bash scripts/ensure-docker.sh) or pass --codex-base-url"
        )
    return ARCHES.get(arch, arch)


def image_present(image: str) -> bool:
    return _docker("image", "inspect", image, timeout=ENGINE_TIMEOUT).returncode == 0


def pull(image: str, timeout: float = PULL_TIMEOUT) -> bool:
    try:
        return _docker("pull", "-q", image, timeout=timeout).returncode == 0
    except StackError:  # a pull that hangs counts as not pullable
        return False


def base_image(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """(image, how it was found) in the documented order; builds the Debian one last."""
    chosen = env.get("CODEX_BASE_IMAGE")
    if chosen:
        if image_present(chosen):
            return chosen, "present, from CODEX_BASE_IMAGE"
        if pull(chosen):
            return chosen, "pulled, from CODEX_BASE_IMAGE"
        raise ImagePrepError(
            f"base image: CODEX_BASE_IMAGE={chosen} is neither present nor pullable; "
            "build or pull it, or unset CODEX_BASE_IMAGE to let pytest-codex make one"
        )
    debian = env.get("CODEX_DEBIAN_IMAGE") or DEBIAN_BASE_IMAGE
    for image in (DEFAULT_BASE_IMAGE, debian):
        if image_present(image):
            return image, "present"
    if pull(DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE, "pulled"
    build_debian_base(tag=debian)
    return debian, f"built from Debian packages: {DEFAULT_BASE_IMAGE} cannot be pulled"


def base_image_script() -> Path:
    return stackfiles.source_dir() / "base-image" / "build.sh"


def build_debian_base(
    tag: str = DEBIAN_BASE_IMAGE,
    script: Path | None = None,
    euid: int | None = None,
    timeout: float = DEBIAN_BUILD_TIMEOUT,
) -> None:
    """Run the shipped script (debootstrap + docker import) to make `tag`: it needs
    root, and installs debootstrap with apt-get when missing."""
    script = script if script is not None else base_image_script()
    euid = euid if euid is not None else os.geteuid()
    fix = (
        f"run `sudo bash {script} --debian` once, or make {DEFAULT_BASE_IMAGE} available "
        "(docker pull / docker load), or set CODEX_BASE_IMAGE to a local image with python3"
    )
    if euid != 0:
        raise ImagePrepError(
            f"base image: {DEFAULT_BASE_IMAGE} cannot be pulled and building "
            f"{tag} from Debian packages needs root; {fix}"
        )
    if shutil.which("debootstrap") is None and shutil.which("apt-get") is None:
        raise ImagePrepError(
            f"base image: building {tag} needs debootstrap and there is no "
            f"apt-get to install it; install debootstrap, or {fix}"
        )
    try:
        done = subprocess.run(
            ["bash", str(script), "--debian"],
            env={**os.environ, "CODEX_DEBIAN_IMAGE": tag},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ImagePrepError(
            f"base image: building {tag} took over {timeout:.0f} s; "
            f"check the Debian mirror (CODEX_DEBIAN_MIRROR), or {fix}"
        ) from None
    if done.returncode != 0:
        raise ImagePrepError(
            f"base image: building {tag} failed ({_first_line(done.stderr)}); "
            f"check the Debian mirror (CODEX_DEBIAN_MIRROR), or {fix}",
            _tail(done.stderr),
        )


def image_python(image: str, env: Mapping[str, str] = os.environ) -> str:
    """The base image's Python as `3.11`; cached by image id (one `docker run` per id)."""
    done = _docker("image", "inspect", "--format", "{{.Id}}", image, timeout=ENGINE_TIMEOUT)
    image_id = done.stdout.strip().replace("sha256:", "")
    cache = stackfiles.cache_root(env) / "pythons" / (image_id or "unknown")
    if image_id and cache.is_file():
        return cache.read_text().strip()
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    done = _docker(
        "run", "--rm", "--network", "none", image, "python3", "-c", probe, timeout=PROBE_TIMEOUT
    )
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        raise ImagePrepError(
            f"base image: {image} has no working python3 ({_first_line(done.stderr)}); "
            "set CODEX_BASE_IMAGE to an image with python3 (and its venv module), or unset it",
            _tail(done.stderr),
        )
    if image_id:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(version + "\n")
    return version


def fill_wheelhouse(
    requirements: Path, dest: Path, python: str, arch: str, env: Mapping[str, str] = os.environ
) -> tuple[int, str]:
    """Wheels for `requirements` in `dest`, for CPython `python` on glibc `arch`:
    downloaded on the host into the cache once per (requirements, python, arch), then
    linked into `dest`. (count, how); 0 wheels when the host cannot download them either
    (the image build then installs from the index)."""
    key = hashlib.sha256(requirements.read_bytes() + f"\0{python}\0{arch}".encode()).hexdigest()[
        :16
    ]
    store = stackfiles.cache_root(env) / "wheels" / key
    how = "cached"
    if not (store / ".complete").is_file():
        error = _download(requirements, store, python, arch)
        if error is not None:
            _link_wheels([], dest)
            return 0, f"host download failed: {error}; the image build uses the index"
        how = "downloaded"
    wheels = sorted(store.glob("*.whl"))
    _link_wheels(wheels, dest)
    return len(wheels), how


def platform_options(arch: str) -> list[str]:
    """`--platform` for every manylinux tag a glibc 2.36 image accepts (pip does not
    widen `manylinux_2_36` to the older tags by itself)."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 4, -1)]
    tags += [f"{legacy}_{arch}" for legacy in LEGACY_MANYLINUX]
    return [option for tag in tags for option in ("--platform", tag)]


def _download(requirements: Path, store: Path, python: str, arch: str) -> str | None:
    staging = store.with_name(f".{store.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    nodot = python.replace(".", "")
    argv = [
        sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
        "--only-binary=:all:", *platform_options(arch),
        "--python-version", python, "--implementation", "cp", "--abi", f"cp{nodot}",
        "--dest", str(staging), "-r", str(requirements),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(staging, ignore_errors=True)
        return f"no result within {DOWNLOAD_TIMEOUT:.0f} s"
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [line for line in done.stderr.splitlines() if "is ignored" not in line]
        return _first_line("\n".join(lines))
    (staging / ".complete").touch()
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(store)
    except OSError:  # another session stored the same wheels first
        shutil.rmtree(staging, ignore_errors=True)
    return None


def _link_wheels(wheels: list[Path], dest: Path) -> None:
    """Make `dest` hold exactly `wheels` (hard links, copies across file systems)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".keep").touch()
    wanted = {wheel.name for wheel in wheels}
    for present in dest.glob("*.whl"):
        if present.name not in wanted:
            present.unlink()
    for wheel in wheels:
        target = dest / wheel.name
        if target.exists():
            continue
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copyfile(wheel, target)


def build_image(tag: str, folder: Path, base: str, timeout: float = BUILD_TIMEOUT) -> None:
    """`docker build` of a context folder with BASE_IMAGE; one-line error on failure."""
    done = _docker(
        "build", "-q", "-t", tag, "--build-arg", f"BASE_IMAGE={base}", str(folder),
        timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        output = done.stdout + done.stderr
        raise ImagePrepError(
            f"image {tag}: docker build of {folder} failed ({_first_line(output)}); "
            "see the lines below, fix the cause (base image, wheelhouse, network) and rerun",
            _tail(output),
        )
