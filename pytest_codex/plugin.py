"""pytest hooks and fixtures of pytest-codex (filled in by the plugin work)."""
