"""The workers' forwarding proxy (`openai` mode), with real sockets on loopback: it
tunnels (CONNECT) and forwards (absolute-form HTTP) to the one allowed destination and
refuses every other one, and never logs a header."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_codex_orchestrator import model_proxy
from tests.conftest import free_port


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict[str, Any]]


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    server: Upstream
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(
            {"path": self.path, "body": body, "auth": self.headers["Authorization"]}
        )
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream(("127.0.0.1", 0), UpstreamHandler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy_server(upstream: Upstream) -> Iterator[model_proxy.ProxyServer]:
    server = model_proxy.ProxyServer(("127.0.0.1", 0), ("127.0.0.1", upstream.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(proxy_server: model_proxy.ProxyServer) -> int:
    return int(proxy_server.server_address[1])


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def post(host: str, port: int, target: str) -> bytes:
    body = b'{"model": "m"}'
    return (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Authorization: Bearer sk-canary-proxy\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def test_connect_to_the_model_host_is_a_tunnel(upstream: Upstream, proxy: int) -> None:
    port = upstream.server_address[1]
    with socket.create_connection(("127.0.0.1", proxy), timeout=10) as sock:
        sock.sendall(
            f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
        established = sock.recv(4096)
        assert established == b"HTTP/1.1 200 Connection established\r\n\r\n"
        sock.sendall(post("127.0.0.1", port, "/v1/responses"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b'{"ok": true}')
    assert upstream.seen[-1]["path"] == "/v1/responses"
    assert upstream.seen[-1]["auth"] == "Bearer sk-canary-proxy"


def test_absolute_form_http_is_forwarded_in_origin_form(
    upstream: Upstream,
    proxy_server: model_proxy.ProxyServer,
    proxy: int,
    capfd: pytest.CaptureFixture[str],
) -> None:
    port = upstream.server_address[1]
    answer = exchange(proxy, post("127.0.0.1", port, f"http://127.0.0.1:{port}/v1/responses?x=1"))
    assert answer.startswith(b"HTTP/1.1 200")
    assert upstream.seen[-1]["path"] == "/v1/responses?x=1"
    assert upstream.seen[-1]["body"] == b'{"model": "m"}'
    deadline = time.monotonic() + 5
    while not proxy_server.recent and time.monotonic() < deadline:
        time.sleep(0.05)
    [entry] = proxy_server.recent
    assert entry["verdict"] == "forwarded"
    assert entry["destination"] == f"127.0.0.1:{port}"
    assert "sk-canary-proxy" not in json.dumps(list(proxy_server.recent)) + capfd.readouterr().err


@pytest.mark.parametrize(
    "request_line",
    [
        "CONNECT 127.0.0.1:{other} HTTP/1.1",  # the host, another port (a host service)
        "CONNECT 10.0.0.1:{port} HTTP/1.1",  # another host
        "GET http://127.0.0.1:{other}/ HTTP/1.1",
        "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1",
    ],
)
def test_every_other_destination_is_refused(
    upstream: Upstream, proxy: int, request_line: str
) -> None:
    line = request_line.format(port=upstream.server_address[1], other=free_port())
    answer = exchange(proxy, f"{line}\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 refused")
    assert b"only 127.0.0.1:" in answer


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n", b"x" * 20000])
def test_a_request_that_is_neither_is_400(proxy: int, data: bytes) -> None:
    answer = exchange(proxy, data)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 403"))


def test_the_destination_comes_from_openai_base_url() -> None:
    assert model_proxy.allowed_destination(None) == ("api.openai.com", 443)
    assert model_proxy.allowed_destination("http://Model.Example:8080/v1") == (
        "model.example",
        8080,
    )
    assert model_proxy.allowed_destination("https://gw.example/openai/v1") == ("gw.example", 443)
    with pytest.raises(ValueError, match="not an http"):
        model_proxy.allowed_destination("ftp://x")
