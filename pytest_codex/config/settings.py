"""The harness settings: command line over ini over default, resolved once.

`resolve()` turns raw option values into a frozen `Settings` (each value parsed and
checked in `values.py`); a bad value or a bad combination raises `SettingsError` whose
text names the option, the value and the fix.
The plugin turns that into `pytest.UsageError`. No pytest import here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_codex.config import values
from pytest_codex.config.values import (
    BUNDLED_MATRICES,
    DEFAULT_ENV_FILE,
    DEFAULT_EVIDENCE_DIR,
    DEFAULT_HEALTH_PATH,
    DEFAULT_LIVE_REQUEST_TIMEOUT,
    DEFAULT_MATRIX,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_OUTAGE_WAIT,
    DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_SERVICE,
    DEFAULT_STARTUP_TIMEOUT,
    RawOption,
    SettingsError,
)

# Re-exported: the adapter and the tests take these from the settings module.
__all__ = [
    "DEFAULT_HEALTH_PATH",
    "RawOption",
    "Settings",
    "SettingsError",
    "Target",
    "check_evidence_dir",
    "check_matrix_paths",
    "defaults_base",
    "ignored_ini_file",
    "is_within",
    "resolve",
    "space_form_values",
]


@dataclass(frozen=True)
class Target:
    """Everything the harness assumes about the orchestrator under test, in one place:
    the compose service and container port to find it, how readiness shows, and where
    its workspaces lie on this host (if known). Where it runs (a URL or compose files) is
    in the Settings."""

    service: str = DEFAULT_SERVICE
    port: int = DEFAULT_PORT
    health_path: str = DEFAULT_HEALTH_PATH
    workspace_root: Path | None = None  # given by the user; a started stack makes its own


@dataclass(frozen=True)
class Settings:
    mode: str
    base_url: str | None
    compose_files: tuple[Path, ...] | None  # None: the bundled stack for the mode
    matrix_paths: tuple[Path, ...]
    evidence_dir: Path
    env_file: Path | None
    keep_stack: bool
    startup_timeout: float
    request_timeout: float
    live_model: str
    mode_given: bool
    target: Target = Target()
    signing_key: str | None = None  # a path or the PEM text (CODEX_SIGNING_KEY)
    evidence_archive: bool = False  # also write <timestamp>/<mode>.tar.gz
    evidence_keep: int | None = None  # keep only this many newest runs in evidence_dir
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    result_schema: Path | None = None  # the target's result.json schema (default: shipped)
    defaults_base: Path | None = None  # where the defaults were resolved, when not rootdir
    engine: str = "compose"  # or "swarm": the bundled stack with `docker stack deploy`
    registry: str | None = None  # swarm: push the built images here (HOST:PORT)
    outage_wait: float = DEFAULT_OUTAGE_WAIT  # 0: a target that stops answering is not awaited
    traversal_policy: str = "strict"  # what a traversal payload's answer must be


def defaults_base(invocation_dir: Path, rootdir: Path) -> Path:
    """Where the defaults (matrices/, docs/evidence, .env.live) resolve: the rootdir, unless
    pytest chose one that is not an ancestor of the invocation directory (e.g. because an
    option's value was given after a space and taken for a path); then the invocation
    directory, where the user stands."""
    invocation, root = invocation_dir.resolve(), rootdir.resolve()
    if invocation == root or root in invocation.parents:
        return rootdir
    return invocation_dir


INI_FILES = (
    ("pytest.ini", ""),
    (".pytest.ini", ""),
    ("pyproject.toml", "[tool.pytest"),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
)


def ignored_ini_file(
    invocation_dir: Path, inipath: Path | None, *, explicit: bool = False
) -> Path | None:
    """The pytest ini file nearest above the invocation directory, when pytest did not
    use it (it chose its rootdir and ini file from a path argument elsewhere); None when
    it did, when there is none, or when one was given with `-c`."""
    if explicit:
        return None
    folder = invocation_dir.resolve()
    for _ in range(64):  # bounded: a path has far fewer parents
        for name, marker in INI_FILES:
            candidate = folder / name
            if candidate.is_file() and (
                not marker or marker in candidate.read_text(encoding="utf-8", errors="replace")
            ):
                used = inipath is not None and candidate.resolve() == inipath.resolve()
                return None if used else candidate
        if folder.parent == folder:
            return None
        folder = folder.parent
    return None


def space_form_values(args: Sequence[str]) -> list[tuple[str, str]]:
    """`--codex-x VALUE` pairs written with a space: pytest looks for its rootdir and ini
    file before it knows the plugin's options, so it takes VALUE for a path."""
    pairs = []
    for option, value in itertools.pairwise(args):
        if option.startswith("--codex-") and "=" not in option and not value.startswith("-"):
            pairs.append((option, value))
    return pairs


def resolve(
    options: dict[str, RawOption],
    *,
    invocation_dir: Path,
    rootdir: Path,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    ini_dir: Path | None = None,
) -> Settings:
    """Resolve every `codex` option; relative cli paths start at the invocation directory,
    relative ini paths and the defaults at `home` (default: see `defaults_base`)."""
    # ~64 lines: one keyword per Settings field, each from its own checker in values.py;
    # split, the mapping from option to field would be in two places.
    home = home or defaults_base(invocation_dir, rootdir)

    def base_for(source: str) -> Path:
        # Relative paths: from where the user stands (command line), from the ini file's
        # folder (as pytest resolves its own `paths` options), else from `home`.
        if source == "cli":
            return invocation_dir
        return ini_dir if source == "ini" and ini_dir is not None else home

    def option(name: str) -> RawOption:
        return options.get(name, RawOption(None, None))

    mode, mode_given = values.mode(option("mode"))
    base_url_value, _ = values.pick(option("base_url"))
    base_url = None if base_url_value is None else values.base_url(base_url_value)
    compose_files = values.compose_files(option("compose_file"), base_for, base_url)
    engine = values.engine(option("engine"), base_url, compose_files)
    return Settings(
        mode=mode,
        base_url=base_url,
        compose_files=compose_files,
        matrix_paths=_matrix_paths(option("matrix"), base_for),
        evidence_dir=_folder(option("evidence_dir"), DEFAULT_EVIDENCE_DIR, base_for),
        env_file=_env_file(option("env_file"), mode, home, base_for),
        keep_stack=values.flag(option("keep_stack")),
        startup_timeout=values.timeout(
            "startup-timeout", option("startup_timeout"), DEFAULT_STARTUP_TIMEOUT
        ),
        request_timeout=values.timeout(
            "request-timeout",
            option("request_timeout"),
            DEFAULT_LIVE_REQUEST_TIMEOUT if mode == "live" else DEFAULT_REQUEST_TIMEOUT,
        ),
        live_model=values.live_model(option("live_model")),
        # `codex_mode` in the ini file asks for the harness as much as the flag does.
        mode_given=mode_given,
        target=Target(
            service=values.service(option("service")),
            port=values.port(option("port")),
            health_path=values.health_path(option("health_path")),
            workspace_root=values.workspace_root(option("workspace_root"), base_for),
        ),
        signing_key=values.signing_key(option("signing_key"), base_for, environ or {}),
        defaults_base=None if home == rootdir else home,
        evidence_archive=values.flag(option("evidence_archive"), "codex_evidence_archive"),
        evidence_keep=values.keep(option("evidence_keep")),
        max_response_bytes=values.byte_count(option("max_response_bytes")),
        result_schema=values.result_schema(option("result_schema"), base_for),
        engine=engine,
        registry=values.registry(option("registry"), engine),
        outage_wait=values.outage_wait(option("outage_wait")),
        traversal_policy=values.traversal_policy(option("traversal_policy")),
    )


def _matrix_paths(option: RawOption, base_for: Callable[[str], Path]) -> tuple[Path, ...]:
    """The matrices to run; the ones shipped in the wheel when the rootdir has none."""
    value, source = values.pick(option)
    found = values.paths(value or DEFAULT_MATRIX, base_for(source))
    if value is None and not found[0].exists() and BUNDLED_MATRICES.is_dir():
        return (BUNDLED_MATRICES,)
    return found


def _folder(option: RawOption, default: str, base_for: Callable[[str], Path]) -> Path:
    value, source = values.pick(option)
    return values.paths(value or default, base_for(source))[0]


def _env_file(
    option: RawOption, mode: str, home: Path, base_for: Callable[[str], Path]
) -> Path | None:
    """The live env file: the option's, else `.env.live` at `home` in live mode."""
    value, source = values.pick(option)
    if value is not None:
        return values.paths(value, base_for(source))[0]
    return (home / DEFAULT_ENV_FILE).resolve() if mode == "live" else None


def check_matrix_paths(settings: Settings) -> None:
    """Explicitly requested matrices must exist (checked only when the harness runs)."""
    for path in settings.matrix_paths:
        if not path.exists():
            raise SettingsError(
                f"--codex-matrix: {str(path)!r} does not exist; "
                "give matrix files or folders (default: matrices/)"
            )


def is_within(path: Path, roots: Sequence[Path]) -> bool:
    """Whether `path` is one of `roots` or below one of them."""
    resolved = Path(os.path.realpath(path))
    return any(resolved == root or root in resolved.parents for root in roots)


def check_evidence_dir(settings: Settings) -> None:
    """The evidence folder can be created and written (checked once, at start-up)."""
    folder = settings.evidence_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".pytest-codex-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise SettingsError(
            f"--codex-evidence-dir: {str(folder)!r} cannot be written "
            f"({error.strerror or type(error).__name__}); give a writable folder"
        ) from None
