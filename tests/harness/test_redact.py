"""The redactor finds a secret in every form it can take in a written file."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from pytest_codex.secrets.escapes import decode_escapes
from pytest_codex.secrets.examples import forms
from pytest_codex.secrets.redact import Redactor, is_secret_name

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


# Held-out encodings (issue 12, finding 3): every form of a value, mixed escapes too.
ENCODED = "sk-canary/Value+42=ok wörd-😀-0123456789abcdef"
ENCODED_FORMS = [
    (name, example) for name, examples in forms(ENCODED).items() for example in examples
]


@pytest.mark.parametrize(
    ("form", "example"), ENCODED_FORMS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ENCODED_FORMS)]
)
def test_every_encoded_form_is_found_and_removed(form: str, example: bytes) -> None:
    redactor = Redactor({"OPENAI_API_KEY": ENCODED})
    data = b"before <" + example + b"> after"
    assert redactor.scan(data) == [f"OPENAI_API_KEY ({form})"]
    cleaned = redactor.redact_bytes(data)
    assert b"[REDACTED:OPENAI_API_KEY]" in cleaned
    assert redactor.scan(cleaned) == []


@pytest.mark.parametrize(
    "text",
    [
        "SK-CANARY/VALUE+42=OK",  # upper case
        "Sk-CaNaRy/VaLuE+42=oK",
        "736b2d63616e6172792f56616c75652b34323d6f6b",  # hex
        "736B2D63616E6172792F56616C75652B34323D6F6B",
        "%73%6b%2d%63%61%6e%61%72%79%2f%56%61%6c%75%65%2b%34%32%3d%6f%6b",  # every byte
        "%73%6B%2D%63%61%6E%61%72%79%2F%56%61%6C%75%65%2B%34%32%3D%6F%6B",
        "s%6b-c%61nary%2FValue%2b42=ok",  # some bytes
        "\\u0073\\u006b\\u002d\\u0063\\u0061\\u006e\\u0061\\u0072\\u0079\\u002f"
        "\\u0056\\u0061\\u006c\\u0075\\u0065\\u002b\\u0034\\u0032\\u003d\\u006f\\u006b",
        "s\\u006B-canary\\/Value+4\\u0032=ok",  # one escape in each half
        "\\x73k-canary/Value\\x2b42=ok",
        "s&#107;-canary&#x2F;Value+42=ok",
        "%73\\u006b-CANARY/value%2B42=OK",  # mixed and upper case
    ],
)
def test_held_out_text_forms(redactor: Redactor, text: str) -> None:
    assert redactor.redact(f"[{text}]") == "[[REDACTED:OPENAI_API_KEY]]"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\\n"])
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"Authorization: Bearer "])
def test_base64_with_line_breaks_is_found(newline: bytes, prefix: bytes) -> None:
    value = "sk-canary-" + "0123456789abcdef" * 8  # long enough to span two MIME lines
    redactor = Redactor({"OPENAI_API_KEY": value})
    for encoded in (
        base64.encodebytes(prefix + value.encode() + b" tail"),  # MIME, 76 columns
        base64.b64encode(prefix + value.encode()),
    ):
        data = encoded.replace(b"\n", newline)
        # Every line break inside the value's base64, at 76 and also at 64 columns.
        pem = newline.join(data.replace(newline, b"")[i : i + 64] for i in range(0, len(data), 64))
        for text in (data, pem):
            assert redactor.scan(text) == ["OPENAI_API_KEY (base64)"], text
            assert redactor.scan(redactor.redact_bytes(text)) == []


def test_a_secret_name_in_the_text_is_not_a_finding() -> None:
    redactor = Redactor({"OPENAI_API_KEY": "sk-canary-0123456789"})
    noise = (
        "%2e%2e%2f%2E%2E%5cetc%2fpasswd \\u00e9 \\\\ &amp; "
        + base64.b64encode(bytes(range(256))).decode()
        + " 736b2d63616e6172 sk-canary-012345678 SK-CANARY"
    )
    assert redactor.scan(noise.encode()) == []
    assert redactor.redact(noise) == noise


def test_the_decoded_escapes_keep_everything_else() -> None:
    assert decode_escapes(b"a%41\\u0042\\x43&#68;&#x45;&amp;\\n\\ud83d\\ude00") == (
        "aABCDE&\n😀".encode()
    )
    assert decode_escapes(b"plain text") == b"plain text"


@pytest.mark.parametrize(
    ("before", "value"),
    [("C:\\", "nobody-1234"), ("%", "ab12345678"), ("\\", "u00411234"), ("&", "amp;12345")],
)
def test_a_raw_value_that_an_escape_before_it_would_swallow_is_found(
    before: str, value: str
) -> None:
    redactor = Redactor({"OPENAI_API_KEY": value})
    assert redactor.scan(f"x{before}{value} y".encode()) == ["OPENAI_API_KEY (raw)"]
    assert redactor.redact(f"x{before}{value} y") == f"x{before}[REDACTED:OPENAI_API_KEY] y"
