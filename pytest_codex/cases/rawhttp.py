"""HTTP/1.1 over a plain socket, with the request target put on the wire unchanged.

httpx and urllib normalise `../` and re-encode `%` sequences, which would hide exactly
what a traversal case is meant to send. `send()` writes the request line byte for byte
and reads the answer with the standard library's response parser.

Bounded against a hostile server: every read waits at most `timeout`, the whole exchange
(connect, send, head and body) at most `deadline` (DEFAULT_DEADLINE), and a body over
`max_body` bytes (DEFAULT_MAX_BODY) is cut, the connection closed, and the exchange fails
saying so; memory stays near `max_body`. Header names and values that would end their line
(CR, LF, NUL) or cannot be sent (not Latin-1) are refused before anything is sent.
No pytest import here.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest_codex
from pytest_codex.secrets.decoding import decode_content

USER_AGENT = f"pytest-codex/{pytest_codex.__version__}"
FORBIDDEN_IN_TARGET = (b" ", b"\t", b"\r", b"\n")
DEFAULT_DEADLINE = 120.0  # seconds for one whole exchange (at least `timeout`)
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # bytes of response body kept
READ_CHUNK = 64 * 1024  # bytes read at a time
MIB = 1024 * 1024
FORBIDDEN_IN_HEADER = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\0": "a NUL"}
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field names and methods


class RawHttpError(Exception):
    """The request could not be sent or its answer not read; the text says why.
    `unreachable`: the connection was refused, reset or closed without an answer (the
    target is down or restarting); `sent`: the request had started on the wire then."""

    def __init__(self, message: str, *, unreachable: bool = False, sent: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.sent = sent


class _DeadlineError(OSError):
    """The exchange's total deadline passed."""


@dataclass(frozen=True)
class Exchange:
    """One request as sent and the response as received."""

    method: str
    request_line: bytes
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # as the client reads it: decoded by its Content-Encoding (secrets.decoding)
    elapsed_ms: float
    body_note: str | None = None  # decoded from, cut at, or withheld because

    def header(self, name: str) -> str | None:
        """The first response header called `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    @property
    def request_line_text(self) -> str:
        """The request line for people: bytes outside printable ASCII as `\\xNN`."""
        return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in self.request_line)


def send(
    base_url: str,
    method: str,
    target: str | bytes,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    timeout: float = 60.0,
    deadline: float | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Exchange:
    """Send one request whose target is written exactly as given (str as UTF-8).

    `timeout` bounds each wait for bytes; `deadline` (default: DEFAULT_DEADLINE, at least
    `timeout`) the whole exchange; `max_body` the body kept. RawHttpError when any is
    passed, when a header cannot go on the wire, or when the answer is not HTTP."""
    raw_target = _request_target(method, target)
    parts = urlsplit(base_url)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    all_headers = _merge(
        [("Host", host_header), ("User-Agent", USER_AGENT), ("Accept", "*/*")],
        headers,
        [("Content-Length", str(len(body)))] if body or method in ("POST", "PUT", "PATCH") else [],
        [("Connection", "close")],
    )
    request_line = method.encode("ascii") + b" " + raw_target + b" HTTP/1.1"
    head = request_line + b"\r\n" + b"".join(header_line(k, v) for k, v in all_headers) + b"\r\n"
    limit = max(DEFAULT_DEADLINE, timeout) if deadline is None else deadline
    started = time.perf_counter()
    clock = _Clock(time.monotonic() + limit, timeout)
    response, answer = _exchange(base_url, method, head + body, clock, limit, max_body)
    answer, note = decode_content(answer, response.getheaders(), max_body)
    return Exchange(
        method=method,
        request_line=request_line,
        request_headers=tuple(all_headers),
        request_body=body,
        status=response.status,
        reason=response.reason,
        headers=tuple(response.getheaders()),
        body=answer,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        body_note=note,
    )


def _request_target(method: str, target: str | bytes) -> bytes:
    """The request target as it goes on the request line (str as UTF-8); RawHttpError
    when it or the method cannot go there."""
    raw_target = target.encode("utf-8", "surrogateescape") if isinstance(target, str) else target
    if not raw_target.startswith(b"/") or any(c in raw_target for c in FORBIDDEN_IN_TARGET):
        raise RawHttpError(
            f"request target {raw_target!r} cannot go on a request line; "
            "start it with / and percent-encode spaces and line breaks"
        )
    if not TOKEN.fullmatch(method):
        raise RawHttpError(
            f"request method {method!r} is not an HTTP token; use letters such as GET or POST"
        )
    return raw_target


def _exchange(
    base_url: str, method: str, request: bytes, clock: _Clock, limit: float, max_body: int
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send `request` (head and body) and read the answer under `clock`: the response and
    its body as received (at most `max_body` bytes). RawHttpError when that fails."""
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    received = 0
    sent = False
    try:
        with _connect(parts.scheme, host, port, clock) as sock:
            sent = True  # from here on the target may have acted on the request
            sock.settimeout(clock.wait())
            sock.sendall(request)
            response = http.client.HTTPResponse(_Bounded(sock, clock), method=method)  # type: ignore[arg-type]
            try:
                response.begin()
                if response.length is not None and response.length > max_body:
                    raise RawHttpError(_too_big(method, base_url, max_body))
                chunks = []
                while chunk := response.read(READ_CHUNK):
                    received += len(chunk)
                    if received > max_body:
                        raise RawHttpError(_too_big(method, base_url, max_body))
                    chunks.append(chunk)
                if response.length:  # read(amt) does not raise for a short body
                    raise http.client.IncompleteRead(b"", response.length)
                answer = b"".join(chunks)
            finally:
                response.close()
    except _DeadlineError:
        raise RawHttpError(
            f"{method} {base_url}: no complete answer within the {limit:g} s deadline (cut "
            f"after {received} body bytes); the server is too slow or never ends its answer"
        ) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        # ValueError: http.client's word for a chunk size that is not hex.
        reason = type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"
        raise RawHttpError(
            f"{method} {base_url}: {reason}",
            unreachable=isinstance(error, ConnectionError),
            sent=sent,
        ) from None
    return response, answer


def header_line(name: str, value: str) -> bytes:
    """`name: value\\r\\n` as it goes on the wire; RawHttpError (naming the header,
    never quoting the value) when it cannot: a name that is not a token, a value with a
    character that would end the line, or one outside Latin-1."""
    if not TOKEN.fullmatch(name):
        raise RawHttpError(
            f"request header {name!r}: not a valid header name; use letters, digits and - only"
        )
    for char, what in FORBIDDEN_IN_HEADER.items():
        if char in value:
            raise RawHttpError(
                f"request header {name!r}: its value holds {what}, which would end the header "
                "line and let the rest pass as headers of its own; remove it from the matrix "
                "or from the response value saved into it"
            )
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError as error:
        bad = value[error.start]
        raise RawHttpError(
            f"request header {name!r}: its value holds {bad!r} (U+{ord(bad):04X}), which "
            "HTTP headers cannot carry (Latin-1 only); percent-encode it or leave it out"
        ) from None
    return name.encode("ascii") + b": " + encoded + b"\r\n"


def _too_big(method: str, base_url: str, max_body: int) -> str:
    size = f"{max_body // MIB} MiB" if max_body % MIB == 0 else f"{max_body} bytes"
    return (
        f"{method} {base_url}: response body over {size} (cut); raise --codex-max-response-bytes"
    )


@dataclass(frozen=True)
class _Clock:
    """The exchange's deadline (monotonic) and the longest single wait."""

    deadline: float
    timeout: float

    def wait(self) -> float:
        """Seconds the next socket operation may wait; _DeadlineError when none are left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _DeadlineError("deadline passed")
        return min(self.timeout, left)


class _Reader(io.RawIOBase):
    """Socket reads that each wait at most the clock allows."""

    def __init__(self, sock: socket.socket, clock: _Clock) -> None:
        self.sock = sock
        self.clock = clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.sock.settimeout(self.clock.wait())
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            self.clock.wait()  # the deadline passed during the wait: say that
            raise


class _Bounded:
    """What http.client.HTTPResponse needs of a socket: a file that reads under the clock."""

    def __init__(self, sock: socket.socket, clock: _Clock) -> None:
        self.sock = sock
        self.clock = clock

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self.sock, self.clock))


def _connect(scheme: str, host: str, port: int, clock: _Clock) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=clock.wait())
    if scheme == "https":
        sock.settimeout(clock.wait())
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    return sock


def _merge(*groups: Sequence[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    """Later groups replace earlier headers of the same name (any case)."""
    merged: dict[str, tuple[str, str]] = {}
    for group in groups:
        pairs = group.items() if isinstance(group, Mapping) else group
        for name, value in pairs:
            merged[name.lower()] = (name, value)
    return list(merged.values())
