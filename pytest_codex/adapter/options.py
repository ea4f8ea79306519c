"""The `codex` command-line options and ini keys, and their resolution into the frozen
`Settings` (command line over ini over default), done once in `pytest_configure`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_codex.config import settings as settings_mod
from pytest_codex.config.settings import RawOption, Settings, SettingsError

# (option name, help, extra addoption arguments, ini type)
OPTIONS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        "mode",
        "run the matrices in this worker mode: mocked or live (without it, or its ini "
        "twin, a plain pytest only offers the fixtures).",
        {},
        "string",
    ),
    ("base-url", "test the orchestrator running at this URL; no compose then.", {}, "string"),
    (
        "compose-file",
        "compose file that starts the orchestrator; repeatable "
        "(default: the bundled stack for the mode).",
        {"action": "append"},
        "paths",
    ),
    (
        "matrix",
        "matrix file or folder to run; repeatable (default: matrices/).",
        {"action": "append"},
        "paths",
    ),
    ("evidence-dir", "folder for evidence bundles (default: docs/evidence).", {}, "string"),
    ("env-file", "env file with the live keys (default in live mode: .env.live).", {}, "string"),
    (
        "live-model",
        "model endpoint in live mode: stub (default; the bundled stand-in, hermetic) or openai.",
        {},
        "string",
    ),
    (
        "engine",
        "how the harness starts the bundled stack: compose (default) or swarm "
        "(docker stack deploy on the engine's swarm; live jobs become swarm jobs).",
        {},
        "string",
    ),
    (
        "registry",
        "with --codex-engine=swarm: push the images the harness built to this registry "
        "(HOST:PORT) and deploy them from there, for a swarm of more than one node.",
        {},
        "string",
    ),
    (
        "keep-stack",
        "leave the compose stack running after the run.",
        {"action": "store_true", "default": None},
        "bool",
    ),
    (
        "startup-timeout",
        "seconds to wait for the orchestrator to become healthy (default: 120).",
        {},
        "string",
    ),
    (
        "request-timeout",
        "seconds for one whole exchange, connect to last byte (default: 60; 360 in live mode).",
        {},
        "string",
    ),
    (
        "max-response-bytes",
        "a bigger response is cut and fails its case (default: 16 MiB).",
        {},
        "string",
    ),
    (
        "service",
        "compose service of the orchestrator (default: orchestrator).",
        {},
        "string",
    ),
    ("port", "container port the orchestrator listens on (default: 8000).", {}, "string"),
    (
        "health-path",
        "path whose 2xx answer means the orchestrator is ready (default: /healthz).",
        {},
        "string",
    ),
    (
        "workspace-root",
        "folder on this host holding the orchestrator's project workspaces "
        "(--codex-base-url runs: enables the outside canary, on_disk checks and snapshots).",
        {},
        "string",
    ),
    (
        "result-schema",
        "JSON Schema of your target's .codex/result.json; verify checks the bundle's "
        "result.json files against it (default: the reference orchestrator's).",
        {},
        "string",
    ),
    (
        "evidence-archive",
        "also write the bundle as <timestamp>/<mode>.tar.gz beside it.",
        {"action": "store_true", "default": None},
        "bool",
    ),
    (
        "evidence-keep",
        "keep only the N newest runs, this one included, in the evidence folder; only "
        "folders holding a pytest-codex manifest are removed (default: all).",
        {},
        "string",
    ),
    (
        "outage-wait",
        "seconds a case waits for a target that stopped answering mid-run (a restart) "
        "before it fails; 0: no wait (default: 60).",
        {},
        "string",
    ),
    (
        "traversal-policy",
        "what traversal payloads must get: strict (400 for all) or resolve (400 for "
        "escapes, 400 or 404 for names that stay inside) (default: strict).",
        {},
        "string",
    ),
    (
        "signing-key",
        "ed25519 private key (PEM file) that signs the bundle (default: $CODEX_SIGNING_KEY).",
        {},
        "string",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """The `codex` group: each `--codex-x` flag with its ini twin `codex_x`."""
    group = parser.getgroup("codex", "Codex orchestrator validation (pytest-codex)")
    for name, help_text, extra, ini_type in OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        group.addoption(
            f"--codex-{name}",
            dest=dest,
            help=help_text[0].upper() + help_text[1:],
            **({"default": None} | extra),
        )
        parser.addini(dest, help_text[0].upper() + help_text[1:], type=ini_type)  # type: ignore[arg-type]


def resolve_settings(config: pytest.Config) -> Settings:
    """The settings from the options and ini keys; raises SettingsError (the plugin
    turns it into a UsageError) for a bad value or a path that cannot be used."""
    options = {}
    for name, *_ in OPTIONS:
        dest = "codex_" + name.replace("-", "_")
        options[name.replace("-", "_")] = RawOption(
            cli=config.getoption(dest), ini=config.getini(dest)
        )
    invocation_dir = config.invocation_params.dir
    ignored = settings_mod.ignored_ini_file(
        invocation_dir, config.inipath, explicit=bool(config.getoption("inifilename"))
    )
    if ignored is not None:
        _refuse_space_form(config, ignored)
    settings = settings_mod.resolve(
        options,
        invocation_dir=invocation_dir,
        rootdir=config.rootpath,
        environ=os.environ,
        home=None if ignored is None else ignored.parent,
        ini_dir=None if config.inipath is None else config.inipath.parent,
    )
    if settings.mode_given:
        settings_mod.check_matrix_paths(settings)
        settings_mod.check_evidence_dir(settings)
    return settings


def _refuse_space_form(config: pytest.Config, ignored: Path) -> None:
    """pytest ignored the ini file because it took a codex option's value for a path."""
    takes_value = {
        f"--codex-{name}" for name, _, extra, _ in OPTIONS if extra.get("action") != "store_true"
    }
    pairs = [
        (option, value)
        for option, value in settings_mod.space_form_values(config.invocation_params.args)
        if option in takes_value
    ]
    if pairs:
        option, value = pairs[0]
        raise SettingsError(
            f"{option}: pytest took {value!r} for a test path and ignored {ignored}; "
            f"write {option}={value}"
        )


def warn_rootdir(config: pytest.Config, settings: Settings) -> None:
    """pytest chose a rootdir that is not above the invocation directory, most often
    because an option's value was written after a space and taken for a path."""
    home = settings.defaults_base
    assert home is not None
    ini_files = [
        name
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
        if (home / name).is_file()
    ]
    ignored = f"; the ini file {home / ini_files[0]} was ignored" if ini_files else ""
    config.issue_config_time_warning(
        pytest.PytestConfigWarning(
            f"pytest-codex: pytest took {config.rootpath} as the rootdir, which is not above "
            f"{home}{ignored}; the codex defaults resolve against {home}. Write option values "
            "with '=' (e.g. --codex-evidence-dir=/tmp/x) so they are not taken for paths."
        ),
        stacklevel=2,
    )
