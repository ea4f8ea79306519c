"""The workers' only way out in `openai` mode: a forwarding proxy to the model's host.

The live stack keeps its workers on an internal network whose bridge has no host address
(compose.live.yaml), so a worker reaches neither the host nor the internet. In `openai`
mode (compose.openai.yaml) this proxy sits on that network and on the stack's default
one, and the workers get `HTTPS_PROXY`/`HTTP_PROXY` pointing at it. It forwards exactly
one destination, the host and port of `OPENAI_BASE_URL` (default api.openai.com:443):

- `CONNECT <host>:<port>` (HTTPS): a byte tunnel, TLS end to end between the CLI and
  the model, so the proxy never sees the key;
- `<METHOD> http://<host>:<port>/<path>` (a plain-HTTP endpoint): forwarded with the
  request line in origin form;
- anything else: 403 (another destination) or 400, and the connection closed.

Bounded: the request head (MAX_HEAD_BYTES within HEAD_TIMEOUT_S), the upstream connect
(CONNECT_TIMEOUT_S), silence on a tunnel (IDLE_TIMEOUT_S), connections at once
(MAX_CONNECTIONS). One JSON line per connection on stderr: destination, verdict, bytes;
never a header. Run with `python -m pytest_codex_orchestrator.model_proxy --port 3128`.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import socketserver
import sys
import threading
from collections import deque
from collections.abc import Sequence
from types import FrameType
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_HEAD_BYTES = 16 * 1024  # a request head, at most
HEAD_TIMEOUT_S = 30.0  # until the head has arrived, at most
CONNECT_TIMEOUT_S = 15.0  # to the model's host, at most
IDLE_TIMEOUT_S = 900.0  # a tunnel with no byte either way, at most (model turns stream)
MAX_CONNECTIONS = 256  # tunnels open at once, at most
CHUNK = 64 * 1024
RECENT_ENTRIES = 100  # log entries kept in memory (ProxyServer.recent), at most


def allowed_destination(base_url: str | None) -> tuple[str, int]:
    """(host, port) of the model endpoint the workers may reach."""
    parts = urlsplit(base_url or DEFAULT_BASE_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OPENAI_BASE_URL: {base_url!r} is not an http(s) URL")
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname.lower(), parts.port or default


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], destination: tuple[str, int]) -> None:
        super().__init__(address, ProxyHandler)
        self.destination = destination
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.recent: deque[dict[str, object]] = deque(maxlen=RECENT_ENTRIES)

    def log(self, **entry: object) -> None:
        self.recent.append(entry)
        print(json.dumps({"event": "connection", **entry}), file=sys.stderr, flush=True)


class ProxyHandler(socketserver.BaseRequestHandler):
    server: ProxyServer
    request: socket.socket

    def handle(self) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._refuse(503, "too many connections", "busy")
            return
        try:
            self._handle()
        finally:
            self.server.slots.release()

    def _handle(self) -> None:
        head = _read_head(self.request)
        if head is None:
            self._refuse(400, "no request head", "bad-request")
            return
        line, _, rest = head.partition(b"\r\n")
        words = line.decode("latin-1").split(" ")
        if len(words) != 3:  # method, target, version
            self._refuse(400, "not an HTTP request", "bad-request")
            return
        method, target, version = words
        host, port, origin = _destination(method, target)
        if (host, port) != self.server.destination:
            self._refuse(403, f"only {_join(self.server.destination)} is reachable", "refused")
            self.server.log(method=method, destination=_join((host, port)), verdict="refused")
            return
        try:
            upstream = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError as error:
            self._refuse(502, f"{_join((host, port))} cannot be reached", "unreachable")
            self.server.log(destination=_join((host, port)), verdict=type(error).__name__)
            return
        with upstream:
            if method == "CONNECT":
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(f"{method} {origin} {version}\r\n".encode("latin-1") + rest)
            sent, received = _pipe(self.request, upstream)
        self.server.log(
            method=method, destination=_join((host, port)), verdict="forwarded",
            bytes_up=sent, bytes_down=received,
        )  # fmt: skip

    def _refuse(self, status: int, reason: str, verdict: str) -> None:
        body = f"model-proxy: {reason}\n".encode()
        head = (
            f"HTTP/1.1 {status} {verdict}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            self.request.sendall(head.encode() + body)
        except OSError:
            return


def _join(destination: tuple[str, int]) -> str:
    return f"{destination[0]}:{destination[1]}"


def _destination(method: str, target: str) -> tuple[str, int, str]:
    """(host, port, origin-form target) of a CONNECT or absolute-form request; an
    empty host when it is neither."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]").lower(), int(port) if port.isdigit() else -1, ""
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        return "", -1, ""
    origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname.lower(), parts.port or 80, origin


def _read_head(sock: socket.socket) -> bytes | None:
    """The request head and whatever came after it, or None (too big, too slow, gone)."""
    sock.settimeout(HEAD_TIMEOUT_S)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) + len(chunk) > MAX_HEAD_BYTES:
                return None
            data += chunk
    except OSError:
        return None
    return data


def _pipe(client: socket.socket, upstream: socket.socket) -> tuple[int, int]:
    """Copy bytes both ways until either side closes or IDLE_TIMEOUT_S pass silently;
    (bytes to the model, bytes back)."""
    counts = {client: 0, upstream: 0}
    other = {client: upstream, upstream: client}
    with selectors.DefaultSelector() as selector:
        for sock in (client, upstream):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        open_ends = 2
        while open_ends:
            ready = selector.select(timeout=IDLE_TIMEOUT_S)
            if not ready:
                break
            for key, _ in ready:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = source.recv(CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(source)
                    open_ends -= 1
                    _shut(other[source])
                    continue
                counts[source] += len(chunk)
                other[source].setblocking(True)
                other[source].sendall(chunk)
                other[source].setblocking(False)
    return counts[client], counts[upstream]


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return


def _stop_on_signals(server: ProxyServer) -> None:
    """SIGTERM and SIGINT stop the server within a poll interval (as PID 1 in a container
    Python would otherwise ignore SIGTERM); open tunnels are daemon threads."""

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - the workers' network
    parser.add_argument("--port", type=int, default=3128)
    args = parser.parse_args(argv)
    try:
        destination = allowed_destination(os.environ.get("OPENAI_BASE_URL"))
    except ValueError as error:
        print(f"model_proxy: {error}; set it to the model's Responses API root", file=sys.stderr)
        return 2
    with ProxyServer((args.host, args.port), destination) as server:
        _stop_on_signals(server)
        print(
            json.dumps(
                {"event": "start", "port": server.server_address[1], "allow": _join(destination)}
            ),
            file=sys.stderr,
            flush=True,
        )
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
