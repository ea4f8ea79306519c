"""The model preflight of `--codex-live-model=openai`: one request to the model endpoint
before any case, against real HTTP servers on loopback (the bundled stand-in, and a
server that answers 429 or 500 with the key quoted in its body, as the real API quotes a
rejected key's prefix). Unreachable, 401 and 429 each stop the session once with one line
naming the cause and the fix; no stack is built, no case runs, no key is printed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_codex.target import preflight
from pytest_codex.target.docker import StackError
from tests.conftest import free_port
from tests.live.conftest import STUB_KEY, Stub

KEY = "sk-canary-preflight-7c41e9"
HEALTH_MATRIX = """\
name: health
description: The live stack answers.
modes: [live]
cases:
  - name: health-says-live
    request: {path: /healthz}
    expect: {status: 200, json: {status: ok, mode: live}}
"""


class Answering(ThreadingHTTPServer):
    daemon_threads = True
    status = 429
    seen: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    server: Answering

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length))
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        # As the real API does for a rejected key: part of it in the message.
        data = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def answering() -> Iterator[Answering]:
    server = Answering(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url_of(server: Answering) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_the_stand_in_accepts_the_right_key_and_refuses_another(model_stub: Stub) -> None:
    values = {"OPENAI_API_KEY": STUB_KEY, "OPENAI_BASE_URL": f"{model_stub.url}/v1"}
    assert preflight.check_model_endpoint(values) == 200
    with pytest.raises(StackError) as refused:
        preflight.check_model_endpoint({**values, "OPENAI_API_KEY": KEY})
    message = str(refused.value)
    assert message.startswith(
        f"codex model preflight: POST {model_stub.url}/v1/responses answered 401 "
        "(the key is rejected); check OPENAI_API_KEY"
    )
    assert "\n" not in message
    assert KEY not in message


def test_one_small_request_with_the_runs_headers_and_model(answering: Answering) -> None:
    answering.status = 200
    values = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": url_of(answering) + "/",
        "OPENAI_ORG_ID": "org-canary",
        "CODEX_MODEL": "gpt-test",
    }
    assert preflight.check_model_endpoint(values) == 200
    [seen] = answering.seen
    assert seen["path"] == "/v1/responses"
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    assert seen["headers"]["OpenAI-Organization"] == "org-canary"
    assert "OpenAI-Project" not in seen["headers"]
    assert seen["body"]["model"] == "gpt-test"
    assert seen["body"]["max_output_tokens"] == preflight.MAX_OUTPUT_TOKENS


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (429, "(rate limit or quota exceeded); wait and rerun"),
        (403, "(the key is rejected); check OPENAI_API_KEY"),
        (404, "(no such model or path: model 'gpt-5.5'); set CODEX_MODEL"),
        (503, "(the model endpoint is failing); rerun later"),
    ],
)
def test_each_refusal_is_one_line_with_its_cause(
    answering: Answering, status: int, cause: str
) -> None:
    answering.status = status
    with pytest.raises(StackError) as refused:
        preflight.check_model_endpoint(
            {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url_of(answering)}
        )
    message = str(refused.value)
    assert f"answered {status} {cause}" in message
    assert "\n" not in message
    assert KEY not in message


def test_an_unreachable_endpoint_is_named_as_such() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(StackError) as refused:
        preflight.check_model_endpoint({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url})
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert message.startswith(f"codex model preflight: POST {url}/responses cannot be reached (")
    assert "unreachable); check the host's network" in message
    assert "\n" not in message


def run_openai(pytester: pytest.Pytester, base_url: str) -> pytest.RunResult:
    pytester.path.joinpath(".env.live").write_text(
        f"OPENAI_API_KEY={KEY}\nOPENAI_BASE_URL={base_url}\n"
    )
    matrices = pytester.mkdir("m")
    (matrices / "health.yaml").write_text(HEALTH_MATRIX)
    return pytester.runpytest_subprocess(
        "--codex-mode=live",
        "--codex-live-model=openai",
        f"--codex-matrix={matrices}",
        "--codex-evidence-dir=evidence",
        "--codex-env-file=.env.live",
        "-p",
        "no:cacheprovider",
        timeout=120,
    )


@pytest.mark.parametrize(
    ("status", "cause"),
    [(401, "answered 401 (the key is rejected)"), (429, "answered 429 (rate limit")],
)
def test_a_rejected_endpoint_stops_the_session_once_before_any_case(
    pytester: pytest.Pytester, answering: Answering, status: int, cause: str
) -> None:
    answering.status = status
    started = time.monotonic()
    result = run_openai(pytester, url_of(answering))
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 1, output
    assert time.monotonic() - started < 60  # no image, no stack
    assert len(answering.seen) == 1  # one request, not one per case
    stops = [line for line in result.stdout.lines if "SESSION STOPPED:" in line]
    assert len(stops) == 1, output
    # The URL is a value of the env file: redacted like the key.
    assert "SESSION STOPPED: codex model preflight: POST " in stops[0]
    assert f"/responses {cause}" in stops[0]
    assert "health-says-live" not in output  # no case ran (or failed) after it
    assert "Traceback" not in output
    assert KEY not in output
    manifest = json.loads(next(pytester.path.glob("evidence/*/live/manifest.json")).read_text())
    assert manifest["session"]["end"] == "stack_failure", manifest["session"]


def test_an_unreachable_endpoint_stops_the_session_once(pytester: pytest.Pytester) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = run_openai(pytester, url)
    assert result.ret == 1
    stops = [line for line in result.stdout.lines if "SESSION STOPPED:" in line]
    assert len(stops) == 1, result.stdout.str()
    assert "cannot be reached" in stops[0]
    assert "unreachable" in stops[0]
