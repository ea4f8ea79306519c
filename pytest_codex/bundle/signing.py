"""Signed bundles: an in-toto Statement with a test-result predicate, in a DSSE envelope,
signed with an ed25519 key.

`sign_bundle(bundle, key)` writes `attestation.dsse.json` next to `manifest.json`; its
Statement names every file of the bundle (manifest.json included) with its sha256, so
that `verify_attestation(bundle, public_key)` rejects any edit, even a file re-hashed
into the manifest. `generate_keypair(dir)` writes the key pair `codex-evidence keygen`
gives; `key_from_setting(value)` reads the private key the plugin is told about (a path
or the PEM text itself). Errors are `SigningError`, one line, never showing key text.
No pytest import here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pytest_codex.bundle import reader
from pytest_codex.bundle.reader import bundle_files
from pytest_codex.bundle.record import FAILING_ENDS
from pytest_codex.bundle.writer import MANIFEST, sha256_file
from pytest_codex.review.verdict import NO_CASES, PASSED, judge

ATTESTATION = "attestation.dsse.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
KEY_FILE = "codex-evidence.key"
PUBLIC_KEY_FILE = "codex-evidence.pub"
# Bounds on what is read: a PEM key is under 200 bytes; a Statement names every file of a
# bundle (about 200 bytes each); a manifest holds every case and every file.
MAX_KEY_BYTES = 64 * 1024
MAX_ATTESTATION_BYTES = 64 * 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_SIGNATURES = 16


class SigningError(Exception):
    """A key or a bundle that cannot be signed or read; the text says how to fix it."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The sha256 of the raw 32-byte public key, in hex: the `keyid` of a signature."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_keypair(directory: Path) -> tuple[Path, Path]:
    """Write `DIR/codex-evidence.key` (PEM PKCS8, mode 0600) and `DIR/codex-evidence.pub`
    (PEM SubjectPublicKeyInfo); never overwrites either."""
    key_path, pub_path = directory / KEY_FILE, directory / PUBLIC_KEY_FILE
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise SigningError(
                f"{path}: exists already; keygen never overwrites a key "
                "(move it away or give another folder)"
            )
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True)
            os.chmod(directory, 0o700)  # mkdir's mode is cut by the umask, never widened
    except OSError as error:
        raise SigningError(
            f"{directory}: cannot create the folder ({error.strerror}); give a writable one"
        ) from None
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(key_path, private, 0o600)
    _write_new(pub_path, public, 0o644)
    return key_path, pub_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SigningError(
            f"{path}: exists already; keygen never overwrites a key "
            "(move it away or give another folder)"
        ) from None
    except OSError as error:
        raise SigningError(
            f"{path}: cannot write ({error.strerror}); give a writable folder"
        ) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have taken bits away from the public key's mode


def load_private_key(source: str | Path) -> Ed25519PrivateKey:
    """An ed25519 private key from a PEM file's path or from the PEM text itself."""
    if isinstance(source, str) and "-----BEGIN" in source:
        text = source.strip()
        if "\n" not in text and "\\n" in text:  # a secret store that kept `\n` escapes
            text = text.replace("\\n", "\n")
        return _private_from_pem(text.encode("ascii", "replace"), "the PEM text given")
    path = Path(source).expanduser()
    data = _read_key_file(path)
    _refuse_shared(path)
    return _private_from_pem(data, str(path))


def _refuse_shared(path: Path) -> None:
    """A private key file that group or others may read is refused, as ssh refuses one:
    anyone on the machine could sign bundles with it (docs/signing.md)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        shown = str(path) if _looks_like_a_path(str(path)) else "the key file"
        raise SigningError(
            f"{shown}: mode {mode:04o}, readable or writable by group or others; a private "
            f"key must be for its owner only: chmod 600 {shown}"
        )


def key_from_setting(value: str) -> Ed25519PrivateKey:
    """The signing key of `--codex-signing-key` / ini `codex_signing_key` /
    `CODEX_SIGNING_KEY`: a path, or the PEM text itself. Raises SigningError (one line,
    prefixed `codex signing key:`, never showing key text)."""
    if not value.strip():
        raise SigningError(
            "codex signing key: empty; give the path of the key `codex-evidence keygen` "
            "wrote, or its PEM text"
        )
    try:
        return load_private_key(value)
    except SigningError as error:
        raise SigningError(f"codex signing key: {error}") from None


def _read_key_file(path: Path, *, public: bool = False) -> bytes:
    shown = str(path) if public or _looks_like_a_path(str(path)) else "the value (not shown)"
    if not path.is_file():
        raise SigningError(
            f"{shown}: no such file and not PEM text; give the path of the key "
            "`codex-evidence keygen` wrote, or its PEM text"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as error:
        raise SigningError(
            f"{shown}: cannot read ({error.strerror}); check its permissions"
        ) from None
    if len(data) > MAX_KEY_BYTES:
        raise SigningError(f"{shown}: larger than {MAX_KEY_BYTES} bytes; not a key file")
    return data


def _looks_like_a_path(text: str) -> bool:
    """Whether a setting may be echoed: a short name without spaces ending in .key/.pem
    (a mistyped base64 key body must never reach a log)."""
    return (
        len(text) <= 255
        and not any(c.isspace() for c in text)
        and (text.endswith((".key", ".pem", ".pub")))
    )


def _private_from_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    fix = "give the private key `codex-evidence keygen` wrote (PEM PKCS8, unencrypted)"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningError(f"{where}: the key is encrypted; {fix}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(f"{where}: not a PEM private key; {fix}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{where}: a {type(key).__name__}, not ed25519; {fix}")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The ed25519 public key of a PEM file (`codex-evidence.pub`)."""
    fix = "give the codex-evidence.pub that `codex-evidence keygen` wrote"
    data = _read_key_file(path, public=True)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError(f"{path}: not a PEM public key; {fix}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: a {type(key).__name__}, not ed25519; {fix}")
    return key


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, the bytes a signature covers:
    `DSSEv1 <len> <type> <len> <payload>` (lengths in bytes, decimal)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The bundle's manifest.json, parsed by the bounded reader (at most
    MAX_MANIFEST_BYTES, no symlink or special file, a bounded depth)."""
    path = bundle / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise SigningError(f"{path}: missing; sign a finalized bundle (…/<timestamp>/<mode>)")
    try:
        return reader.read_manifest(bundle, MANIFEST)
    except reader.BundleReadError as error:
        raise SigningError(f"{bundle / MANIFEST}: {str(error).partition(': ')[2]}") from None


def predicate_result(manifest: dict[str, Any]) -> str:
    """PASSED, WARNED or FAILED for a manifest, from the verdict verify gives it
    (`review.verdict.judge`): FAILED when a case failed or errored, no case ran, or the
    session ended in a stack failure, usage or internal error; PASSED for a PASSED
    verdict with no skipped case; WARNED otherwise (a partial run, a skipped case)."""
    verdict = judge(manifest)
    failing_words = {end.replace("_", " ").upper() for end in FAILING_ENDS}
    if (
        verdict.counts.get("failed")
        or verdict.counts.get("error")
        or verdict.word in (NO_CASES, *failing_words)
    ):
        return "FAILED"
    if verdict.word == PASSED and not verdict.counts.get("skipped"):
        return "PASSED"
    return "WARNED"


def statement(bundle: Path) -> dict[str, Any]:
    """The in-toto Statement of a finalized bundle: every file (manifest.json included,
    this attestation excluded) as a subject, the run's tests as a test-result predicate."""
    manifest = read_manifest(bundle)
    subjects = [
        {"name": relative, "digest": {"sha256": sha256_file(bundle / relative)}}
        for relative in bundle_files(bundle)
        if relative != ATTESTATION
    ]
    cases = [case for case in manifest.get("cases") or [] if isinstance(case, dict)]
    names = {
        outcome: [f"{c.get('file')}::{c.get('name')}" for c in cases if c.get("outcome") in kinds]
        for outcome, kinds in (("passed", ("passed",)), ("failed", ("failed", "error")))
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "result": predicate_result(manifest),
            "configuration": [
                {"name": MANIFEST, "digest": {"sha256": sha256_file(bundle / MANIFEST)}}
            ],
            "url": None,
            "passedTests": names["passed"],
            "warnedTests": [],
            "failedTests": names["failed"],
            # Where the run wrote it: a copy under another timestamp folder is refused.
            "run": {
                "run_id": manifest.get("run_id"),
                "timestamp": bundle.resolve().parent.name,
                "mode": bundle.resolve().name,
            },
        },
    }


def sign_bundle(bundle: Path, private_key: Ed25519PrivateKey) -> Path:
    """Write `attestation.dsse.json` for a finalized bundle (replacing an earlier one)."""
    payload = json.dumps(statement(bundle), sort_keys=True, separators=(",", ":")).encode()
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": key_id(private_key.public_key()),
                "sig": base64.b64encode(private_key.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }
    path = bundle / ATTESTATION
    path.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    return path


def verify_attestation(bundle: Path, public_key: Ed25519PublicKey) -> tuple[bool, list[str]]:
    """Whether the envelope carries a valid signature by `public_key`, and every problem,
    one line each: none when it does and its Statement names exactly the files on disk,
    each with its sha256."""
    where = ATTESTATION
    path = bundle / ATTESTATION
    if not path.is_file() or path.is_symlink():
        return False, [f"{where}: missing; the bundle is unsigned but --key was given"]
    try:
        envelope = reader.read_json(bundle, ATTESTATION, MAX_ATTESTATION_BYTES)
    except reader.BundleReadError as error:
        return False, [f"{error}; not an attestation"]
    try:
        payload_type = envelope["payloadType"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = list(envelope["signatures"])[: MAX_SIGNATURES + 1]
        pairs = [
            (str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
            for s in signatures
        ]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        return False, [f"{where}: not a DSSE envelope ({type(error).__name__}: {error})"]
    if len(pairs) > MAX_SIGNATURES:
        return False, [
            f"{where}: more than {MAX_SIGNATURES} signatures; not written by pytest-codex"
        ]
    if payload_type != PAYLOAD_TYPE:
        return False, [f"{where}: payloadType {payload_type!r}, expected {PAYLOAD_TYPE!r}"]
    wanted = key_id(public_key)
    if not any(_signed_by(public_key, signature, payload) for _, signature in pairs):
        seen = ", ".join(keyid[:16] for keyid, _ in pairs) or "none"
        return False, [
            f"{where}: no valid signature by key {wanted[:16]}… (signatures by: {seen}); "
            "the bundle was edited after signing, or --key is not the signer's public key"
        ]
    return True, _statement_problems(bundle, payload)


def _signed_by(public_key: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        public_key.verify(signature, pae(PAYLOAD_TYPE, payload))
    except InvalidSignature:
        return False
    return True


def _statement_problems(bundle: Path, payload: bytes) -> list[str]:
    where = f"{ATTESTATION}: statement"
    try:
        document = reader.parse_json(payload, where)
        kinds = (document["_type"], document["predicateType"])
        subjects = {str(s["name"]): str(s["digest"]["sha256"]) for s in document["subject"]}
        configured = [c["digest"].get("sha256") for c in document["predicate"]["configuration"]]
    except reader.BundleReadError as error:
        return [str(error)]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return [f"{where}: not an in-toto Statement ({type(error).__name__}: {error})"]
    if kinds != (STATEMENT_TYPE, PREDICATE_TYPE):
        return [f"{where}: types {kinds}, expected {(STATEMENT_TYPE, PREDICATE_TYPE)}"]
    problems = []
    present = set(bundle_files(bundle)) - {ATTESTATION}
    for relative in sorted(set(subjects) - present):
        problems.append(f"{relative}: signed, but missing from the bundle")
    for relative in sorted(present - set(subjects)):
        problems.append(f"{relative}: in the bundle, but not signed (added after signing?)")
    for relative in sorted(present & set(subjects)):
        if sha256_file(bundle / relative) != subjects[relative]:
            problems.append(f"{relative}: edited after signing (sha256 differs from the signed)")
    if MANIFEST in subjects and configured != [subjects[MANIFEST]]:
        problems.append(f"{where}: its configuration does not name the signed {MANIFEST}")
    return problems + _run_problems(bundle, document["predicate"].get("run"))


def _run_problems(bundle: Path, run: object) -> list[str]:
    """The signed run id, timestamp folder and mode against where the bundle is now."""
    where = f"{ATTESTATION}: statement"
    if not isinstance(run, dict):
        return [
            f"{where}: names no run id, timestamp and mode (signed by an older pytest-codex); "
            "a copy of the bundle cannot be told from the run: sign it again"
        ]
    folder = bundle.resolve()
    found = f"{folder.parent.name}/{folder.name}"
    signed = f"{run.get('timestamp')}/{run.get('mode')}"
    problems = []
    if signed != found:
        problems.append(
            f"{where}: signed for the folder {signed}, found in {found}; a signed bundle "
            "verifies only where its run wrote it (a copy or replay is refused)"
        )
    try:
        run_id = read_manifest(bundle).get("run_id")
    except SigningError as error:
        return [*problems, str(error)]
    if run.get("run_id") != run_id:
        problems.append(
            f"{where}: signed for run {run.get('run_id')!r}, the manifest's is {run_id!r}"
        )
    return problems
