"""Small orchestrator stand-ins on a real loopback socket, for the plugin's own tests:
`serving` runs any handler class on 127.0.0.1 (a free port) and yields its base URL;
`slow_handler` makes one that answers /healthz at once and every other GET after a delay
(a run long enough to be interrupted, or worth its xdist workers)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps the test output clean (no request log) and answers JSON."""

    def answer_json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def slow_handler(delay_s: float) -> type[QuietHandler]:
    """/healthz at once; every other GET `{"status": "ok"}` after `delay_s`."""

    class SlowHandler(QuietHandler):
        def do_GET(self) -> None:
            if self.path != "/healthz":
                time.sleep(delay_s)
            self.answer_json(200, b'{"status": "ok"}')

    return SlowHandler


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a free loopback port until the block ends; yields the URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
