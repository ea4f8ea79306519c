"""The bundled reference Codex workspace orchestrator."""

__version__ = "0.1.0"
