"""The harness settings: command line over ini over default, resolved once.

`resolve()` turns raw option values into a frozen `Settings`; a bad value or a bad
combination raises `SettingsError` whose text names the option, the value and the fix.
The plugin turns that into `pytest.UsageError`. No pytest import here.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MODES = ("mocked", "live")
DEFAULT_MATRIX = "matrices"
# The seed matrices shipped in the wheel; used when the rootdir has no matrices/ of its own.
BUNDLED_MATRICES = Path(__file__).resolve().parents[1] / "matrices"
DEFAULT_EVIDENCE_DIR = "docs/evidence"
DEFAULT_ENV_FILE = ".env.live"
DEFAULT_STARTUP_TIMEOUT = 120.0
DEFAULT_REQUEST_TIMEOUT = 60.0
# Live mode: one creation waits for a whole job, so above the live overlay's job timeout
# (CODEX_JOB_TIMEOUT, 300 s) plus a worker's start and removal.
DEFAULT_LIVE_REQUEST_TIMEOUT = 360.0
ENGINES = ("compose", "swarm")
REGISTRY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[a-z0-9._-]+)*")
LIVE_MODELS = ("stub", "openai")
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_SERVICE = "orchestrator"
DEFAULT_PORT = 8000
DEFAULT_HEALTH_PATH = "/healthz"
SIGNING_KEY_ENV = "CODEX_SIGNING_KEY"
DEFAULT_OUTAGE_WAIT = 60.0  # seconds a case waits for a target that stopped answering
MAX_OUTAGE_WAIT = 3600.0
TRAVERSAL_POLICIES = ("strict", "resolve")  # see docs/matrices.md, "Traversal policy"
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class SettingsError(Exception):
    """An option value that cannot be used; the text says which and how to fix it."""


@dataclass(frozen=True)
class RawOption:
    """One option as pytest saw it: the command-line value, else the ini value."""

    cli: object
    ini: object


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


def _outage_wait(option: RawOption) -> float:
    value, _ = _pick(option)
    if value is None:
        return DEFAULT_OUTAGE_WAIT
    try:
        seconds = float(str(value))
    except ValueError:
        raise SettingsError(
            f"--codex-outage-wait: {value!r} is not a number; give seconds, e.g. 60 (0: no wait)"
        ) from None
    if not 0 <= seconds <= MAX_OUTAGE_WAIT:
        raise SettingsError(
            f"--codex-outage-wait: {value!r} is out of range; use 0 <= seconds <= 3600"
        )
    return seconds


def _traversal_policy(option: RawOption) -> str:
    value, _ = _pick(option)
    policy = str(value or "strict")
    if policy not in TRAVERSAL_POLICIES:
        raise SettingsError(
            f"--codex-traversal-policy: {policy!r} is not a policy; use strict (400 for "
            "every payload) or resolve (400 for escapes, 400 or 404 for names inside)"
        )
    return policy


def _result_schema(option: RawOption, base_for: Callable[[str], Path]) -> Path | None:
    value, source = _pick(option)
    if value is None:
        return None
    path = _paths(value, base_for(source))[0]
    try:
        Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))
    except RecursionError:
        raise SettingsError(
            f"--codex-result-schema: {str(path)!r} nests too deep to be read; flatten it "
            "with $defs"
        ) from None
    except (OSError, ValueError, SchemaError) as error:
        what = getattr(error, "message", None) or getattr(error, "strerror", None) or error
        raise SettingsError(
            f"--codex-result-schema: {str(path)!r} is not a readable JSON Schema ({what}); "
            "give the JSON Schema your orchestrator's .codex/result.json follows"
        ) from None
    return path


def _bytes(option: RawOption) -> int:
    value, _ = _pick(option)
    if value is None:
        return DEFAULT_MAX_RESPONSE_BYTES
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if not 1024 <= count <= 2**34:
        raise SettingsError(
            f"--codex-max-response-bytes: {value!r} is not a size in bytes; give one from "
            "1024 to 16 GiB (default 16 MiB)"
        )
    return count


def _keep(option: RawOption) -> int | None:
    value, _ = _pick(option)
    if value is None:
        return None
    try:
        keep = int(str(value))
    except ValueError:
        keep = 0
    if keep < 1:
        raise SettingsError(
            f"--codex-evidence-keep: {value!r} is not a count of runs; give 1 or more "
            "(the newest runs kept in the evidence folder)"
        )
    return keep


def _flag(option: RawOption, name: str = "codex_keep_stack") -> bool:
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
    raise SettingsError(f"{name}: {value!r} is not a boolean; use true or false")


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


def _port(option: RawOption) -> int:
    value, _ = _pick(option)
    if value is None:
        return DEFAULT_PORT
    try:
        port = int(str(value))
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise SettingsError(
            f"--codex-port: {value!r} is not a port; give the container port the "
            "orchestrator listens on, e.g. 8000"
        )
    return port


def _service(option: RawOption) -> str:
    value, _ = _pick(option)
    name = DEFAULT_SERVICE if value is None else str(value)
    if SERVICE_NAME.fullmatch(name) is None:
        raise SettingsError(
            f"--codex-service: {name!r} is not a compose service name; give the name "
            "under `services:` in your compose file, e.g. backend"
        )
    return name


def _health_path(option: RawOption) -> str:
    value, _ = _pick(option)
    path = DEFAULT_HEALTH_PATH if value is None else str(value)
    if not path.startswith("/") or any(c in path for c in " \t\r\n#"):
        raise SettingsError(
            f"--codex-health-path: {path!r} is not a request path; give one that "
            "answers 2xx when the orchestrator is ready, e.g. /healthz or /openapi.json"
        )
    return path


def _option(options: dict[str, RawOption], name: str) -> RawOption:
    return options.get(name, RawOption(None, None))


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
    home = home or defaults_base(invocation_dir, rootdir)

    def base_for(source: str) -> Path:
        # Relative paths: from where the user stands (command line), from the ini file's
        # folder (as pytest resolves its own `paths` options), else from `home`.
        if source == "cli":
            return invocation_dir
        return ini_dir if source == "ini" and ini_dir is not None else home

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
        env_file = (home / DEFAULT_ENV_FILE).resolve()
    else:
        env_file = None

    live_model_value, _ = _pick(options["live_model"])
    live_model = str(live_model_value or "stub")
    if live_model not in LIVE_MODELS:
        raise SettingsError(
            f"--codex-live-model: {live_model!r} is not a model endpoint; use stub "
            "(the bundled stand-in, hermetic) or openai (OPENAI_BASE_URL or the public API)"
        )

    engine = _engine(_option(options, "engine"), base_url, compose_files)

    workspace_value, workspace_source = _pick(_option(options, "workspace_root"))
    workspace_root = None
    if workspace_value is not None:
        workspace_root = _paths(workspace_value, base_for(workspace_source))[0]
        if not workspace_root.is_dir():
            raise SettingsError(
                f"--codex-workspace-root: {str(workspace_root)!r} is not a folder; give the "
                "folder on this host where the orchestrator keeps its project workspaces"
            )
    target = Target(
        service=_service(_option(options, "service")),
        port=_port(_option(options, "port")),
        health_path=_health_path(_option(options, "health_path")),
        workspace_root=workspace_root,
    )
    signing_value, signing_source = _pick(_option(options, "signing_key"))
    if signing_value is None and (environ or {}).get(SIGNING_KEY_ENV):
        signing_value, signing_source = (environ or {})[SIGNING_KEY_ENV], "cli"
    signing_key = None
    if signing_value is not None:
        text = str(signing_value)
        # A path (relative to where it was given), unless it is the PEM text itself.
        signing_key = (
            text if "-----BEGIN" in text else str(_paths(text, base_for(signing_source))[0])
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
        # `codex_mode` in the ini file asks for the harness as much as the flag does.
        mode_given=mode_source in ("cli", "ini"),
        target=target,
        signing_key=signing_key,
        defaults_base=None if home == rootdir else home,
        evidence_archive=_flag(_option(options, "evidence_archive"), "codex_evidence_archive"),
        evidence_keep=_keep(_option(options, "evidence_keep")),
        max_response_bytes=_bytes(_option(options, "max_response_bytes")),
        result_schema=_result_schema(_option(options, "result_schema"), base_for),
        engine=engine,
        registry=_registry(_option(options, "registry"), engine),
        outage_wait=_outage_wait(_option(options, "outage_wait")),
        traversal_policy=_traversal_policy(_option(options, "traversal_policy")),
    )


def _engine(
    option: RawOption, base_url: str | None, compose_files: tuple[Path, ...] | None
) -> str:
    value, _ = _pick(option)
    engine = str(value or "compose").strip()
    if engine not in ENGINES:
        raise SettingsError(
            f"--codex-engine: {engine!r} is not an engine; use compose (default) or swarm"
        )
    if engine == "swarm" and (base_url is not None or compose_files is not None):
        given = "--codex-base-url" if base_url is not None else "--codex-compose-file"
        raise SettingsError(
            f"--codex-engine=swarm and {given} exclude each other; swarm deploys the "
            "bundled stack (service/swarm*.yaml), so drop one of them"
        )
    return engine


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


def _registry(option: RawOption, engine: str) -> str | None:
    value, _ = _pick(option)
    if value is None:
        return None
    registry = str(value).strip()
    if not REGISTRY.fullmatch(registry):
        raise SettingsError(
            f"--codex-registry: {registry!r} is not a registry address; use HOST:PORT, "
            "e.g. 127.0.0.1:5000 (no scheme)"
        )
    if engine != "swarm":
        raise SettingsError(
            "--codex-registry needs --codex-engine=swarm (the swarm's nodes pull the images "
            "from it); add --codex-engine=swarm or drop --codex-registry"
        )
    return registry
