"""A request's head (request line and header fields) read and parsed as RFC 9112 says.

`http.server` hands the header block to the `email` parser, which ends the headers at the
first line it cannot read (a space before the colon, no colon at all) and splits lines on
`\\x1c`, `\\x1d`, `\\x1e` and `\\x85` too: a `Content-Length` after such a line was ignored
and the body served as a second request. Here every line ends at LF only, every field
line must be `name ":" OWS value OWS` with a token name and no control character in the
value, and anything else is a `BadHeadError` (400) before a byte of the body is read.
The whole head must arrive by a deadline: each read waits at most the time left.
"""

from __future__ import annotations

import io
import re
import socket
import time
from dataclasses import dataclass

MAX_LINE_BYTES = 65536
MAX_FIELDS = 100
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# A field value: SP, HTAB, visible ASCII and obs-text; no other control character.
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# A request target: no space and no control character (bytes over 0x7f are judged later).
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")
_FIX = "send a well-formed HTTP/1.1 request"


class BadHeadError(ValueError):
    """A request head that breaks RFC 9112; `status` is the answer (400, 414, 431, 505)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HeadTimeoutError(TimeoutError):
    """The head did not arrive by its deadline."""


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str  # latin-1 text of the bytes as sent
    version: tuple[int, int]
    fields: list[tuple[str, str]]
    request_line: str


def read_head(
    rfile: io.BufferedReader, connection: socket.socket, deadline: float, max_wait: float
) -> RequestHead:
    """Read and parse one request head from `rfile` by the monotonic `deadline`, waiting
    at most `max_wait` seconds for any one piece of it.

    Raises `BadHeadError`, `HeadTimeoutError`, or `EOFError` when the client closed
    before a request began (or mid-head).
    """
    line = _read_line(rfile, connection, deadline, max_wait)
    if line in (b"\r\n", b"\n"):  # RFC 9112 2.2: one empty line before a request is ignored
        line = _read_line(rfile, connection, deadline, max_wait)
    request_line = _strip(line, 414, "request line")
    method, target, version = parse_request_line(request_line)
    raw_fields: list[bytes] = []
    while True:
        line = _read_line(rfile, connection, deadline, max_wait)
        if line in (b"\r\n", b"\n"):
            break
        if len(raw_fields) >= MAX_FIELDS:
            raise BadHeadError(
                431, f"headers: more than {MAX_FIELDS} header fields; send fewer headers"
            )
        raw_fields.append(_strip(line, 431, "header line"))
    return RequestHead(
        method=method,
        target=target,
        version=version,
        fields=[parse_field_line(raw) for raw in raw_fields],
        request_line=request_line.decode("latin-1"),
    )


def parse_request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    """`method SP request-target SP HTTP-version`, exactly; else `BadHeadError`."""
    words = line.split(b" ")
    if len(words) == 2 and all(words):
        raise BadHeadError(
            400, f"request line: {_shown(line)} has no HTTP version (HTTP/0.9); {_FIX}"
        )
    if len(words) != 3 or not _TOKEN.fullmatch(words[0]) or not _TARGET.fullmatch(words[1]):
        raise BadHeadError(
            400,
            f"request line: {_shown(line)} is not 'METHOD target HTTP/1.1' with single "
            f"spaces; {_FIX}",
        )
    version = _VERSION.fullmatch(words[2])
    if version is None:
        raise BadHeadError(400, f"request line: {_shown(words[2])} is not an HTTP version; {_FIX}")
    major, minor = int(version.group(1)), int(version.group(2))
    if major != 1:
        raise BadHeadError(
            505, f"request line: HTTP/{major}.{minor} is not supported; send HTTP/1.1"
        )
    return words[0].decode("ascii"), words[1].decode("latin-1"), (major, minor)


def parse_field_line(line: bytes) -> tuple[str, str]:
    """`name ":" OWS value OWS` (RFC 9112 5); else `BadHeadError`."""
    if line[:1] in (b" ", b"\t"):
        raise BadHeadError(
            400, f"header line: {_shown(line)} is folded (obs-fold); send each header on one line"
        )
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise BadHeadError(
            400,
            f"header line: {_shown(line)} is not 'Name: value' (a token, then a colon with "
            f"no space before it); {_FIX}",
        )
    value = value.strip(b" \t")
    if not _VALUE.fullmatch(value):
        raise BadHeadError(
            400, f"header {name.decode('ascii')}: the value holds a control character; {_FIX}"
        )
    return name.decode("ascii"), value.decode("latin-1")


def _read_line(
    rfile: io.BufferedReader, connection: socket.socket, deadline: float, max_wait: float
) -> bytes:
    """One line up to and with its LF; every wait bounded by what is left of `deadline`."""
    line = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HeadTimeoutError
        connection.settimeout(min(left, max_wait))
        try:
            buffered = rfile.peek(1)  # at most one receive, when nothing is buffered
        except TimeoutError:
            raise HeadTimeoutError from None
        if not buffered:
            raise EOFError
        end = buffered.find(b"\n", 0, MAX_LINE_BYTES + 1 - len(line))
        take = end + 1 if end >= 0 else min(len(buffered), MAX_LINE_BYTES + 1 - len(line))
        line += rfile.read(take)  # already buffered: does not wait
        if end >= 0:
            return bytes(line)
        if len(line) > MAX_LINE_BYTES:
            return bytes(line)  # no LF: `_strip` says it is too long


def _strip(line: bytes, status: int, what: str) -> bytes:
    """`line` without its CRLF (or LF); too long or unterminated is `BadHeadError`."""
    if not line.endswith(b"\n"):
        raise BadHeadError(
            status, f"{what}: longer than {MAX_LINE_BYTES} bytes; send a shorter {what}"
        )
    line = line[:-1]
    return line[:-1] if line.endswith(b"\r") else line


def _shown(data: bytes) -> str:
    text = repr(data.decode("latin-1"))
    return text if len(text) <= 80 else f"{text[:76]}...{text[-1]}"
