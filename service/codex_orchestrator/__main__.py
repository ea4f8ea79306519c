"""`python -m codex_orchestrator serve ...`."""

from __future__ import annotations

from codex_orchestrator.cli import main

raise SystemExit(main())
