"""`codex-evidence verify <bundle>`: is this evidence bundle intact and secret-free?

Checks the manifest (every file listed, none missing or extra, sha256 and size equal),
every `result.json` against the shipped schema, and the absence of secret values (those
of secret-named environment variables, `--env-file` values, `--secret-env` variables).
Exit 0 when all pass, 1 with one line per problem, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dotenv import dotenv_values

from pytest_codex import schemas
from pytest_codex.evidence import MANIFEST, bundle_files, scan_bundle, sha256_file
from pytest_codex.patterns import scan_patterns
from pytest_codex.redact import Redactor

PROG = "codex-evidence"


class UsageError(Exception):
    """A bad argument; the text says what and how to fix it."""


def verify_bundle(bundle: Path, redactor: Redactor) -> list[str]:
    """Every problem of one mode folder, one line each; empty when it is intact."""
    problems = _manifest_problems(bundle)
    for relative in bundle_files(bundle):
        if relative.rsplit("/", 1)[-1] != "result.json":
            continue
        try:
            document = json.loads((bundle / relative).read_bytes())
        except ValueError as error:
            problems.append(f"{relative}: not JSON ({error})")
            continue
        problems += [f"{relative}: {line}" for line in schemas.errors("result", document)]
    problems += [f"secret found: {hit}" for hit in scan_bundle(bundle, redactor)]
    problems += [f"secret pattern found: {hit}" for hit in scan_patterns(bundle)]
    return problems


def _manifest_problems(bundle: Path) -> list[str]:
    path = bundle / MANIFEST
    if not path.is_file():
        return [f"{MANIFEST}: missing; is this a bundle folder (…/<timestamp>/<mode>)?"]
    try:
        manifest = json.loads(path.read_bytes())
        listed = {entry["path"]: entry for entry in manifest["files"]}
        for entry in listed.values():
            str(entry["sha256"]), int(entry["size"])
    except (ValueError, KeyError, TypeError) as error:
        return [f"{MANIFEST}: not a bundle manifest ({type(error).__name__}: {error})"]
    problems = []
    present = set(bundle_files(bundle)) - {MANIFEST}
    for relative in sorted(set(listed) - present):
        problems.append(f"{relative}: listed in the manifest but missing")
    for relative in sorted(present - set(listed)):
        problems.append(f"{relative}: not in the manifest (added after the run?)")
    for relative in sorted(present & set(listed)):
        entry = listed[relative]
        size = (bundle / relative).stat().st_size
        digest = sha256_file(bundle / relative)
        if size != entry["size"]:
            problems.append(f"{relative}: size {size}, the manifest says {entry['size']}")
        if digest != entry["sha256"]:
            problems.append(
                f"{relative}: sha256 {digest[:12]}…, the manifest says {entry['sha256'][:12]}…"
            )
    return problems


def mode_folders(path: Path) -> list[Path]:
    """The bundle itself, or the mode folders of a timestamp folder."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder; give docs/evidence/<timestamp>[/<mode>]")
    if (path / MANIFEST).exists():
        return [path]
    folders = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
    if not folders:
        raise UsageError(f"{path}: holds no {MANIFEST}; give docs/evidence/<timestamp>[/<mode>]")
    return folders


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check a bundle's manifest, schemas and secrets")
    check.add_argument("bundle", type=Path, help="docs/evidence/<timestamp>[/<mode>]")
    check.add_argument("--env-file", type=Path, help="also look for every value of this file")
    check.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also look for the value of this environment variable (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        folders = mode_folders(args.bundle)
        redactor = redactor_for(args.env_file, args.secret_env)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    failed = False
    for folder in folders:
        problems = verify_bundle(folder, redactor)
        if problems:
            failed = True
            print(f"{PROG}: FAILED {folder}")
            print("\n".join(f"  {line}" for line in problems))
        else:
            count = len(bundle_files(folder))
            results = sum(p.endswith("result.json") for p in bundle_files(folder))
            print(
                f"{PROG}: OK {folder} ({count} files, {results} result.json, "
                f"scanned for {len(redactor.names)} secrets)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
