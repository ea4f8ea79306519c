"""`python -m model_stub serve --host H --port P`."""

from __future__ import annotations

import argparse
import os

from model_stub.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_stub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the Responses API stand-in")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    serve(args.host, args.port, expected_key=os.environ.get("MODEL_STUB_EXPECTED_KEY") or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
