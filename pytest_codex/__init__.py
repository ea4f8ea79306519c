"""pytest-codex: a pytest plugin and validation harness for Codex workspace orchestrators."""

__version__ = "0.1.0"
