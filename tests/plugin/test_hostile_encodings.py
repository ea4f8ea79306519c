"""Round three of the hostile server (issue 18, findings 5 and 6): the secret comes back
JSON-escaped twice, in a gzip body, split across header values, as fullwidth look-alikes,
as UTF-16 hex, reversed, ROT13 and base32; a body holds a lone surrogate and invalid
UTF-8. Every case fails, so the bodies reach the failure text, the terminal, the JUnit
XML and the evidence: none may hold the secret in any of these forms; the surrogate case
is a failure (not an error) whose evidence file is kept; and `verify --secret-env` fails
on a bundle that holds any of the forms."""

from __future__ import annotations

import base64
import codecs
import gzip
import json
import unicodedata
import zlib
from pathlib import Path

import pytest

from pytest_codex.review.cli import main as codex_evidence
from tests.harness.test_verify import make_bundle, rehash
from tests.hostile import Route, answer, hostile_server, raw

CANARY = "sk-canary-2b7d4f6a8c0e1357924680acebdf1357"
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}
THIRDS = (CANARY[:14], CANARY[14:28], CANARY[28:])


def twice_escaped(value: str) -> bytes:
    """A JSON body whose string holds `\\u0073…` text: the value JSON-escaped twice."""
    return json.dumps({"token": "".join(f"\\u{ord(c):04x}" for c in value)}).encode()


def fullwidth(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)


FORMS: dict[str, bytes] = {
    "twice-escaped": twice_escaped(CANARY),
    "fullwidth": fullwidth(CANARY).encode(),
    "utf16-hex": CANARY.encode("utf-16-le").hex().encode(),
    "utf16be-hex": CANARY.encode("utf-16-be").hex().upper().encode(),
    "reversed": CANARY[::-1].encode(),
    "rot13": codecs.encode(CANARY, "rot13").encode(),
    "base32": base64.b32encode(b"token=" + CANARY.encode()),
}


def split_headers(conn: object) -> None:
    head = "".join(f"X-Part: {part}\r\n" for part in THIRDS)
    raw(f"HTTP/1.1 200 OK\r\n{head}Content-Length: 2\r\n\r\n{{}}".encode())(conn)  # type: ignore[arg-type]


def routes() -> dict[str, Route]:
    found: dict[str, Route] = {
        f"/{name}": answer("200 OK", TEXT, body) for name, body in FORMS.items()
    }
    found["/healthz"] = answer("200 OK", JSON, b'{"status": "ok"}')
    body = json.dumps({"token": CANARY}).encode()
    found["/gzip"] = answer("200 OK", {**JSON, "Content-Encoding": "gzip"}, gzip.compress(body))
    found["/deflate"] = answer(
        "200 OK", {**JSON, "Content-Encoding": "deflate"}, zlib.compress(body)
    )
    found["/br"] = answer("200 OK", {**JSON, "Content-Encoding": "br"}, b"\x8b\x02\x80" + body)
    found["/split-header"] = split_headers
    found["/surrogate"] = answer("200 OK", JSON, b'{"text": "\\ud800 lone"}')
    found["/invalid-utf8"] = answer("200 OK", TEXT, b"caf\xe9 \xff\xfe end")
    return found


CASE_NAMES = [*FORMS, "gzip", "deflate", "br", "split-header", "surrogate", "invalid-utf8"]
CASES = "name: encodings\ncases:\n" + "".join(
    f"  - name: {name}\n    request: {{path: /{name}}}\n    expect: {{status: 201}}\n"
    for name in CASE_NAMES
)


def leaks(data: bytes) -> list[str]:
    """Each form of the canary found in `data`, by views independent of the redactor."""
    text = data.decode("utf-8", "replace")
    core = CANARY[len("sk-canary-") :]
    views = {
        "raw": text.lower(),
        "nfkc": unicodedata.normalize("NFKC", text).lower(),
        "reversed": text[::-1].lower(),
        "rot13": codecs.encode(text, "rot13").lower(),
        "unescaped": text.replace("\\\\", "\\").encode().decode("unicode_escape", "replace"),
    }
    found = [
        f"{name}: {part}"
        for name, view in views.items()
        for part in (core[:12], core[-12:])
        if part in view
    ]
    if CANARY.encode("utf-16-le").hex()[:24] in text.lower():
        found.append("utf16-hex")
    if CANARY.encode("utf-16-be").hex()[:24] in text.lower():
        found.append("utf16be-hex")
    if FORMS["base32"].decode()[12:40].lower() in text.lower():
        found.append("base32")
    found += [f"header part {part}" for part in THIRDS[1:] if part in text]
    return found


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "encodings.yaml").write_text(CASES)
    with hostile_server(routes()) as server:
        return pytester.runpytest_subprocess(
            "--codex-mode=mocked",
            f"--codex-base-url={server.url}",
            "--codex-evidence-dir=evidence",
            "--junitxml=junit.xml",
            "-v",
            "-rA",
            "matrices",
        )


def bundle_of(pytester: pytest.Pytester) -> Path:
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    return bundle


def test_no_encoded_form_of_the_secret_reaches_any_output(
    run: pytest.RunResult, pytester: pytest.Pytester
) -> None:
    run.assert_outcomes(failed=len(CASE_NAMES))
    outputs = {
        "stdout+stderr": (run.stdout.str() + run.stderr.str()).encode(),
        "junit.xml": (pytester.path / "junit.xml").read_bytes(),
    }
    bundle = bundle_of(pytester)
    outputs |= {
        str(p.relative_to(bundle)): p.read_bytes() for p in bundle.rglob("*") if p.is_file()
    }
    found = {name: hit for name, data in outputs.items() if (hit := leaks(data))}
    assert found == {}
    for name in ("reversed", "rot13", "base32"):  # also in stdout and JUnit (finding 5)
        run.stdout.fnmatch_lines([f"*{name} failed*"])


def test_encoded_bodies_are_stored_decoded_and_withheld_when_they_cannot_be(
    run: pytest.RunResult, pytester: pytest.Pytester
) -> None:
    cases = bundle_of(pytester) / "cases"
    evidence = {p.name.split(".")[0]: json.loads(p.read_text()) for p in cases.rglob("*.json")}
    gzip_case = evidence["gzip"]["response"]
    assert gzip_case["body"] == {"token": "[REDACTED:OPENAI_API_KEY]"}
    assert gzip_case["body_note"] == "decoded from Content-Encoding gzip"
    assert evidence["deflate"]["response"]["body"] == {"token": "[REDACTED:OPENAI_API_KEY]"}
    br = evidence["br"]["response"]
    assert br["body"] == ""
    assert br["body_note"].startswith("body withheld: Content-Encoding 'br'")
    parts = [v for k, v in evidence["split-header"]["response"]["headers"] if k == "X-Part"]
    assert parts == ["[REDACTED:OPENAI_API_KEY]"] * 3


def test_a_lone_surrogate_and_invalid_utf8_are_stored_escaped_not_lost(
    run: pytest.RunResult, pytester: pytest.Pytester
) -> None:
    """Finding 6: `"\\ud800"` crashed write_text; the case became an error, no evidence."""
    run.stdout.fnmatch_lines(["*::surrogate FAILED*", "*::invalid-utf8 FAILED*"])
    run.stdout.no_fnmatch_line("*UnicodeEncodeError*")
    cases = bundle_of(pytester) / "cases"
    [surrogate] = cases.rglob("surrogate.*json")
    assert json.loads(surrogate.read_bytes().decode("utf-8"))["response"]["body"] == {
        "text": "\ud800 lone"
    }
    [invalid] = cases.rglob("invalid-utf8.*json")
    body = json.loads(invalid.read_bytes().decode("utf-8"))["response"]["body"]
    assert body == "caf\\xe9 \\xff\\xfe end"


@pytest.mark.parametrize("form", sorted(FORMS))
def test_verify_secret_env_fails_on_every_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    bundle = make_bundle(tmp_path / "evidence")
    (bundle / "logs" / "service.log").write_bytes(b"started " + FORMS[form] + b"\n")
    rehash(bundle, "logs/service.log")
    monkeypatch.setenv("CODEX_TEST_CANARY", CANARY)
    code = codex_evidence(["verify", str(bundle), "--secret-env", "CODEX_TEST_CANARY"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "secret found: logs/service.log: CODEX_TEST_CANARY (" in output


def test_verify_secret_env_fails_on_a_secret_split_across_header_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path / "evidence")
    case = bundle / "cases" / "mocked" / "case-0.json"
    document = json.loads(case.read_text())
    document["response"] = {"headers": [["X-Part", part] for part in THIRDS]}
    case.write_text(json.dumps(document))
    rehash(bundle, "cases/mocked/case-0.json")
    monkeypatch.setenv("CODEX_TEST_CANARY", CANARY)
    code = codex_evidence(["verify", str(bundle), "--secret-env", "CODEX_TEST_CANARY"])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "CODEX_TEST_CANARY (raw) (split across header values)" in output
