"""The HTTP front: a threading server that hands each connection to `RequestHandler`.

What it adds to the handler (handler.py: the strict request reader, the body limits,
the JSON log line per request): a cap on open connections (CODEX_MAX_CONNECTIONS;
beyond it a 503 and close, no thread), a bind that never asks DNS, and a clean stop on
SIGTERM / SIGINT (also as PID 1 in a container).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from types import FrameType
from typing import Any

from pytest_codex_orchestrator import __version__, jsonlog
from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.handler import SOCKET_TIMEOUT_S, RequestHandler
from pytest_codex_orchestrator.results import env_presence
from pytest_codex_orchestrator.service import Orchestrator
from pytest_codex_orchestrator.storage import Storage
from pytest_codex_orchestrator.workers import Worker, select_worker

log = logging.getLogger(__name__)
STOP_POLL_S = 0.1
REFUSE_TIMEOUT_S = 0.5  # writing the 503 to a connection over the cap
REFUSE_LOG_EVERY_S = 1.0  # refusals are logged as a count, at most once a second


class OrchestratorServer(ThreadingHTTPServer):
    """One thread per connection; owns the orchestrator's storage from here on."""

    daemon_threads = True
    # socketserver's default backlog is 5: with 32 clients connecting at once the
    # kernel dropped SYNs and some connections waited a 1 s retransmit (p99 > 1 s).
    request_queue_size = 128
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        orchestrator: Orchestrator,
        socket_timeout: float = SOCKET_TIMEOUT_S,
    ) -> None:
        self.orchestrator = orchestrator
        self.socket_timeout = socket_timeout
        self._connections = 0
        self._connections_guard = threading.Lock()
        self._refused = 0  # since the last log line about refusals
        self._refused_logged = 0.0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up in DNS, which can hang for
        # seconds where no resolver answers (a container with no network).
        socketserver.TCPServer.server_bind(self)
        host, port = self.address
        self.server_name, self.server_port = host, port

    @property
    def address(self) -> tuple[str, int]:
        """The host and port it listens on (the real port when asked for port 0)."""
        host, port = self.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def server_close(self) -> None:
        super().server_close()
        self.orchestrator.storage.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection error")

    @property
    def open_connections(self) -> int:
        """Connections being served now (each holds one thread)."""
        with self._connections_guard:
            return self._connections

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve `request` in a thread of its own, unless CODEX_MAX_CONNECTIONS are open:
        then answer 503 from the accepting thread and close."""
        limit = self.orchestrator.settings.max_connections
        with self._connections_guard:
            refused = self._connections >= limit
            if not refused:
                self._connections += 1
        if refused:
            _refuse(request, limit)
            self.shutdown_request(request)
            self._log_refusal(limit)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _log_refusal(self, limit: int) -> None:
        """One log line per second at most, however many connections are refused (only
        the accepting thread calls this)."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged >= REFUSE_LOG_EVERY_S:
            log.warning("connections refused", extra={"count": self._refused, "limit": limit})
            self._refused, self._refused_logged = 0, now

    def _release(self) -> None:
        with self._connections_guard:
            self._connections -= 1


def _refuse(connection: socket.socket, limit: int) -> None:
    """Answer 503 on a connection over the cap, without a thread and without reading."""
    body = (
        f'{{"detail": "connections: {limit} are open, the limit (CODEX_MAX_CONNECTIONS); '
        'retry in a moment"}'
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        connection.settimeout(REFUSE_TIMEOUT_S)
        connection.sendall(head + body)
    except OSError:
        pass


def make_server(
    settings: Settings,
    *,
    worker: Worker | None = None,
    environ: Mapping[str, str] | None = None,
    socket_timeout: float = SOCKET_TIMEOUT_S,
) -> OrchestratorServer:
    """Open the database (failing jobs a previous run left unfinished), build the
    orchestrator and bind the socket; the caller runs `serve_forever`."""
    environ = os.environ if environ is None else environ
    worker = worker if worker is not None else select_worker(settings, environ)
    storage = Storage(settings.database_path)
    try:
        orchestrator = Orchestrator(settings, storage, worker, environ)
        orchestrator.recover_interrupted()
        return OrchestratorServer((settings.host, settings.port), orchestrator, socket_timeout)
    except BaseException:
        storage.close()
        raise


def serve(settings: Settings, environ: Mapping[str, str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then stop within a second. Call from the main
    thread (signal handlers live there)."""
    environ = os.environ if environ is None else environ
    worker = select_worker(settings, environ)
    jsonlog.configure(environ)
    server = make_server(settings, worker=worker, environ=environ)
    host, port = server.server_address[:2]
    log.info(
        "start",
        extra={
            "host": host,
            "port": port,
            "mode": settings.mode,
            "version": __version__,
            "env": env_presence(environ),
        },
    )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            # shutdown() waits for serve_forever, which runs in this very thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever(poll_interval=STOP_POLL_S)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        server.server_close()
        log.info("stop", extra={"host": host, "port": port})
    return 0
