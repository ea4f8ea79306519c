"""`python -m pytest_codex_orchestrator serve ...`."""

from __future__ import annotations

from pytest_codex_orchestrator.cli import main

raise SystemExit(main())
