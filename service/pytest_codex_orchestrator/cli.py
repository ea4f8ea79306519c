"""`codex-orchestrator serve`: run the reference orchestrator."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_codex_orchestrator import __version__
from pytest_codex_orchestrator.config import ConfigError, Settings
from pytest_codex_orchestrator.storage import StorageError

PROGRAM = "codex-orchestrator"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="The bundled reference Codex workspace orchestrator."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API until SIGTERM or SIGINT",
        description="Serve the HTTP API until SIGTERM or SIGINT. Flags beat the "
        "environment (USE_DUMMY_WORKER, WORKSPACE_ROOT, DATABASE_URL, "
        "CODEX_WORKER_IMAGE, CODEX_API_TOKEN, CODEX_MAX_BODY_BYTES, "
        "CODEX_JOB_TIMEOUT), which beats the defaults.",
    )
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on; 0 picks a free one (default: 8000)")
    serve.add_argument(
        "--workspace-root",
        metavar="DIR",
        help="folder of the project workspaces (default: ./workspaces)",
    )
    serve.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///relative/path or sqlite:////absolute/path "
        "(default: sqlite:///./codex-orchestrator.db)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pytest_codex_orchestrator.server import serve  # noqa: PLC0415 - not needed for --help

    try:
        settings = Settings.from_env(
            os.environ,
            host=args.host,
            port=args.port,
            workspace_root=args.workspace_root,
            database_url=args.database_url,
        )
        return serve(settings)
    except (ConfigError, StorageError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"{PROGRAM}: cannot start: {error}; check --host, --port, WORKSPACE_ROOT and "
            "DATABASE_URL",
            file=sys.stderr,
        )
        return 1
