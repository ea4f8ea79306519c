"""A hostile HTTP server for the project's own tests: a real socket on 127.0.0.1, served
from a thread, that answers each request path with raw bytes of its choice: garbage status
lines, secrets in every encoding, bodies that trickle or never end, gigabytes.

`routes` maps a path to a function writing the whole answer on the connection; a path it
does not know gets a 404. Errors of the client (it hung up) are the point of most routes
and are swallowed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

Route = Callable[[socket.socket], None]
MAX_REQUEST_HEAD = 64 * 1024
CONNECTION_LIMIT = 10_000  # connections served before the thread stops


def answer(status: str, headers: dict[str, str], body: bytes) -> Route:
    """A route sending one fixed answer (Content-Length set when not given)."""

    def route(conn: socket.socket) -> None:
        fields = {"Content-Length": str(len(body)), **headers}
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)

    return route


def raw(data: bytes) -> Route:
    """A route sending `data` as it is, then closing (garbage status lines)."""
    return lambda conn: conn.sendall(data)


def stream(total: int, *, chunked: bool, piece: int = 1024 * 1024, pause: float = 0.0) -> Route:
    """A body of `total` bytes (`-1`: endless) sent `piece` bytes at a time."""

    def route(conn: socket.socket) -> None:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
        conn.sendall(f"HTTP/1.1 200 OK\r\n{length}\r\n\r\n".encode())
        block = b"x" * piece
        sent = 0
        while total < 0 or sent < total:
            size = piece if total < 0 else min(piece, total - sent)
            data = block[:size]
            conn.sendall(b"%x\r\n%s\r\n" % (size, data) if chunked else data)
            sent += size
            if pause:
                time.sleep(pause)
        if chunked:
            conn.sendall(b"0\r\n\r\n")

    return route


class HostileServer:
    """The server; `url` is its base URL."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(CONNECTION_LIMIT):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, suppress(OSError):
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_HEAD:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else ""
            route = self.routes.get(path.split("?", 1)[0])
            if route is None:
                route = answer("404 Not Found", {"Content-Type": "application/json"}, b"{}")
            route(conn)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def hostile_server(routes: dict[str, Route]) -> Iterator[HostileServer]:
    server = HostileServer(routes)
    try:
        yield server
    finally:
        server.close()
