"""One connection's requests: bytes turned into a `Request` for `dispatch`, and back.

What it adds to `dispatch`: a strict reader of the request head (`http_head`: malformed
lines are 400, never a desync) with a deadline from the request's first byte
(CODEX_HEADER_TIMEOUT), a body limit enforced from Content-Length before a byte of the
body is read (and little read after the 413), Content-Length required on POST, a socket
timeout and a body deadline so a slow client holds one thread at most, JSON for the
errors `http.server` itself answers, and one JSON log line per request. The server and
its connection cap are in server.py.
"""

from __future__ import annotations

import http.client
import io
import logging
import re
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from pytest_codex_orchestrator import __version__
from pytest_codex_orchestrator.api import Headers, Request, Response, dispatch
from pytest_codex_orchestrator.http_head import BadHeadError, HeadTimeoutError, read_head

if TYPE_CHECKING:
    from pytest_codex_orchestrator.server import OrchestratorServer

log = logging.getLogger(__name__)
SOCKET_TIMEOUT_S = 30.0
# After a 413, what the client still sends is read for a moment so that closing does not
# reset the connection before the client reads the answer (RFC 9112 9.6), but no more.
LINGER_S = 1.0
LINGER_MAX_BYTES = 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,18}")


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one request, hands it to `dispatch`, writes the response."""

    server: OrchestratorServer
    protocol_version = "HTTP/1.1"
    server_version = f"codex-orchestrator/{__version__}"
    sys_version = ""

    timeout = SOCKET_TIMEOUT_S
    # TCP_NODELAY: headers and body leave as separate writes; with Nagle's algorithm and
    # the client's delayed ACK every keep-alive response waited ~40 ms (bench/throughput.py).
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self._started = time.perf_counter()
        self._linger = False
        super().setup()
        self.connection.settimeout(self.server.socket_timeout)

    def handle_one_request(self) -> None:
        """One request: its head read by `http_head` (strict, within the header deadline
        from its first byte), then the method's handler. Replaces `http.server`'s reader,
        which let a malformed header line end the headers."""
        self.command = ""
        self.requestline = ""
        self.request_version = "HTTP/1.1"
        self.close_connection = True
        rfile: io.BufferedReader = self.rfile  # type: ignore[assignment]
        try:
            self.connection.settimeout(self.server.socket_timeout)  # idle keep-alive wait
            if not rfile.peek(1):
                return
            self._started = time.perf_counter()
            deadline = time.monotonic() + self.server.orchestrator.settings.header_timeout_s
            head = read_head(rfile, self.connection, deadline, self.server.socket_timeout)
        except (TimeoutError, EOFError, OSError) as error:
            if isinstance(error, HeadTimeoutError):
                self._finish(
                    Response.json(
                        408,
                        {
                            "detail": "request: the request line and headers did not "
                            "arrive in time (CODEX_HEADER_TIMEOUT is "
                            f"{self.server.orchestrator.settings.header_timeout_s:g} s); "
                            "send the whole head at once"
                        },
                    )
                )
            return
        except BadHeadError as error:
            self._finish(Response.json(error.status, {"detail": error.detail}))
            return
        self.connection.settimeout(self.server.socket_timeout)
        self.raw_requestline = head.request_line.encode("latin-1") + b"\r\n"
        self.requestline = head.request_line
        self.command, self.path = head.method, head.target
        self.request_version = f"HTTP/{head.version[0]}.{head.version[1]}"
        self.headers = http.client.HTTPMessage()
        for name, value in head.fields:
            self.headers[name] = value
        connection = self.headers.get("Connection", "").lower()
        self.close_connection = head.version < (1, 1) or connection == "close"
        if connection == "keep-alive":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and head.version >= (1, 1) and not self.handle_expect_100():
            return
        getattr(self, f"do_{self.command}")()
        self.wfile.flush()

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY, ...) goes to dispatch too, which answers 405
        with `Allow` (http.server's own answer was a bare 501; found by contract fuzzing)."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        """Refuse a body before the client sends it, when its size already says so."""
        self._started = time.perf_counter()
        problem = self._length_problem()
        if problem is not None:
            self._finish(problem)
            return False
        return super().handle_expect_100()

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """Errors `http.server` answers itself (bad request line, unknown method...)."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the line did not parse: answer in 1.1 anyway
            self.request_version = "HTTP/1.1"
        what = message or HTTPStatus(code).phrase
        self._finish(
            Response.json(
                code, {"detail": f"request: {what}; send a well-formed HTTP/1.1 request"}
            )
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by the JSON line `_finish` writes."""

    def log_message(self, format: str, *args: Any) -> None:
        """What `http.server` itself reports (a timed-out request line...)."""
        log.info("http", extra={"detail": format % args})

    def _handle(self) -> None:
        self._started = time.perf_counter()
        response = self._length_problem() or self._dispatch()
        self._finish(response)

    def _dispatch(self) -> Response:
        try:
            target = self._raw_target().encode("latin-1").decode("utf-8")
        except UnicodeError:
            self.close_connection = True
            return Response.json(
                400,
                {"detail": "request target: not UTF-8; percent-encode bytes that are not ASCII"},
            )
        body = self._read_body(int(self.headers.get("Content-Length", "0").strip()))
        if body is None:
            self.close_connection = True
            return Response.json(
                400,
                {
                    "detail": "body: ended before Content-Length bytes "
                    "arrived in time; send the whole body"
                },
            )
        request = Request(
            method=self.command, target=target, headers=Headers(self.headers.items()), body=body
        )
        return dispatch(self.server.orchestrator, request)

    def _raw_target(self) -> str:
        # `self.path` has leading slashes folded; the request line has the target as sent.
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _length_problem(self) -> Response | None:
        """The answer when the body's declared size rules it out, else None."""
        limit = self.server.orchestrator.settings.max_body_bytes
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return Response.json(
                411,
                {
                    "detail": "Transfer-Encoding: not supported; send the "
                    "body with a Content-Length"
                },
            )
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or ()}
        if len(lengths) > 1:
            self.close_connection = True
            return Response.json(
                400,
                {
                    "detail": "Content-Length: sent more than once with "
                    "different values; send it once"
                },
            )
        declared = next(iter(lengths), None)
        if declared is None:
            if self.command != "POST":
                return None
            self.close_connection = True
            return Response.json(
                411,
                {
                    "detail": "Content-Length: missing; send the JSON body "
                    "with a Content-Length header"
                },
            )
        if not _DIGITS.fullmatch(declared):
            self.close_connection = True
            return Response.json(
                400,
                {
                    "detail": f"Content-Length: {declared!r} is not a "
                    "number of bytes; send the body's size"
                },
            )
        if int(declared) > limit:
            self.close_connection = True
            self._linger = True
            return Response.json(
                413,
                {
                    "detail": f"body: {int(declared)} bytes is over the "
                    f"limit of {limit}; send a smaller body"
                },
            )
        return None

    def _read_body(self, length: int) -> bytes | None:
        """`length` bytes within the socket timeout in total, or None."""
        deadline = time.monotonic() + self.server.socket_timeout
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(remaining, 65536))
                if not chunk:
                    return None
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError:
            return None
        finally:
            self.connection.settimeout(self.server.socket_timeout)
        return b"".join(chunks)

    def _finish(self, response: Response) -> None:
        """Write `response` (no body for HEAD) and log the request."""
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
            if self._linger:
                self._swallow_rest()
        except OSError:  # the client went away
            self.close_connection = True
        self._log(response.status)

    def _swallow_rest(self) -> None:
        """Read and drop what a client still sends after a 413, briefly, so that closing
        does not reset the connection before the client has read the answer."""
        self.connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_S
        swallowed = 0
        while swallowed < LINGER_MAX_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.connection.settimeout(left)
            chunk = self.connection.recv(65536)
            if not chunk:
                return
            swallowed += len(chunk)

    def _log(self, status: int) -> None:
        words = (self.requestline or "").split()
        target = words[1] if len(words) >= 2 else "-"
        log.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "request",
            extra={
                "method": self.command or "-",
                "path": target.partition("?")[0],
                "status": status,
                "duration_ms": round((time.perf_counter() - self._started) * 1000, 1),
            },
        )
