"""HTTP/1.1 over a plain socket, with the request target put on the wire unchanged.

httpx and urllib normalise `../` and re-encode `%` sequences, which would hide exactly
what a traversal case is meant to send. `send()` writes the request line byte for byte
and reads the answer with the standard library's response parser. No pytest import here.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest_codex

USER_AGENT = f"pytest-codex/{pytest_codex.__version__}"
FORBIDDEN_IN_TARGET = (b" ", b"\t", b"\r", b"\n")


class RawHttpError(Exception):
    """The request could not be sent or its answer not read; the text says why."""


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
    body: bytes
    elapsed_ms: float

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
) -> Exchange:
    """Send one request whose target is written exactly as given (str as UTF-8)."""
    raw_target = target.encode("utf-8", "surrogateescape") if isinstance(target, str) else target
    if not raw_target.startswith(b"/") or any(c in raw_target for c in FORBIDDEN_IN_TARGET):
        raise RawHttpError(
            f"request target {raw_target!r} cannot go on a request line; "
            "start it with / and percent-encode spaces and line breaks"
        )
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    all_headers = _merge(
        [("Host", host_header), ("User-Agent", USER_AGENT), ("Accept", "*/*")],
        headers,
        [("Content-Length", str(len(body)))] if body or method in ("POST", "PUT", "PATCH") else [],
        [("Connection", "close")],
    )
    request_line = method.encode("ascii") + b" " + raw_target + b" HTTP/1.1"
    head = request_line + b"\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in all_headers) + b"\r\n"
    started = time.perf_counter()
    try:
        with _connect(parts.scheme, host, port, timeout) as sock:
            sock.sendall(head + body)
            response = http.client.HTTPResponse(sock, method=method)
            try:
                response.begin()
                answer = response.read()
            finally:
                response.close()
    except (OSError, http.client.HTTPException) as error:
        reason = type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"
        raise RawHttpError(f"{method} {base_url}: {reason}") from None
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
    )


def _connect(scheme: str, host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if scheme == "https":
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
