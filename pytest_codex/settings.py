"""The harness settings: command line over ini over default, resolved once.

`resolve()` turns raw option values into a frozen `Settings`; a bad value or a bad
combination raises `SettingsError` whose text names the option, the value and the fix.
The plugin turns that into `pytest.UsageError`. No pytest import here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("mocked", "live")
DEFAULT_MATRIX = "matrices"
# The seed matrices shipped in the wheel; used when the rootdir has no matrices/ of its own.
BUNDLED_MATRICES = Path(__file__).resolve().parent / "matrices"
DEFAULT_EVIDENCE_DIR = "docs/evidence"
DEFAULT_ENV_FILE = ".env.live"
DEFAULT_STARTUP_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 60.0
# Live mode: one creation waits for a whole job, so above the live overlay's job timeout
# (CODEX_JOB_TIMEOUT, 300 s) plus a worker's start and removal.
DEFAULT_LIVE_REQUEST_TIMEOUT = 360.0
LIVE_MODELS = ("stub", "openai")


class SettingsError(Exception):
    """An option value that cannot be used; the text says which and how to fix it."""


@dataclass(frozen=True)
class RawOption:
    """One option as pytest saw it: the command-line value, else the ini value."""

    cli: object
    ini: object


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

    @property
    def uses_compose(self) -> bool:
        return self.base_url is None


def _pick(option: RawOption) -> tuple[object, str]:
    """The value that wins and where it came from ("cli", "ini" or "default")."""
    if option.cli not in (None, [], ()):
        return option.cli, "cli"
    if option.ini not in (None, "", [], ()):
        return option.ini, "ini"
    return None, "default"


def _paths(value: object, base: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split()
    return tuple((base / str(item)).resolve() for item in items if str(item).strip())


def _timeout(name: str, option: RawOption, default: float) -> float:
    value, _ = _pick(option)
    if value is None:
        return default
    try:
        seconds = float(str(value))
    except ValueError:
        raise SettingsError(
            f"--codex-{name}: {value!r} is not a number; give seconds, e.g. 30"
        ) from None
    if not 0 < seconds <= 3600:
        raise SettingsError(f"--codex-{name}: {value!r} is out of range; use 0 < seconds <= 3600")
    return seconds


def _flag(option: RawOption) -> bool:
    value, _ = _pick(option)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"codex_keep_stack: {value!r} is not a boolean; use true or false")


def _base_url(value: object) -> str:
    url = str(value).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"--codex-base-url: {value!r} is not an http(s) URL; "
            "give one like http://127.0.0.1:8000"
        )
    if parts.path or parts.query:
        raise SettingsError(
            f"--codex-base-url: {value!r} has a path; give only scheme, host and port"
        )
    return url


def resolve(
    options: dict[str, RawOption],
    *,
    invocation_dir: Path,
    rootdir: Path,
) -> Settings:
    """Resolve every `codex` option; relative cli paths start at the invocation directory,
    relative ini paths at the rootdir."""

    def base_for(source: str) -> Path:
        return invocation_dir if source == "cli" else rootdir

    mode_value, mode_source = _pick(options["mode"])
    mode = str(mode_value or "mocked")
    if mode not in MODES:
        raise SettingsError(f"--codex-mode: {mode!r} is not a mode; use mocked or live")

    base_url_value, _ = _pick(options["base_url"])
    base_url = None if base_url_value is None else _base_url(base_url_value)

    compose_value, compose_source = _pick(options["compose_file"])
    if base_url is not None and compose_value is not None:
        raise SettingsError(
            "--codex-base-url and --codex-compose-file exclude each other; "
            "give the URL of a running orchestrator or the compose files to start one"
        )
    compose_files = None
    if compose_value is not None:
        compose_files = _paths(compose_value, base_for(compose_source))
        for path in compose_files:
            if not path.is_file():
                raise SettingsError(
                    f"--codex-compose-file: {str(path)!r} does not exist; "
                    "give a compose file or --codex-base-url"
                )

    matrix_value, matrix_source = _pick(options["matrix"])
    matrix_paths = _paths(matrix_value or DEFAULT_MATRIX, base_for(matrix_source))
    if matrix_value is None and not matrix_paths[0].exists() and BUNDLED_MATRICES.is_dir():
        matrix_paths = (BUNDLED_MATRICES,)

    evidence_value, evidence_source = _pick(options["evidence_dir"])
    evidence_dir = _paths(evidence_value or DEFAULT_EVIDENCE_DIR, base_for(evidence_source))[0]

    env_value, env_source = _pick(options["env_file"])
    if env_value is not None:
        env_file: Path | None = _paths(env_value, base_for(env_source))[0]
    elif mode == "live":
        env_file = (rootdir / DEFAULT_ENV_FILE).resolve()
    else:
        env_file = None

    live_model_value, _ = _pick(options["live_model"])
    live_model = str(live_model_value or "stub")
    if live_model not in LIVE_MODELS:
        raise SettingsError(
            f"--codex-live-model: {live_model!r} is not a model endpoint; use stub "
            "(the bundled stand-in, hermetic) or openai (OPENAI_BASE_URL or the public API)"
        )

    return Settings(
        mode=mode,
        base_url=base_url,
        compose_files=compose_files,
        matrix_paths=matrix_paths,
        evidence_dir=evidence_dir,
        env_file=env_file,
        keep_stack=_flag(options["keep_stack"]),
        startup_timeout=_timeout(
            "startup-timeout", options["startup_timeout"], DEFAULT_STARTUP_TIMEOUT
        ),
        request_timeout=_timeout(
            "request-timeout",
            options["request_timeout"],
            DEFAULT_LIVE_REQUEST_TIMEOUT if mode == "live" else DEFAULT_REQUEST_TIMEOUT,
        ),
        live_model=live_model,
        mode_given=mode_source == "cli",
    )


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
