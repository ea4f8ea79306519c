"""JSON log lines, and secret values taken out of every part of a record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pytest_codex_orchestrator.jsonlog import configure, secret_values

ENVIRON = {
    "OPENAI_API_KEY": "sk-canary-1234567890",
    "OPENAI_ORG_ID": "org-canary",
    "AWS_SECRET": "aws-canary-secret",
    "GITHUB_TOKEN": "ghp_canary",
    "SSH_KEY": "short",  # under six characters: too common to mask
    "HOME": "/root/not-a-secret",
}


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger().level
    handler = configure(ENVIRON, stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_secret_values_are_chosen_by_name_and_length() -> None:
    assert secret_values(ENVIRON) == [
        "sk-canary-1234567890",
        "aws-canary-secret",
        "ghp_canary",
        "org-canary",
    ]


def test_a_line_is_one_json_object(lines: io.StringIO) -> None:
    logging.getLogger("pytest_codex_orchestrator.test").info(
        "request", extra={"method": "GET", "path": "/healthz", "status": 200}
    )
    [line] = records(lines)
    assert list(line) == ["ts", "level", "event", "method", "path", "status"]
    assert (line["level"], line["event"], line["status"]) == ("info", "request", 200)
    assert str(line["ts"]).endswith("Z")


def test_secrets_are_masked_everywhere(lines: io.StringIO) -> None:
    log = logging.getLogger("pytest_codex_orchestrator.test")
    log.info("key %s in the message", ENVIRON["OPENAI_API_KEY"])
    log.info(
        "fields",
        extra={
            "path": f"/api/v1/{ENVIRON['OPENAI_ORG_ID']}/files",
            "nested": {"token": [ENVIRON["GITHUB_TOKEN"]]},
        },
    )
    try:
        raise ValueError(f"bad secret {ENVIRON['AWS_SECRET']}")
    except ValueError:
        log.exception("failed")
    text = lines.getvalue()
    for name in ("OPENAI_API_KEY", "OPENAI_ORG_ID", "AWS_SECRET", "GITHUB_TOKEN"):
        assert ENVIRON[name] not in text
    first, second, third = records(lines)
    assert first["event"] == "key *** in the message"
    assert second["path"] == "/api/v1/***/files"
    assert second["nested"] == {"token": ["***"]}
    assert "bad secret ***" in str(third["traceback"])
    assert "/root/not-a-secret" not in text  # never logged; HOME is not masked either


def test_configure_twice_keeps_one_handler(lines: io.StringIO) -> None:
    again = io.StringIO()
    handler = configure(ENVIRON, stream=again)
    try:
        logging.getLogger("pytest_codex_orchestrator.test").info("once")
        assert lines.getvalue() == ""
        assert [record["event"] for record in records(again)] == ["once"]
    finally:
        logging.getLogger().removeHandler(handler)
