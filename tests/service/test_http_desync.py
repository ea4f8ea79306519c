"""The request head over raw sockets: malformed header lines are 400 and never let a body
be served as a second request; HTTP/0.9 gets a status line; a trickled head is cut off at
its deadline; connections over the cap get 503 without a thread; after a 413 the server
reads little more."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable

import pytest

from pytest_codex_orchestrator.handler import LINGER_MAX_BYTES
from pytest_codex_orchestrator.http_head import BadHeadError, parse_field_line, parse_request_line
from pytest_codex_orchestrator.server import OrchestratorServer
from tests.service.test_http import parse_response, read_all

SMUGGLED = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n"
# Each line goes between the Host header and a Content-Length that covers SMUGGLED, the
# body of a keep-alive GET: a reader that ends the headers at the bad line ignores the
# length and serves the body as a second request (before the fix: 3 of these 10).
BAD_LINES = {
    "space before the colon": b"X-Pad : 1",
    "tab before the colon": b"X-Pad\t: 1",
    "no colon": b"X-Pad-No-Colon",
    "\\x1c as a line separator": b"X-Pad: 1\x1cX-Other: 2",
    "\\x1d, \\x1e, \\x85 as separators": b"X-Pad: 1\x1d\x1e\x85X-Other: 2",
    "bare CR as a separator": b"X-Pad: 1\rX-Other: 2",
    "NUL in a value": b"X-Pad: 1\x00",
    "obs-fold": b"X-Pad: 1\r\n continued",
    "empty name": b": 1",
    "space in the name": b"X Pad: 1",
}


def responses(data: bytes) -> list[int]:
    """The statuses of the responses in `data`, one after the other by Content-Length;
    bytes that are not a whole response are an assertion error."""
    statuses = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        status = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        assert separator, data[:200]
        assert status, data[:200]
        assert length, data[:200]
        statuses.append(int(status.group(1)))
        data = rest[int(length.group(1)) :]
    return statuses


def exchange(server: OrchestratorServer, data: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(server.address, timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


@pytest.mark.parametrize("line", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_a_malformed_header_line_is_400_and_the_body_is_never_a_request(
    http_server: OrchestratorServer, line: bytes
) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
        + line
        + b"\r\nContent-Length: "
        + str(len(SMUGGLED)).encode()
        + b"\r\n\r\n"
        + SMUGGLED
    )
    data = exchange(http_server, request)
    assert responses(data) == [400], data[:300]
    response = parse_response(data)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json()["detail"].startswith(("header line: ", "header X-Pad: "))
    assert b"openapi" not in data  # the smuggled request was not served


def test_a_well_formed_request_with_the_same_body_is_one_request(
    http_server: OrchestratorServer,
) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad:1\t\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(SMUGGLED)).encode() + b"\r\n\r\n" + SMUGGLED
    )
    assert responses(exchange(http_server, request)) == [200]  # the body is read, not served


def test_pipelined_requests_still_work(http_server: OrchestratorServer) -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    assert responses(exchange(http_server, one + one + last)) == [200, 200, 200]


@pytest.mark.parametrize(
    "line", [b"GET /healthz\r\n", b"GET /healthz\r\n\r\n", b"GET /api/v1/x/files/a\r\n"]
)
def test_an_http_09_request_gets_a_400_with_a_status_line(
    http_server: OrchestratorServer, line: bytes
) -> None:
    data = exchange(http_server, line)
    assert data.startswith(b"HTTP/1.1 400 "), data[:100]
    assert "no HTTP version" in parse_response(data).json()["detail"]


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET  /healthz HTTP/1.1", 400),
        (b"GET /healthz HTTP/1.1 ", 400),
        (b"GET\t/healthz HTTP/1.1", 400),
        (b"GET /health\x00z HTTP/1.1", 400),
        (b"GET /healthz HTTP/2.0", 505),
        (b"GET /healthz http/1.1", 400),
    ],
)
def test_a_malformed_request_line_is_refused(
    http_server: OrchestratorServer, line: bytes, status: int
) -> None:
    data = exchange(http_server, line + b"\r\nHost: t\r\n\r\n")
    assert responses(data) == [status], data[:200]


def test_the_parsers_directly() -> None:
    assert parse_field_line(b"Content-Length:  12 \t") == ("Content-Length", "12")
    assert parse_field_line(b"X-Empty:") == ("X-Empty", "")
    assert parse_request_line(b"GET /a%20b HTTP/1.0") == ("GET", "/a%20b", (1, 0))
    for bad in (b"X : 1", b"X", b"X: \x7f", b" X: 1"):
        with pytest.raises(BadHeadError):
            parse_field_line(bad)


def test_a_trickled_head_is_cut_off_at_the_header_deadline(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(header_timeout_s=1.0)
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"a" * 100
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.monotonic()
        received = b""
        for byte in head:  # one byte every 50 ms: each wait is short, the whole is not
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
            sock.setblocking(False)
            try:
                received += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if received:
                break
        elapsed = time.monotonic() - started
        received += read_all(sock)
    assert parse_response(received).status == 408
    assert "CODEX_HEADER_TIMEOUT" in parse_response(received).json()["detail"]
    assert 0.9 < elapsed < 2.5


def test_connections_over_the_cap_get_503_and_hold_no_thread(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(max_connections=8)
    before = threading.active_count()
    held = [socket.create_connection(server.address, timeout=5) for _ in range(8)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # half a head, then nothing
        deadline = time.monotonic() + 5
        while server.open_connections < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        extra = [socket.create_connection(server.address, timeout=5) for _ in range(50)]
        statuses = []
        for sock in extra:
            with sock:
                statuses.append(parse_response(read_all(sock)).status)
        assert statuses == [503] * 50
        assert threading.active_count() <= before + 8
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    data = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert responses(data) == [200]


def test_after_a_413_the_server_reads_little_more(
    start_server: Callable[..., OrchestratorServer],
) -> None:
    server = start_server(max_body_bytes=1000)
    declared = 64 * 1024 * 1024
    sent = 0
    chunk = b"x" * 65536
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(declared).encode() + b"\r\n\r\n"
        )
        started = time.monotonic()
        received = b""
        sock.settimeout(3)
        try:
            while sent < declared and time.monotonic() - started < 10:
                sent += sock.send(chunk)
        except OSError:  # reset or timed out: the server stopped reading
            pass
        elapsed = time.monotonic() - started
        with contextlib.suppress(OSError):
            received = read_all(sock)
    # What the kernel buffers on loopback (a few MiB) plus what the server lingers on
    # (1 MiB); before the fix the server read all 64 MiB.
    assert LINGER_MAX_BYTES <= 1024 * 1024
    assert sent < 12 * 1024 * 1024, sent
    assert elapsed < 6
    if received:  # the answer may be lost to the reset; when it is there, it is the 413
        assert parse_response(received).status == 413
