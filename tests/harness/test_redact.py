"""The redactor finds a secret in every form it can take in a written file."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from pytest_codex.redact import Redactor, is_secret_name

CANARY = "sk-canary/Value+42=ok"  # has characters that URL and JSON escape differently


@pytest.fixture
def redactor() -> Redactor:
    return Redactor({"OPENAI_API_KEY": CANARY})


@pytest.mark.parametrize(
    "form",
    [
        CANARY,
        quote(CANARY, safe=""),
        quote_plus(CANARY),
        json.dumps(CANARY)[1:-1],
        base64.b64encode(CANARY.encode()).decode(),
        base64.urlsafe_b64encode(CANARY.encode()).decode(),
    ],
)
def test_each_form_is_replaced_by_the_name(redactor: Redactor, form: str) -> None:
    text = f"before {form} after"
    assert redactor.redact(text) == "before [REDACTED:OPENAI_API_KEY] after"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "Authorization: Bearer "])
def test_a_value_inside_a_longer_base64_text_is_found(redactor: Redactor, prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{CANARY} and more".encode())
    assert redactor.scan(encoded) == ["OPENAI_API_KEY (base64)"]
    assert b"REDACTED:OPENAI_API_KEY" in redactor.redact_bytes(encoded)


def test_json_escaping_of_unicode_and_quotes() -> None:
    value = 'pa"ss\\wörd-123'
    redactor = Redactor({"DB_PASSWORD": value})
    for text in (json.dumps({"v": value}), json.dumps({"v": value}, ensure_ascii=False)):
        assert value not in redactor.redact(text)
        assert "[REDACTED:DB_PASSWORD]" in redactor.redact(text)


def test_bytes_of_a_binary_file_are_redacted(redactor: Redactor) -> None:
    data = b"\x00\xff" + CANARY.encode() + b"\x80"
    assert redactor.redact_bytes(data) == b"\x00\xff[REDACTED:OPENAI_API_KEY]\x80"


def test_text_without_secrets_is_unchanged(redactor: Redactor) -> None:
    text = "nothing to see: sk-canary but not the value"
    assert redactor.redact(text) == text
    assert redactor.scan(text.encode()) == []


def test_overlapping_secrets_redact_the_longest_whole() -> None:
    redactor = Redactor({"SHORT_TOKEN": "abcdef12", "LONG_TOKEN": "abcdef12345678"})
    assert redactor.redact("x abcdef12345678 y abcdef12 z") == (
        "x [REDACTED:LONG_TOKEN] y [REDACTED:SHORT_TOKEN] z"
    )


def test_scan_names_the_secret_and_form_never_the_value(redactor: Redactor) -> None:
    data = f"{CANARY} {quote(CANARY, safe='')}".encode()
    found = redactor.scan(data)
    assert found == ["OPENAI_API_KEY (raw)", "OPENAI_API_KEY (url)"]
    assert all(CANARY not in line for line in found)


def test_from_environment_takes_secret_names_and_extra_values() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-live-123456",
        "OPENAI_ORG_ID": "org-abcdef",
        "OPENAI_PROJECT": "proj_abcdef",
        "GITHUB_TOKEN": "ghp_123456789",
        "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
        "HOME": "/root/secret-looking-but-not",
        "API_KEY": "short",
        "USE_DUMMY_WORKER": "true",
    }
    redactor = Redactor.from_environment(environ, {"ANYTHING": "from-the-env-file"})
    assert redactor.names == [
        "ANYTHING",
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT",
    ]
    assert redactor.redact("/tmp/ssh-agent.sock true short") == "/tmp/ssh-agent.sock true short"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("CODEX_API_TOKEN", True),
        ("DB_PASSWORD", True),
        ("OPENAI_ORG_ID", True),
        ("SSH_AUTH_SOCK", False),
        ("PATH", False),
        ("KEY_FILE", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_a_long_value_cut_short_is_found_by_either_half() -> None:
    value = "sk-proj-0123456789abcdefghijKLMNOP"
    redactor = Redactor({"OPENAI_API_KEY": value})
    head, tail = value[:17], value[-17:]
    assert redactor.scan(f"key={head}...".encode()) == ["OPENAI_API_KEY (fragment)"]
    assert redactor.redact(f"...{tail} and {value}") == (
        "...[REDACTED:OPENAI_API_KEY] and [REDACTED:OPENAI_API_KEY]"
    )
