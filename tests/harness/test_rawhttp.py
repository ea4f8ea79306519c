"""rawhttp puts the request target on the wire unchanged (real sockets, real parser)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from pytest_codex.cases.rawhttp import RawHttpError, send


@dataclass
class WireServer:
    """A loopback server that records the raw bytes of each request and sends `reply`."""

    reply: bytes = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"ok":true}'
    )
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.received.append(head + b"\r\n\r\n" + body)
                conn.sendall(self.reply)


@pytest.fixture
def wire() -> Iterator[WireServer]:
    server = WireServer()
    yield server
    server.sock.close()


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/p/files/../../etc/passwd",
        "/api/v1/p/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/v1/p/files/%252e%252e/x",
        "/api/v1/p/files/..%c0%af..%c0%afetc",
        "/api/v1/p/files/..\\..\\windows",
        "/api/v1/p/files/app.py%00.txt",
        "/api/v1/p/files//etc/passwd",
        "/api/v1/p/files/./././x",
    ],
)
def test_the_target_goes_on_the_wire_byte_for_byte(wire: WireServer, target: str) -> None:
    exchange = send(wire.base_url, "GET", target, timeout=5)
    request_line = wire.received[0].split(b"\r\n", 1)[0]
    assert request_line == f"GET {target} HTTP/1.1".encode()
    assert exchange.request_line == request_line
    assert exchange.request_line_text == f"GET {target} HTTP/1.1"


def test_a_raw_nul_byte_is_sent_and_shown_escaped(wire: WireServer) -> None:
    exchange = send(wire.base_url, "GET", b"/files/a\x00b", timeout=5)
    assert wire.received[0].startswith(b"GET /files/a\x00b HTTP/1.1\r\n")
    assert exchange.request_line_text == "GET /files/a\\x00b HTTP/1.1"


def test_body_headers_and_response_are_kept(wire: WireServer) -> None:
    wire.reply = (
        b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"det\r\n8\r\nail": 1}\r\n0\r\n\r\n'
    )
    exchange = send(
        wire.base_url,
        "POST",
        "/api/v1/projects",
        headers=[("Content-Type", "application/json"), ("user-agent", "mine")],
        body=b'{"instruction": 1}',
        timeout=5,
    )
    raw = wire.received[0]
    assert raw.endswith(b'\r\n\r\n{"instruction": 1}')
    assert b"\r\nContent-Length: 18\r\n" in raw
    assert b"\r\nuser-agent: mine\r\n" in raw
    assert b"pytest-codex" not in raw
    assert exchange.status == 422
    assert exchange.reason == "Unprocessable Entity"
    assert exchange.header("CONTENT-TYPE") == "application/json"
    assert exchange.json() == {"detail": 1}


def test_a_refused_connection_is_a_readable_error() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(
        RawHttpError, match=rf"GET http://127.0.0.1:{port}: ConnectionRefusedError"
    ):
        send(f"http://127.0.0.1:{port}", "GET", "/healthz", timeout=5)


def test_a_silent_server_times_out() -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(RawHttpError, match=r"TimeoutError|timed out"):
            send(f"http://127.0.0.1:{silent.getsockname()[1]}", "GET", "/", timeout=0.3)
    finally:
        silent.close()


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX-Injected: 1", "relative"])
def test_a_target_that_cannot_be_a_request_line_is_refused(target: str) -> None:
    with pytest.raises(RawHttpError, match="cannot go on a request line"):
        send("http://127.0.0.1:9", "GET", target, timeout=1)
