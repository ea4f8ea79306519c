"""`python -m pytest_codex_model_stub serve --host H --port P`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from pytest_codex_model_stub.server import serve

MAX_KEY_FILE_BYTES = 64 * 1024


def expected_key(environ: Mapping[str, str]) -> str | None:
    """`MODEL_STUB_EXPECTED_KEY`, or the file `MODEL_STUB_EXPECTED_KEY_FILE` names (a
    Docker secret on a swarm, so the key is in no service spec); None: any key."""
    value = environ.get("MODEL_STUB_EXPECTED_KEY") or ""
    source = environ.get("MODEL_STUB_EXPECTED_KEY_FILE") or ""
    if not value and source:
        with open(source, "rb") as handle:
            value = handle.read(MAX_KEY_FILE_BYTES).decode("utf-8", "replace").strip()
    return value or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest_codex_model_stub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the Responses API stand-in")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument(
        "--turn-delay",
        type=float,
        default=float(os.environ.get("MODEL_STUB_TURN_DELAY_S") or 0),
        help="seconds each model turn takes before its answer streams (default: "
        "$MODEL_STUB_TURN_DELAY_S or 0); for benchmarks of slow models",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.turn_delay <= 600:
        parser.error(f"--turn-delay: {args.turn_delay} is out of range; use 0 to 600 seconds")
    try:
        key = expected_key(os.environ)
    except OSError as error:
        parser.error(
            f"MODEL_STUB_EXPECTED_KEY_FILE: cannot read it ({error.strerror}); mount the "
            "secret there or unset the variable"
        )
    serve(
        args.host,
        args.port,
        expected_key=key,
        turn_delay=args.turn_delay,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
