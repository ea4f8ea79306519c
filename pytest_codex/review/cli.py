"""`codex-evidence verify <bundle>`: is this bundle intact, and did its run pass?

Integrity, always checked: the bundle holds regular files only (no symlink, fifo, socket
or device); `manifest.json` lists exactly its files (all but itself and
`attestation.dsse.json`) with their sha256 and size; the manifest's totals agree with its
cases; every case's evidence file is in the bundle and records the case's outcome;
SUMMARY.md's totals (and its first line, when it states the session's end) agree with the
manifest; the session record adds up; every `result.json` passes the bundle's
`schemas/result.schema.json` (else the shipped one); no secret value or well-known secret
shape appears; with `--key PUB`, `attestation.dsse.json` is signed by that key and names
exactly the files on disk with their sha256 (so an edited file re-hashed into the
manifest is rejected). Without `--key` a signature is reported as present but NOT
checked, never as trusted.

The verdict (`review/verdict.py`, the same one SUMMARY.md, index.html, `summary` and the
terminal print), unless accepted: failed or errored cases (`--allow-failures`); an
interrupted run, a run stopped early (-x, --maxfail, --sw), a deselection, node ids,
--lf, fewer cases run than selected, a manifest with no session record, as format 1 has
(`--allow-partial`); an empty run (0 cases), a session that ended in a stack failure,
usage or internal error, or a timestamp folder with no manifest.json (a killed run: DID
NOT FINISH) (only `--integrity-only` ignores these, and with it every verdict). With
`--key`, a signed bundle found under another timestamp or mode folder than the one it
was signed in is refused (a copy or replay).

Exit codes (`verify`): 0 intact and accepted; 1 an integrity problem or a refused
verdict, one line each; 2 a usage error (bad argument, no bundle there, unreadable key).
`codex-evidence keygen DIR` writes `DIR/codex-evidence.key` and `DIR/codex-evidence.pub`:
0 written, 2 refused (a file exists, the folder is not writable).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dotenv import dotenv_values

from pytest_codex.bundle import signing
from pytest_codex.bundle.writer import MANIFEST
from pytest_codex.review import diff
from pytest_codex.review import page as review
from pytest_codex.review.checks import Acceptance, Report, verify_bundle
from pytest_codex.review.sections import printable
from pytest_codex.secrets.redact import Redactor

__all__ = ["REGISTRARS", "Acceptance", "Report", "UsageError", "main", "verify_bundle"]

PROG = "codex-evidence"
TIMESTAMP = re.compile(r"\d{8}T\d{6}Z(?:-\d+)?", re.ASCII)  # a run's folder (bundle/writer)
BROKEN_PIPE = 141  # the shell's code for a command ended by SIGPIPE (128 + 13)


class UsageError(Exception):
    """A bad argument; the text says what and how to fix it."""


def mode_folders(path: Path) -> list[Path]:
    """The bundle itself, or the mode folders of a timestamp folder. A timestamp folder
    (or its mode folder) with no manifest is a run that was killed before it closed its
    bundle: returned too, for the verdict DID NOT FINISH."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder; give docs/evidence/<timestamp>[/<mode>]")
    if (path / MANIFEST).exists() or (path / MANIFEST).is_symlink():
        return [path]
    if TIMESTAMP.fullmatch(path.parent.name):
        return [path]  # <timestamp>/<mode> without a manifest
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    if TIMESTAMP.fullmatch(path.name):
        return folders or [path]
    found = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
    if not found:
        raise UsageError(f"{path}: holds no {MANIFEST}; give docs/evidence/<timestamp>[/<mode>]")
    return found


def redactor_for(env_file: Path | None, secret_env: Sequence[str]) -> Redactor:
    extra: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            raise UsageError(
                f"--env-file: {str(env_file)!r} does not exist; give the .env.live used"
            )
        extra |= {name: value for name, value in dotenv_values(env_file).items() if value}
    for name in secret_env:
        if not os.environ.get(name):
            raise UsageError(f"--secret-env: {name} is not set; export it or leave it out")
        extra[name] = os.environ[name]
    return Redactor.from_environment(os.environ, extra)


def print_report(report: Report, redactor: Redactor) -> None:
    if report.ok:
        print(
            f"{PROG}: OK {report.folder} ({report.files} files, {report.results} result.json, "
            f"scanned for {len(redactor.names)} secrets)"
        )
    else:
        print(f"{PROG}: FAILED {report.folder}")
    lines = [report.totals] if report.totals else []
    if report.verdict is not None:
        lines.append(f"run: {report.verdict.headline()}")
    lines.append(f"signature: {report.signature}")
    lines += [f"warning: {line}" for line in report.warnings]
    lines += [f"accepted: {line}" for line in report.accepted]
    lines += report.problems
    lines += [f"verdict: {line}" for line in report.refusals]
    print("\n".join(f"  {one_line(line)}" for line in lines))


def one_line(text: str) -> str:
    """Control characters (a newline in a file name, a terminal escape in a case name, C1
    controls, bidi overrides, lone surrogates) shown escaped: every problem stays one line."""
    return printable(text, newlines=False)


def run_verify(args: argparse.Namespace) -> int:
    accept = Acceptance(args.allow_failures, args.allow_partial, args.integrity_only)
    try:
        folders = mode_folders(args.bundle)
        redactor = redactor_for(args.env_file, args.secret_env)
        public_key = None if args.key is None else signing.load_public_key(args.key)
    except signing.SigningError as error:
        raise UsageError(f"--key: {error}") from None
    failed = False
    for folder in folders:
        report = verify_bundle(folder, redactor, accept=accept, public_key=public_key)
        failed |= not report.ok
        print_report(report, redactor)
    return 1 if failed else 0


def register_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "verify",
        help="check a bundle's integrity and give the run's verdict (exit 0, 1; 2 usage)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("bundle", type=Path, help="docs/evidence/<timestamp>[/<mode>]")
    check.add_argument("--env-file", type=Path, help="also look for every value of this file")
    check.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also look for the value of this environment variable (repeatable)",
    )
    check.add_argument(
        "--key", type=Path, metavar="PUB", help="check the signature with this public key"
    )
    check.add_argument(
        "--allow-failures", action="store_true", help="accept failed and errored cases"
    )
    check.add_argument(
        "--allow-partial",
        action="store_true",
        help="accept an interrupted run, a deselection, a manifest with no session record",
    )
    check.add_argument(
        "--integrity-only",
        action="store_true",
        help="check hashes, schemas, secrets and the signature only; no verdict on the run",
    )
    check.set_defaults(run=run_verify)


def run_keygen(args: argparse.Namespace) -> int:
    try:
        key_path, pub_path = signing.generate_keypair(args.dir)
    except signing.SigningError as error:
        raise UsageError(str(error)) from None
    keyid = signing.key_id(signing.load_public_key(pub_path))
    print(f"{PROG}: wrote {key_path} (private: keep it secret, e.g. as CODEX_SIGNING_KEY)")
    print(f"{PROG}: wrote {pub_path} (public: publish it; key id {keyid[:16]}…)")
    return 0


def register_keygen(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keygen = commands.add_parser(
        "keygen",
        help="write an ed25519 key pair to sign bundles with (never overwrites)",
        description="Write DIR/codex-evidence.key (private, mode 0600) and "
        "DIR/codex-evidence.pub (public). Exit 0 written, 2 refused.",
    )
    keygen.add_argument("dir", type=Path, metavar="DIR", help="the folder to write them to")
    keygen.set_defaults(run=run_keygen)


Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# ---- Subcommands of `codex-evidence` ------------------------------------------------------
# Each registrar adds one subparser to `commands` and sets its handler with
# `parser.set_defaults(run=handler)` (`func=` and `handler=` are accepted too), where
# `handler(args: argparse.Namespace) -> int` returns the exit code and may raise
# UsageError (printed as one line, exit 2). Add new subcommands (e.g. `diff.register`)
# to this tuple.
REGISTRARS: tuple[Registrar, ...] = (
    register_verify,
    register_keygen,
    diff.register,
    review.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check, summarise and compare pytest-codex evidence bundles; make keys "
        "to sign them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse printed its usage line
        return stop.code if isinstance(stop.code, int) else 2
    handler = (
        getattr(args, "run", None) or getattr(args, "func", None) or getattr(args, "handler", None)
    )
    if handler is None:
        print(f"{PROG}: {args.command}: no handler registered", file=sys.stderr)
        return 2
    try:
        code: int = handler(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `codex-evidence verify | head`: the reader left early
        _quiet_stdout()
        return BROKEN_PIPE
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
