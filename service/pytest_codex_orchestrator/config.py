"""The orchestrator's settings: command-line flags beat the environment beat defaults.

Every value is read once, at start, into a frozen `Settings`; a bad value is a
`ConfigError` whose message says which variable, what is wrong and how to fix it.
An empty variable counts as unset (compose passes `${VAR:-}` as an empty string).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

SQLITE_PREFIX = "sqlite:///"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class ConfigError(Exception):
    """A setting has a value the orchestrator cannot use."""


def parse_bool(where: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{where}: {raw!r} is not a boolean; use true or false")


def parse_port(where: str, raw: str) -> int:
    try:
        port = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} is not a port number; use 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: {raw!r} is out of range; use 0 to 65535")
    return port


def parse_positive_int(where: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} is not a whole number; use e.g. 1048576") from None
    if value <= 0:
        raise ConfigError(f"{where}: {raw!r} is not positive; use a number above 0")
    return value


def parse_seconds(where: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{where}: {raw!r} is not a number of seconds; use e.g. 600") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{where}: {raw!r} is not a positive, finite duration; use e.g. 600")
    return value


WORKER_BACKENDS = ("container", "swarm")


def parse_worker_backend(where: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in WORKER_BACKENDS:
        raise ConfigError(
            f"{where}: {raw!r} is not a worker backend; use {' or '.join(WORKER_BACKENDS)}"
        )
    return value


def parse_directory(where: str, raw: str) -> Path:
    del where  # any path will do; it is created at start
    return Path(raw).expanduser().absolute()


def parse_database_url(where: str, raw: str) -> Path:
    """`sqlite:///relative/path` or `sqlite:////absolute/path` to an absolute path."""
    if not raw.startswith(SQLITE_PREFIX):
        raise ConfigError(
            f"{where}: {raw!r} is not a sqlite URL; use "
            "sqlite:///relative/path or sqlite:////absolute/path"
        )
    rest = raw[len(SQLITE_PREFIX) :]
    if not rest or rest.endswith("/") or "?" in rest or "\x00" in rest:
        raise ConfigError(
            f"{where}: {raw!r} does not name a database file; use "
            "sqlite:///relative/path or sqlite:////absolute/path"
        )
    return Path(rest).absolute()


def parse_text(where: str, raw: str) -> str:
    del where
    return raw


@dataclass(frozen=True)
class _Source:
    """Where one setting comes from and how its text becomes a value."""

    field: str
    variable: str | None  # None: a flag only
    parse: Callable[[str, str], Any]
    flag: str


_SOURCES = (
    _Source("host", None, parse_text, "--host"),
    _Source("port", None, parse_port, "--port"),
    _Source("use_dummy_worker", "USE_DUMMY_WORKER", parse_bool, "--use-dummy-worker"),
    _Source("workspace_root", "WORKSPACE_ROOT", parse_directory, "--workspace-root"),
    _Source("database_path", "DATABASE_URL", parse_database_url, "--database-url"),
    _Source("worker_image", "CODEX_WORKER_IMAGE", parse_text, "--worker-image"),
    _Source("api_token", "CODEX_API_TOKEN", parse_text, "--api-token"),
    _Source("max_body_bytes", "CODEX_MAX_BODY_BYTES", parse_positive_int, "--max-body-bytes"),
    _Source("job_timeout_s", "CODEX_JOB_TIMEOUT", parse_seconds, "--job-timeout"),
    _Source("worker_network", "CODEX_WORKER_NETWORK", parse_text, "--worker-network"),
    # Where live workers run: sibling containers, or swarm jobs (issue 20).
    _Source("worker_backend", "CODEX_WORKER_BACKEND", parse_worker_backend, "--worker-backend"),
    # Bounds on file access and on connections (issue 12).
    _Source("max_file_bytes", "CODEX_MAX_FILE_BYTES", parse_positive_int, "--max-file-bytes"),
    _Source("max_tree_depth", "CODEX_MAX_TREE_DEPTH", parse_positive_int, "--max-tree-depth"),
    _Source(
        "max_list_entries", "CODEX_MAX_LIST_ENTRIES", parse_positive_int, "--max-list-entries"
    ),
    _Source("header_timeout_s", "CODEX_HEADER_TIMEOUT", parse_seconds, "--header-timeout"),
    _Source("max_connections", "CODEX_MAX_CONNECTIONS", parse_positive_int, "--max-connections"),
)
# Overrides are keyed by field name; the database also by the flag's own name.
_OVERRIDE_ALIASES = {"database_url": "database_path"}


@dataclass(frozen=True)
class Settings:
    """Everything the orchestrator reads from its environment, resolved once."""

    host: str = "127.0.0.1"
    port: int = 8000
    use_dummy_worker: bool = True
    workspace_root: Path = Path("workspaces")
    database_path: Path = Path("codex-orchestrator.db")
    worker_image: str = "codex-worker:latest"
    api_token: str | None = None
    max_body_bytes: int = 1_048_576
    job_timeout_s: float = 600.0
    worker_network: str | None = None
    worker_backend: str = "container"  # or "swarm": one replicated-job service per job
    # Bounds on file access and on connections (issue 12).
    max_file_bytes: int = 16 * 1024 * 1024  # a bigger file read answers 413 unread
    max_tree_depth: int = 64  # folders below the workspace that reads and listings enter
    max_list_entries: int = 100_000  # entries one listing may scan, else 422
    header_timeout_s: float = 10.0  # from a request's first byte to the end of its headers
    max_connections: int = 256  # open connections; beyond, 503 and close

    @property
    def mode(self) -> str:
        """`mocked` with the in-process dummy worker, `live` with worker containers."""
        return "mocked" if self.use_dummy_worker else "live"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from `environ`, with `overrides` (the command line's flags) first.

        An override is keyed by field name (`database_url` is accepted for the
        database); `None` means "not given". A text override is parsed like the
        variable it stands for; any other value must already have the field's type.
        """
        given: dict[str, object] = {}
        for key, value in overrides.items():
            name = _OVERRIDE_ALIASES.get(key, key)
            if name not in _FIELD_NAMES:
                raise TypeError(f"Settings.from_env: unknown override {key!r}")
            if value is not None:
                given[name] = value
        values: dict[str, Any] = {}
        for source in _SOURCES:
            if source.field in given:
                value = given[source.field]
                values[source.field] = (
                    source.parse(source.flag, value) if isinstance(value, str) else value
                )
                continue
            raw = "" if source.variable is None else environ.get(source.variable, "")
            if source.variable is not None and raw.strip():
                values[source.field] = source.parse(source.variable, raw)
        settings = cls(**values)
        return _absolute(settings)


_FIELD_NAMES = frozenset(field.name for field in fields(Settings))


def _absolute(settings: Settings) -> Settings:
    """Defaults are relative to the working directory at start; fix them there."""
    return replace(
        settings,
        workspace_root=settings.workspace_root.absolute(),
        database_path=settings.database_path.absolute(),
    )
