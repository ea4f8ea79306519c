"""Fixtures of the orchestrator's tests: settings in a temporary folder, the orchestrator
in-process, and the real HTTP server on an ephemeral port in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.dummy_worker import DummyWorker
from pytest_codex_orchestrator.server import OrchestratorServer, make_server
from pytest_codex_orchestrator.service import Orchestrator
from pytest_codex_orchestrator.storage import Storage
from pytest_codex_orchestrator.workers import Worker

MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """Settings under tmp_path (workspaces, database, port 0); keyword arguments override."""

    def make(**overrides: object) -> Settings:
        base: dict[str, object] = {
            "workspace_root": tmp_path / "workspaces",
            "database_url": f"sqlite:///{tmp_path / 'orchestrator.db'}",
            "port": 0,
        }
        return Settings.from_env({}, **{**base, **overrides})

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    """The default test settings: mocked mode, no token, 1 MiB body limit."""
    return make_settings()


@pytest.fixture
def make_service(make_settings: MakeSettings) -> Iterator[Callable[..., Orchestrator]]:
    """Builds in-process orchestrators (dummy worker unless `worker=` is given); each one's
    storage is closed at teardown."""
    opened: list[Storage] = []

    def make(worker: Worker | None = None, **overrides: object) -> Orchestrator:
        settings = make_settings(**overrides)
        storage = Storage(settings.database_path)
        opened.append(storage)
        return Orchestrator(settings, storage, worker or DummyWorker(environ={}), environ={})

    yield make
    for storage in opened:
        storage.close()


@pytest.fixture
def service(make_service: Callable[..., Orchestrator]) -> Orchestrator:
    """An in-process orchestrator with the dummy worker."""
    return make_service()


@pytest.fixture
def start_server(make_settings: MakeSettings) -> Iterator[Callable[..., OrchestratorServer]]:
    """Starts the real HTTP server on 127.0.0.1, port 0, in a thread; stopped at teardown.
    Keyword arguments override settings; `socket_timeout=` sets the connection timeout."""
    running: list[tuple[OrchestratorServer, threading.Thread]] = []

    def start(socket_timeout: float = 30.0, **overrides: object) -> OrchestratorServer:
        server = make_server(make_settings(**overrides), environ={}, socket_timeout=socket_timeout)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server(start_server: Callable[..., OrchestratorServer]) -> OrchestratorServer:
    """The real server with default test settings."""
    return start_server()
