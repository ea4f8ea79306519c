"""The model stand-in speaks the Responses API the way the Codex CLI expects it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_codex_model_stub.server import StubServer
from tests.conftest import REPO, free_port, wait_healthy
from tests.live.conftest import STUB_KEY, Stub

AUTH = {"Authorization": f"Bearer {STUB_KEY}"}


def turn(text: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "gpt-5.5",
        "stream": True,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
            *extra,
        ],
    }


def events(stub: Stub, body: dict[str, Any], timeout: float = 10) -> list[dict[str, Any]]:
    answer = httpx.post(f"{stub.url}/v1/responses", json=body, headers=AUTH, timeout=timeout)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    frames = [f for f in answer.text.split("\n\n") if f.strip()]
    parsed = []
    for frame in frames:
        name, data = frame.split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        parsed.append(payload)
    return parsed


def test_a_create_turn_adds_the_three_files_with_apply_patch(model_stub: Stub) -> None:
    stream = events(model_stub, turn("Create a Python CLI app that prints Fibonacci numbers"))
    assert [e["type"] for e in stream] == [
        "response.created",
        "response.output_item.done",
        "response.completed",
    ]
    item = stream[1]["item"]
    assert (item["type"], item["name"]) == ("custom_tool_call", "apply_patch")
    assert item["input"].startswith("*** Begin Patch\n")
    for path in ("README.md", "app.py", "tests/test_cli.py"):
        assert f"*** Add File: {path}\n" in item["input"]
    assert stream[2]["response"]["usage"]["output_tokens"] > 0


def test_an_edit_turn_updates_app_py(model_stub: Stub) -> None:
    stream = events(model_stub, turn("Edit the existing project in the current directory."))
    assert "*** Update File: app.py\n" in stream[1]["item"]["input"]


def test_a_tool_output_ends_the_turn_with_a_message(model_stub: Stub) -> None:
    output = {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done!"}
    stream = events(model_stub, turn("Create the CLI", output))
    item = stream[1]["item"]
    assert (item["type"], item["role"]) == ("message", "assistant")
    assert item["content"][0]["type"] == "output_text"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong-key-000000"}])
def test_a_missing_or_wrong_key_is_401_and_never_logged(
    model_stub: Stub, headers: dict[str, str]
) -> None:
    answer = httpx.post(f"{model_stub.url}/v1/responses", json=turn("x"), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    served = json.dumps(model_stub.requests()) + model_stub.log.read_text()
    assert STUB_KEY not in served
    assert "sk-wrong-key" not in served


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        ("401", 401, "invalid_request_error"),
        ("500", 500, "server_error"),
        ("429", 429, "insufficient_quota"),
    ],
)
def test_error_faults(model_stub: Stub, fault: str, status: int, kind: str) -> None:
    answer = httpx.post(
        f"{model_stub.url}/v1/responses", json=turn(f"go [model-stub:{fault}]"), headers=AUTH
    )
    assert answer.status_code == status
    assert answer.json()["error"]["type"] == kind


def test_a_failed_response_event(model_stub: Stub) -> None:
    stream = events(model_stub, turn("go [model-stub:failed]"))
    assert [e["type"] for e in stream] == ["response.created", "response.failed"]


def test_stall_sends_headers_then_nothing(model_stub: Stub) -> None:
    with httpx.stream(
        "POST",
        f"{model_stub.url}/v1/responses",
        json=turn("[model-stub:stall]"),
        headers=AUTH,
        timeout=httpx.Timeout(5, read=1.0),
    ) as answer:
        assert answer.status_code == 200
        chunks = answer.iter_bytes()
        assert b"response.created" in next(chunks)
        with pytest.raises(httpx.ReadTimeout):
            next(chunks)


def test_hang_sends_nothing_while_other_requests_are_answered(model_stub: Stub) -> None:
    outcome: list[str] = []

    def hung() -> None:
        try:
            httpx.post(
                f"{model_stub.url}/v1/responses",
                json=turn("[model-stub:hang]"),
                headers=AUTH,
                timeout=httpx.Timeout(5, read=1.5),
            )
            outcome.append("answered")
        except httpx.ReadTimeout:
            outcome.append("timed out")

    thread = threading.Thread(target=hung)
    thread.start()
    assert events(model_stub, turn("Create the CLI"))[-1]["type"] == "response.completed"
    thread.join(timeout=10)
    assert outcome == ["timed out"]


def test_the_request_log_holds_header_names_only(model_stub: Stub) -> None:
    httpx.post(
        f"{model_stub.url}/v1/responses",
        json=turn("x"),
        headers={**AUTH, "OpenAI-Organization": "org-canary-77"},
    )
    last = model_stub.requests()[-1]
    assert "authorization" in last["headers"]
    assert "openai-organization" in last["headers"]
    everything = json.dumps(model_stub.requests()) + model_stub.log.read_text()
    assert "org-canary-77" not in everything
    assert STUB_KEY not in everything


def test_unknown_paths_are_json_404(model_stub: Stub) -> None:
    answer = httpx.get(f"{model_stub.url}/v1/models")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"


def test_sigterm_stops_it_within_a_second_even_with_a_hung_request(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "service")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_codex_model_stub", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stub.log").open("wb"),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        hung = threading.Thread(target=_post_quietly, args=(url,), daemon=True)
        hung.start()
        time.sleep(0.3)  # the hang is being served
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - started < 1.0
    finally:
        if process.poll() is None:
            process.kill()
    assert '"event": "stop"' in (tmp_path / "stub.log").read_text()


def _post_quietly(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{url}/v1/responses",
            json=turn("[model-stub:hang]"),
            headers=AUTH,
            timeout=httpx.Timeout(5, read=10),
        )


def test_a_turn_delay_slows_every_answer_by_that_much() -> None:
    server = StubServer(("127.0.0.1", 0), STUB_KEY, turn_delay=0.6)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/responses"
        started = time.perf_counter()
        answer = httpx.post(url, json=turn("Create a Python CLI app"), headers=AUTH, timeout=10)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200
        assert "response.completed" in answer.text
        assert elapsed >= 0.6
    finally:
        server.shutdown()
        server.server_close()
