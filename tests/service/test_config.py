"""Settings: defaults, the environment, flags over both, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_codex_orchestrator.config import ConfigError, Settings
from pytest_codex_orchestrator.container_worker import ContainerWorker
from pytest_codex_orchestrator.workers import select_worker


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings == Settings(
        host="127.0.0.1",
        port=8000,
        use_dummy_worker=True,
        workspace_root=tmp_path / "workspaces",
        database_path=tmp_path / "codex-orchestrator.db",
        worker_image="codex-worker:latest",
        api_token=None,
        max_body_bytes=1_048_576,
        job_timeout_s=600.0,
    )
    assert settings.mode == "mocked"


def test_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "USE_DUMMY_WORKER": "No",
            "WORKSPACE_ROOT": str(tmp_path / "ws"),
            "DATABASE_URL": "sqlite:////var/lib/orchestrator/state.db",
            "CODEX_WORKER_IMAGE": "worker:1",
            "CODEX_API_TOKEN": "t0ken-value",
            "CODEX_MAX_BODY_BYTES": "2048",
            "CODEX_JOB_TIMEOUT": "30",
        }
    )
    assert settings.use_dummy_worker is False
    assert settings.mode == "live"
    assert settings.workspace_root == tmp_path / "ws"
    assert settings.database_path == Path("/var/lib/orchestrator/state.db")
    assert (settings.worker_image, settings.api_token) == ("worker:1", "t0ken-value")
    assert (settings.max_body_bytes, settings.job_timeout_s) == (2048, 30.0)


def test_a_relative_database_url_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"DATABASE_URL": "sqlite:///data/x.db"})
    assert settings.database_path == tmp_path / "data" / "x.db"


def test_flags_beat_the_environment(tmp_path: Path) -> None:
    environ = {"WORKSPACE_ROOT": "/from/env", "DATABASE_URL": "sqlite:////from/env.db"}
    settings = Settings.from_env(
        environ,
        host="0.0.0.0",
        port="9001",
        workspace_root=str(tmp_path),
        database_url=f"sqlite:///{tmp_path}/flag.db",
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 9001)
    assert settings.workspace_root == tmp_path
    assert settings.database_path == tmp_path / "flag.db"
    unset = Settings.from_env(environ, host=None, port=None, workspace_root=None)
    assert unset.workspace_root == Path("/from/env")
    assert unset.port == 8000


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env({"CODEX_API_TOKEN": "", "USE_DUMMY_WORKER": " "})
    assert settings.api_token is None
    assert settings.use_dummy_worker is True


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("NO", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert Settings.from_env({"USE_DUMMY_WORKER": text}).use_dummy_worker is value


@pytest.mark.parametrize(
    ("environ", "overrides", "message"),
    [
        (
            {"USE_DUMMY_WORKER": "maybe"},
            {},
            "USE_DUMMY_WORKER: 'maybe' is not a boolean; use true or false",
        ),
        (
            {"DATABASE_URL": "postgres://db/x"},
            {},
            "DATABASE_URL: 'postgres://db/x' is not a sqlite URL; use sqlite:///relative/path or "
            "sqlite:////absolute/path",
        ),
        (
            {"DATABASE_URL": "sqlite:///"},
            {},
            "DATABASE_URL: 'sqlite:///' does not name a database file; ",
        ),
        (
            {"CODEX_MAX_BODY_BYTES": "lots"},
            {},
            "CODEX_MAX_BODY_BYTES: 'lots' is not a whole number; ",
        ),
        ({"CODEX_MAX_BODY_BYTES": "0"}, {}, "CODEX_MAX_BODY_BYTES: '0' is not positive; "),
        ({"CODEX_JOB_TIMEOUT": "-5"}, {}, "CODEX_JOB_TIMEOUT: '-5' is not a positive, finite "),
        ({"CODEX_JOB_TIMEOUT": "nan"}, {}, "CODEX_JOB_TIMEOUT: 'nan' is not a positive"),
        ({}, {"port": "http"}, "--port: 'http' is not a port number; use 0 to 65535"),
        ({}, {"port": "70000"}, "--port: '70000' is out of range; use 0 to 65535"),
        ({}, {"database_url": "mysql://x"}, "--database-url: 'mysql://x' is not a sqlite URL"),
    ],
)
def test_bad_values(environ: dict[str, str], overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        Settings.from_env(environ, **overrides)
    assert str(bad.value).startswith(message)


def test_an_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown override 'colour'"):
        Settings.from_env({}, colour="blue")


def test_select_worker() -> None:
    worker = select_worker(Settings.from_env({}), environ={})
    assert type(worker).__name__ == "DummyWorker"
    live = select_worker(
        Settings.from_env(
            {
                "USE_DUMMY_WORKER": "false",
                "CODEX_WORKER_IMAGE": "my-worker:1",
                "CODEX_JOB_TIMEOUT": "42",
                "CODEX_WORKER_NETWORK": "workers",
            }
        ),
        environ={},
    )
    assert isinstance(live, ContainerWorker)
    assert (live.image, live.job_timeout_s, live.network) == ("my-worker:1", 42.0, "workers")


def test_the_bounds_on_files_and_connections() -> None:
    defaults = Settings.from_env({})
    assert (
        defaults.max_file_bytes,
        defaults.max_tree_depth,
        defaults.max_list_entries,
        defaults.header_timeout_s,
        defaults.max_connections,
    ) == (16 * 1024 * 1024, 64, 100_000, 10.0, 256)
    settings = Settings.from_env(
        {
            "CODEX_MAX_FILE_BYTES": "1024",
            "CODEX_MAX_TREE_DEPTH": "8",
            "CODEX_MAX_LIST_ENTRIES": "50",
            "CODEX_HEADER_TIMEOUT": "2.5",
            "CODEX_MAX_CONNECTIONS": "16",
        }
    )
    assert (
        settings.max_file_bytes,
        settings.max_tree_depth,
        settings.max_list_entries,
        settings.header_timeout_s,
        settings.max_connections,
    ) == (1024, 8, 50, 2.5, 16)
    with pytest.raises(ConfigError, match=r"^CODEX_MAX_CONNECTIONS: '0' is not positive"):
        Settings.from_env({"CODEX_MAX_CONNECTIONS": "0"})
    with pytest.raises(ConfigError, match=r"^CODEX_HEADER_TIMEOUT: 'soon' is not a number"):
        Settings.from_env({"CODEX_HEADER_TIMEOUT": "soon"})
