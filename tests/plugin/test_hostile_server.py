"""A hostile orchestrator echoes the run's secret in every form it can think of: a garbage
status line, headers, JSON `\\u` escapes (whole and one per half), hex, percent-encoding,
MIME base64, upper case, HTML references, a saved value put into a later request line.
Every case fails, so the secret reaches pytest's failure text, the terminal summary, the
JUnit XML and the evidence; none of them may hold it in any form (issue 12, findings 2, 3
and 7)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import unquote_to_bytes

import pytest

from pytest_codex.secrets.redact import Redactor
from tests.hostile import Route, answer, hostile_server, raw

CANARY = "sk-canary-7f3e9b1d5c2a4e6f8091a2b3c4d5e6f7"
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}


def escaped(value: str, every: int = 1) -> str:
    """`value` with every `every`-th character as a JSON `\\u` escape."""
    return "".join(f"\\u{ord(c):04x}" if i % every == 0 else c for i, c in enumerate(value))


def one_escape_per_half(value: str) -> str:
    half = len(value) // 2
    return "".join(f"\\u{ord(c):04X}" if i in (3, half + 3) else c for i, c in enumerate(value))


def routes() -> dict[str, Route]:
    key = CANARY.encode()
    mime = base64.encodebytes(b"Authorization: Bearer " + key + b"\n" + b"padding " * 20)
    return {
        "/healthz": answer("200 OK", JSON, b'{"status": "ok"}'),
        "/status-line": raw(b"HTTP/1.1 2OO " + key + b"\r\n\r\n"),
        "/header": answer("200 OK", {**JSON, "X-Echo": CANARY.upper()}, b"{}"),
        "/json-escaped": answer("200 OK", JSON, f'{{"token": "{escaped(CANARY)}"}}'.encode()),
        "/json-half": answer(
            "200 OK", JSON, f'{{"token": "{one_escape_per_half(CANARY)}"}}'.encode()
        ),
        "/hex": answer("200 OK", TEXT, key.hex().upper().encode()),
        "/percent": answer("200 OK", TEXT, "".join(f"%{b:02x}" for b in key).encode()),
        "/percent-mixed": answer(
            "200 OK",
            TEXT,
            b"".join(b"%%%02X" % b if i % 3 else bytes([b]) for i, b in enumerate(key)),
        ),
        "/mime": answer("200 OK", TEXT, mime.replace(b"\n", b"\r\n")),
        "/upper": answer("200 OK", TEXT, key.upper()),
        "/html": answer("200 OK", TEXT, "".join(f"&#{ord(c)};" for c in CANARY).encode()),
        "/mixed": answer("200 OK", JSON, f'{{"token": "{escaped(CANARY, 2)}"}}'.encode()),
        "/save": answer(
            "200 OK", JSON, json.dumps({"id": CANARY, "crlf": "x\r\nX-Injected: 1"}).encode()
        ),
    }


CASES = """\
name: hostile
cases:
  - name: status-line
    request: {path: /status-line}
    expect: {status: 200}
  - name: header
    request: {path: /header}
    expect: {status: 200, headers: {x-echo: nothing-like-it}}
  - name: json-escaped
    request: {path: /json-escaped}
    expect: {status: 200, json: {token: other}}
  - name: json-half
    request: {path: /json-half}
    expect: {status: 200, json: {token: other}}
  - name: hex
    request: {path: /hex}
    expect: {status: 200, json: {token: other}}
  - name: percent
    request: {path: /percent}
    expect: {status: 201}
  - name: percent-mixed
    request: {path: /percent-mixed}
    expect: {status: 200, json: {token: other}}
  - name: mime
    request: {path: /mime}
    expect: {status: 200, json: {token: other}}
  - name: upper
    request: {path: /upper}
    expect: {status: 200, json: {token: other}}
  - name: html
    request: {path: /html}
    expect: {status: 200, json: {token: other}}
  - name: mixed
    request: {path: /mixed}
    expect: {status: 200, json: {token: other}}
  - name: save
    request: {path: /save}
    expect: {status: 201}
    save: {id: id, crlf: crlf}
  - name: saved-into-the-request-line
    request: {path: "/echo/{id}"}
    expect: {status: 200}
  - name: saved-into-a-header
    request: {path: /healthz, headers: {X-Saved: "{crlf}"}}
    expect: {status: 200}
"""
CASE_COUNT = CASES.count("- name:")


def hits(data: bytes) -> list[str]:
    """Every form of the canary in `data`, found independently of the redactor too."""
    found = [f"redactor: {hit}" for hit in Redactor({"OPENAI_API_KEY": CANARY}).scan(data)]
    key = CANARY.lower().encode()
    core = key[len("sk-canary-") :]  # the secret part, also when the text is cut short
    unbroken = re.sub(rb"\r|\n|\\r|\\n", b"", data)
    views = {
        "lower": data.lower(),
        "percent": unquote_to_bytes(data).lower(),
        "json": re.sub(
            rb"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)).encode(), data
        ).lower(),
        "html": html.unescape(data.decode("utf-8", "replace")).lower().encode(),
    }
    for name, view in views.items():
        found += [f"{name}: {part!r}" for part in (core[:16], core[16:]) if part in view]
    if key.hex().encode() in data.lower():
        found.append("hex")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + CANARY.encode())
        start, end = (shift * 8 + 5) // 6, ((shift + len(CANARY)) * 8) // 6
        if encoded[start:end] in unbroken:
            found.append(f"base64 at {shift}")
    return found


def test_a_hostile_server_gets_no_secret_into_any_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "hostile.yaml").write_text(CASES)
    with hostile_server(routes()) as server:
        result = pytester.runpytest_subprocess(
            "--codex-mode=mocked",
            f"--codex-base-url={server.url}",
            "--codex-evidence-dir=evidence",
            "--junitxml=junit.xml",
            "-v",
            "-rA",
            "matrices",
        )
    result.assert_outcomes(failed=CASE_COUNT)
    output = result.stdout.str() + result.stderr.str()
    # The failures are there, and readable: the secret alone is gone.
    result.stdout.fnmatch_lines(
        [
            "*BadStatusLine*[[]REDACTED:OPENAI_API_KEY[]]*",
            "*GET /echo/[[]REDACTED:OPENAI_API_KEY[]] HTTP/1.1*",
            "*header X-Saved: its value * holds CR, LF, NUL*; it is not sent",
        ]
    )
    assert not any(b"X-Injected" in request for request in server.requests)
    outputs = {
        "stdout+stderr": output.encode(),
        "junit.xml": (pytester.path / "junit.xml").read_bytes(),
    }
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert len(files) >= CASE_COUNT
    outputs |= {str(p.relative_to(bundle)): p.read_bytes() for p in files}
    leaks = {name: found for name, data in outputs.items() if (found := hits(data))}
    assert leaks == {}


def test_captured_output_and_assertion_text_of_any_test_are_redacted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    pytester.makepyfile(
        test_leaky=f"""
        import logging, os, sys

        def test_prints_and_fails():
            key = os.environ["OPENAI_API_KEY"]
            print("stdout", key.upper(), key.encode().hex())
            print("stderr", key, file=sys.stderr)
            logging.getLogger("x").warning("log %s", key)
            assert key == "{CANARY[:10]}"

        def test_skips():
            import pytest
            pytest.skip("because " + os.environ["OPENAI_API_KEY"])
        """
    )
    result = pytester.runpytest_subprocess("--junitxml=junit.xml", "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*Captured stdout call*", "*[[]REDACTED:OPENAI_API_KEY[]]*"])
    for data in (
        (result.stdout.str() + result.stderr.str()).encode(),
        (pytester.path / "junit.xml").read_bytes(),
    ):
        assert hits(data) == []
