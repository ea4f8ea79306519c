"""The stand-in's HTTP side: `POST /v1/responses` as Server-Sent Events, the key check,
the faults, and a request log that holds header names only.

`GET /healthz` answers 200; `GET /_stub/requests` returns the request log (for the
harness's evidence). The expected key comes from `MODEL_STUB_EXPECTED_KEY`; it and every
header value stay out of every log line and answer.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from pytest_codex_model_stub.script import output_items, scenario

RESPONSES_PATHS = ("/v1/responses", "/responses")
MAX_BODY = 16 * 1024 * 1024
SILENCE_S = 600.0  # how long `stall` and `hang` keep a connection without answering
POLL_INTERVAL_S = 0.2  # how often serve_forever looks for a shutdown request

ERRORS = {
    "401": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "429": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "500": (500, "server_error", None, "The server had an error while processing your request."),
}
USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 1500,
}


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], expected_key: str | None, turn_delay: float = 0.0
    ) -> None:
        super().__init__(address, StubHandler)
        self.expected_key = expected_key
        self.turn_delay = turn_delay  # seconds before each turn's answer (a slow model)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            entry = {"n": len(self.requests) + 1, **entry}
            self.requests.append(entry)
        print(json.dumps({"event": "request", **entry}), file=sys.stderr, flush=True)


class StubHandler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._json(200, {"status": "ok"})
        elif self.path == "/_stub/requests":
            with self.server.lock:
                self._json(200, {"requests": list(self.server.requests)})
        else:
            self._json(404, {"error": {"message": f"no route {self.command} {self.path}"}})

    def do_POST(self) -> None:
        entry: dict[str, Any] = {
            "method": "POST",
            "path": self.path,
            "headers": sorted({name.lower() for name in self.headers}),
        }
        if self.path not in RESPONSES_PATHS:
            self._finish(entry, "unknown-path", 404, {"error": {"message": "no such route"}})
            return
        if not self._authorized():
            self._finish(entry, "401", 401, _error_body("401"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if not 0 < length <= MAX_BODY:
                raise ValueError("a JSON body is required")
            body = json.loads(self.rfile.read(length))
        except ValueError as error:
            self._finish(entry, "bad-request", 400, {"error": {"message": str(error)}})
            return
        chosen = scenario(body)
        entry |= {"scenario": chosen, "model": body.get("model"), "stream": body.get("stream")}
        if chosen in ERRORS:
            self._finish(entry, chosen, ERRORS[chosen][0], _error_body(chosen))
        elif chosen == "hang":
            self.server.record({**entry, "status": None})
            time.sleep(SILENCE_S)
            self.close_connection = True
        else:
            self.server.record({**entry, "status": 200})
            if self.server.turn_delay:
                time.sleep(self.server.turn_delay)
            self._stream(chosen, len(body.get("input") or []))

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return False
        return self.server.expected_key is None or key == self.server.expected_key

    def _stream(self, chosen: str, turn: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        response_id = f"resp_{uuid.uuid4().hex[:16]}"
        self._event({"type": "response.created", "response": {"id": response_id}})
        if chosen == "stall":
            time.sleep(SILENCE_S)
            return
        if chosen == "failed":
            self._event(
                {
                    "type": "response.failed",
                    "response": {
                        "id": response_id,
                        "error": {"code": "server_error", "message": "The model run failed."},
                    },
                }
            )
            return
        for item in output_items(chosen, turn):
            self._event({"type": "response.output_item.done", "item": item})
        self._event(
            {"type": "response.completed", "response": {"id": response_id, "usage": USAGE}}
        )

    def _event(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload)
        self.wfile.write(f"event: {payload['type']}\ndata: {data}\n\n".encode())
        self.wfile.flush()

    def _finish(self, entry: dict[str, Any], chosen: str, status: int, body: object) -> None:
        self.server.record({**entry, "scenario": chosen, "status": status})
        self._json(status, body)

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request log above holds what is safe to keep."""


def _error_body(fault: str) -> dict[str, Any]:
    _, kind, code, message = ERRORS[fault]
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def serve(host: str, port: int, expected_key: str | None, turn_delay: float = 0.0) -> None:
    """Serve until SIGTERM or SIGINT, then stop within a second (as PID 1 in a container
    Python would otherwise ignore SIGTERM; open `stall` / `hang` connections are daemon
    threads and end with the process)."""
    server = StubServer((host, port), expected_key, turn_delay)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever, which runs in this (the main) thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        json.dumps(
            {
                "event": "start",
                "host": host,
                "port": server.server_address[1],
                "key_check": expected_key is not None,
            }
        ),
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=POLL_INTERVAL_S)
    finally:
        server.server_close()
    print(json.dumps({"event": "stop"}), file=sys.stderr, flush=True)
