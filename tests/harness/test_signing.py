"""Signed bundles: keygen, the DSSE envelope and its in-toto Statement, and
`codex-evidence verify --key` rejecting every edit, even one re-hashed into the manifest."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pytest_codex.bundle import signing
from pytest_codex.review.cli import main
from tests.harness.test_verify import edit_manifest, make_bundle, manifest_of, rehash, unlist


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return signing.generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def signed(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    bundle = make_bundle(tmp_path / "evidence", ("passed", "failed"))
    signing.sign_bundle(bundle, signing.load_private_key(keys[0]))
    return bundle


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def verify_with(capsys: pytest.CaptureFixture[str], bundle: Path, pub: Path) -> tuple[int, str]:
    return run(capsys, "verify", str(bundle), "--key", str(pub), "--allow-failures")


def test_keygen_writes_a_private_and_a_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, "keygen", str(tmp_path / "new"))
    assert code == 0
    key, pub = tmp_path / "new/codex-evidence.key", tmp_path / "new/codex-evidence.pub"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert f"wrote {key} (private" in output
    assert f"wrote {pub} (public" in output
    assert "PRIVATE KEY" not in output


def test_keygen_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "codex-evidence.pub").write_text("mine")
    code, output = run(capsys, "keygen", str(tmp_path))
    assert code == 2
    assert output == (
        f"codex-evidence: {tmp_path}/codex-evidence.pub: exists already; keygen never "
        "overwrites a key (move it away or give another folder)\n"
    )
    assert not (tmp_path / "codex-evidence.key").exists()
    assert (tmp_path / "codex-evidence.pub").read_text() == "mine"


def test_a_signed_bundle_verifies_with_its_key(
    signed: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = verify_with(capsys, signed, keys[1])
    assert code == 0, output
    keyid = signing.key_id(signing.load_public_key(keys[1]))
    assert f"signature: good, by key {keyid[:16]}…" in output


def test_without_a_key_a_signature_is_not_called_trusted(
    signed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, "verify", str(signed), "--allow-failures")
    assert code == 0
    assert "signature: present, NOT checked (give --key)" in output
    assert "trusted" not in output
    assert "good" not in output


def test_another_key_is_refused(
    signed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, other = signing.generate_keypair(tmp_path / "other")
    code, output = verify_with(capsys, signed, other)
    assert code == 1
    assert "attestation.dsse.json: no valid signature by key" in output
    assert "signature: NOT valid for key" in output


def test_an_unsigned_bundle_with_a_key_is_refused(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path)
    code, output = verify_with(capsys, bundle, keys[1])
    assert code == 1
    assert "attestation.dsse.json: missing; the bundle is unsigned but --key was given" in output
    assert "signature: unsigned, but --key was given" in output


def edit_case_and_rehash(bundle: Path) -> None:
    """The forgery an unsigned bundle cannot show: same outcome, other response, new hash."""
    case = bundle / "cases/mocked/case-0.json"
    case.write_text(case.read_text().replace("mocked.yaml::case-0", "mocked.yaml::forged"))
    rehash(bundle, "cases/mocked/case-0.json")


def rewrite_target_and_run_id(bundle: Path) -> None:
    edit_manifest(bundle, run_id="f" * 32, target={"base_url": "https://prod.example"})


def flip_outcome_everywhere(bundle: Path) -> None:
    manifest = manifest_of(bundle)
    manifest["cases"][1] |= {"outcome": "passed", "message": None}
    edit_manifest(
        bundle, cases=manifest["cases"], totals=manifest["totals"] | {"passed": 2, "failed": 0}
    )
    for relative, old, new in (
        ("cases/mocked/case-1.json", '"failed"', '"passed"'),
        ("SUMMARY.md", "1 passed, 1 failed", "2 passed, 0 failed"),
    ):
        (bundle / relative).write_text((bundle / relative).read_text().replace(old, new))
        rehash(bundle, relative)


def add_a_listed_file(bundle: Path) -> None:
    (bundle / "cases/mocked/extra.json").write_text('{"outcome": "passed"}\n')
    rehash(bundle, "cases/mocked/extra.json")


def remove_a_case_and_its_entry(bundle: Path) -> None:
    manifest = manifest_of(bundle)
    (bundle / "cases/mocked/case-1.json").unlink()
    unlist(bundle, "cases/mocked/case-1.json")
    edit_manifest(
        bundle,
        cases=manifest["cases"][:1],
        totals=manifest["totals"] | {"failed": 0},
    )


def flip_a_byte(bundle: Path) -> None:
    log = bundle / "logs/service.log"
    log.write_bytes(log.read_bytes().replace(b"started", b"STARTED"))


def resign_with_another_key(bundle: Path) -> None:
    signing.sign_bundle(bundle, Ed25519PrivateKey.generate())


def edit_the_signed_statement(bundle: Path) -> None:
    path = bundle / signing.ATTESTATION
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["failedTests"] = []
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))


CHANGED = "but the bundle changed since"


@pytest.mark.parametrize(
    ("tamper", "message", "signature"),
    [
        (edit_case_and_rehash, "cases/mocked/case-0.json: edited after signing", CHANGED),
        (rewrite_target_and_run_id, "manifest.json: edited after signing", CHANGED),
        (flip_outcome_everywhere, "SUMMARY.md: edited after signing", CHANGED),
        (add_a_listed_file, "cases/mocked/extra.json: in the bundle, but not signed", CHANGED),
        (remove_a_case_and_its_entry, "cases/mocked/case-1.json: signed, but missing", CHANGED),
        (flip_a_byte, "logs/service.log: edited after signing", CHANGED),
        (resign_with_another_key, "no valid signature by key", "NOT valid for key"),
        (edit_the_signed_statement, "no valid signature by key", "NOT valid for key"),
    ],
)
def test_any_edit_of_a_signed_bundle_is_refused(
    signed: Path,
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[Path], None],
    message: str,
    signature: str,
) -> None:
    tamper(signed)
    code, output = verify_with(capsys, signed, keys[1])
    assert code == 1
    assert message in output
    assert signature in output
    assert "good" not in output


def test_a_forgery_consistent_without_the_signature_is_caught_only_with_it(
    signed: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    edit_case_and_rehash(signed)
    rewrite_target_and_run_id(signed)
    assert run(capsys, "verify", str(signed), "--allow-failures")[0] == 0
    assert verify_with(capsys, signed, keys[1])[0] == 1


def test_the_envelope_and_statement(signed: Path, keys: tuple[Path, Path]) -> None:
    envelope = json.loads((signed / signing.ATTESTATION).read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    [signature] = envelope["signatures"]
    public = signing.load_public_key(keys[1])
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert len(raw) == 32
    assert signature["keyid"] == signing.key_id(public)
    payload = base64.b64decode(envelope["payload"])
    public.verify(
        base64.b64decode(signature["sig"]), signing.pae(envelope["payloadType"], payload)
    )
    statement: dict[str, Any] = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    names = {subject["name"] for subject in statement["subject"]}
    assert "manifest.json" in names
    assert "attestation.dsse.json" not in names
    assert names == {entry["path"] for entry in manifest_of(signed)["files"]} | {"manifest.json"}
    manifest_digest = next(
        s["digest"]["sha256"] for s in statement["subject"] if s["name"] == "manifest.json"
    )
    assert statement["predicate"] == {
        "result": "FAILED",
        "configuration": [{"name": "manifest.json", "digest": {"sha256": manifest_digest}}],
        "url": None,
        "passedTests": ["mocked.yaml::case-0"],
        "warnedTests": [],
        "failedTests": ["mocked.yaml::case-1"],
        "run": {
            "run_id": manifest_of(signed)["run_id"],
            "timestamp": signed.parent.name,
            "mode": "mocked",
        },
    }


def test_pae_matches_the_dsse_specification_vector() -> None:
    assert (
        signing.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.parametrize(
    ("outcomes", "session", "result"),
    [
        (("passed", "passed"), {}, "PASSED"),
        (("passed", "skipped"), {}, "WARNED"),
        (("passed",), {"end": "interrupted", "collected": 5, "selected": 5}, "WARNED"),
        (("passed",), {"collected": 3, "deselected": 2}, "WARNED"),
        (("passed", "error"), {}, "FAILED"),
        ((), {}, "FAILED"),
        (("passed",), {"end": "stack_failure"}, "FAILED"),
    ],
)
def test_the_predicate_result(
    tmp_path: Path, outcomes: tuple[str, ...], session: dict[str, Any], result: str
) -> None:
    bundle = make_bundle(tmp_path, outcomes, session=session)
    assert signing.statement(bundle)["predicate"]["result"] == result


def test_a_format_1_bundle_is_warned(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, format_1=True)
    assert signing.statement(bundle)["predicate"]["result"] == "WARNED"


def test_signing_needs_a_finalized_bundle(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(signing.SigningError, match=r"manifest.json: missing; sign a finalized"):
        signing.sign_bundle(tmp_path, signing.load_private_key(keys[0]))


# ---- the key the plugin is given (--codex-signing-key, CODEX_SIGNING_KEY) --------------


def test_key_from_setting_takes_a_path_or_the_pem_text(keys: tuple[Path, Path]) -> None:
    wanted = signing.key_id(signing.load_public_key(keys[1]))
    pem = keys[0].read_text()
    for value in (str(keys[0]), pem, pem.strip().replace("\n", "\\n")):
        assert signing.key_id(signing.key_from_setting(value).public_key()) == wanted


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "codex signing key: empty; give the path"),
        ("/no/such/signing.key", "codex signing key: /no/such/signing.key: no such file"),
        ("MC4CAQAwBQYDK2VwBCIEIFakeFakeFake", "codex signing key: the value (not shown): no"),
        ("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", "not a PEM"),
    ],
)
def test_key_from_setting_errors_are_one_line_without_key_text(value: str, message: str) -> None:
    with pytest.raises(signing.SigningError) as raised:
        signing.key_from_setting(value)
    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    assert "MC4C" not in text
    assert "not base64" not in text


def test_key_from_setting_refuses_a_public_an_encrypted_and_another_kind_of_key(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(signing.SigningError, match="not a PEM private key"):
        signing.key_from_setting(keys[1].read_text())
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"canary-passphrase"),
    )
    with pytest.raises(signing.SigningError, match="the key is encrypted"):
        signing.key_from_setting(encrypted.decode())
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "ec.pem").write_bytes(other)
    (tmp_path / "ec.pem").chmod(0o600)
    with pytest.raises(signing.SigningError, match=r"ec.pem: a .*, not ed25519"):
        signing.key_from_setting(str(tmp_path / "ec.pem"))


def test_the_console_scripts_keygen_then_verify(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "codex-evidence"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, timeout=60, check=False
        )

    assert cli("keygen", str(tmp_path / "keys")).returncode == 0
    bundle = make_bundle(tmp_path / "evidence")
    signing.sign_bundle(
        bundle, signing.key_from_setting(str(tmp_path / "keys/codex-evidence.key"))
    )
    done = cli("verify", str(bundle), "--key", str(tmp_path / "keys/codex-evidence.pub"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "signature: good, by key" in done.stdout
    shutil.copy(bundle / "SUMMARY.md", bundle / "SUMMARY.copy.md")
    done = cli("verify", str(bundle), "--key", str(tmp_path / "keys/codex-evidence.pub"))
    assert done.returncode == 1
    assert "SUMMARY.copy.md: in the bundle, but not signed" in done.stdout


def test_a_signed_bundle_copied_under_another_timestamp_is_refused(
    signed: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify_with(capsys, signed, keys[1])[0] == 0
    replayed = signed.parent.parent / "20991231T235959Z" / signed.name
    shutil.copytree(signed, replayed)
    code, output = verify_with(capsys, replayed, keys[1])
    assert code == 1
    assert (
        f"attestation.dsse.json: statement: signed for the folder {signed.parent.name}/mocked, "
        "found in 20991231T235959Z/mocked; a signed bundle verifies only where its run wrote it"
    ) in output
    renamed = signed.parent / "live"
    signed.rename(renamed)
    code, output = verify_with(capsys, renamed, keys[1])
    assert code == 1
    assert f"found in {signed.parent.name}/live" in output


# ---- key files (issue 18, finding 8) ---------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_private_key_file_others_may_read_is_refused(keys: tuple[Path, Path], mode: int) -> None:
    keys[0].chmod(mode)
    with pytest.raises(signing.SigningError) as raised:
        signing.key_from_setting(str(keys[0]))
    assert str(raised.value) == (
        f"codex signing key: {keys[0]}: mode {mode:04o}, readable or writable by group or "
        f"others; a private key must be for its owner only: chmod 600 {keys[0]}"
    )
    keys[0].chmod(0o600)
    assert signing.key_from_setting(str(keys[0])) is not None


def test_keygen_makes_its_folder_0700_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key, pub = signing.generate_keypair(tmp_path / "new" / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
