"""Option values, one parser each: the value that wins (command line over ini over
default), checked; a bad value raises `SettingsError` naming the option, the value and
the fix. `settings.resolve()` puts them together. No pytest import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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


def pick(option: RawOption) -> tuple[object, str]:
    """The value that wins and where it came from ("cli", "ini" or "default")."""
    if option.cli not in (None, [], ()):
        return option.cli, "cli"
    if option.ini not in (None, "", [], ()):
        return option.ini, "ini"
    return None, "default"


def paths(value: object, base: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split()
    return tuple((base / str(item)).resolve() for item in items if str(item).strip())


def timeout(name: str, option: RawOption, default: float) -> float:
    value, _ = pick(option)
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


def outage_wait(option: RawOption) -> float:
    value, _ = pick(option)
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


def traversal_policy(option: RawOption) -> str:
    value, _ = pick(option)
    policy = str(value or "strict")
    if policy not in TRAVERSAL_POLICIES:
        raise SettingsError(
            f"--codex-traversal-policy: {policy!r} is not a policy; use strict (400 for "
            "every payload) or resolve (400 for escapes, 400 or 404 for names inside)"
        )
    return policy


def result_schema(option: RawOption, base_for: Callable[[str], Path]) -> Path | None:
    value, source = pick(option)
    if value is None:
        return None
    path = paths(value, base_for(source))[0]
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


def byte_count(option: RawOption) -> int:
    value, _ = pick(option)
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


def keep(option: RawOption) -> int | None:
    value, _ = pick(option)
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


def flag(option: RawOption, name: str = "codex_keep_stack") -> bool:
    value, _ = pick(option)
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


def base_url(value: object) -> str:
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


def port(option: RawOption) -> int:
    value, _ = pick(option)
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


def service(option: RawOption) -> str:
    value, _ = pick(option)
    name = DEFAULT_SERVICE if value is None else str(value)
    if SERVICE_NAME.fullmatch(name) is None:
        raise SettingsError(
            f"--codex-service: {name!r} is not a compose service name; give the name "
            "under `services:` in your compose file, e.g. backend"
        )
    return name


def health_path(option: RawOption) -> str:
    value, _ = pick(option)
    path = DEFAULT_HEALTH_PATH if value is None else str(value)
    if not path.startswith("/") or any(c in path for c in " \t\r\n#"):
        raise SettingsError(
            f"--codex-health-path: {path!r} is not a request path; give one that "
            "answers 2xx when the orchestrator is ready, e.g. /healthz or /openapi.json"
        )
    return path


def option(options: dict[str, RawOption], name: str) -> RawOption:
    return options.get(name, RawOption(None, None))


def engine(option: RawOption, base_url: str | None, compose_files: tuple[Path, ...] | None) -> str:
    value, _ = pick(option)
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


def registry(option: RawOption, engine: str) -> str | None:
    value, _ = pick(option)
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


def mode(option: RawOption) -> tuple[str, bool]:
    """The worker mode, and whether it was asked for (command line or ini file: then the
    harness runs the matrices)."""
    value, source = pick(option)
    chosen = str(value or "mocked")
    if chosen not in MODES:
        raise SettingsError(f"--codex-mode: {chosen!r} is not a mode; use mocked or live")
    return chosen, source in ("cli", "ini")


def compose_files(
    option: RawOption, base_for: Callable[[str], Path], base_url: str | None
) -> tuple[Path, ...] | None:
    value, source = pick(option)
    if base_url is not None and value is not None:
        raise SettingsError(
            "--codex-base-url and --codex-compose-file exclude each other; "
            "give the URL of a running orchestrator or the compose files to start one"
        )
    if value is None:
        return None
    files = paths(value, base_for(source))
    for path in files:
        if not path.is_file():
            raise SettingsError(
                f"--codex-compose-file: {str(path)!r} does not exist; "
                "give a compose file or --codex-base-url"
            )
    return files


def live_model(option: RawOption) -> str:
    value, _ = pick(option)
    model = str(value or "stub")
    if model not in LIVE_MODELS:
        raise SettingsError(
            f"--codex-live-model: {model!r} is not a model endpoint; use stub "
            "(the bundled stand-in, hermetic) or openai (OPENAI_BASE_URL or the public API)"
        )
    return model


def workspace_root(option: RawOption, base_for: Callable[[str], Path]) -> Path | None:
    value, source = pick(option)
    if value is None:
        return None
    root = paths(value, base_for(source))[0]
    if not root.is_dir():
        raise SettingsError(
            f"--codex-workspace-root: {str(root)!r} is not a folder; give the "
            "folder on this host where the orchestrator keeps its project workspaces"
        )
    return root


def signing_key(
    option: RawOption, base_for: Callable[[str], Path], environ: Mapping[str, str]
) -> str | None:
    """A key file's path (relative to where it was given) or the PEM text itself; the
    option, else $CODEX_SIGNING_KEY."""
    value, source = pick(option)
    if value is None and environ.get(SIGNING_KEY_ENV):
        value, source = environ[SIGNING_KEY_ENV], "cli"
    if value is None:
        return None
    text = str(value)
    return text if "-----BEGIN" in text else str(paths(text, base_for(source))[0])
