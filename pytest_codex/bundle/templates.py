"""The templates evidence is rendered from (`evidence_templates/` at the top of the
checkout; shipped inside the package in the wheel). No pytest import here."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def read_template(name: str) -> str:
    """A template of `evidence_templates/`: inside the package when installed from the
    wheel, at the top of the checkout otherwise."""
    packaged = resources.files("pytest_codex") / "evidence_templates" / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "evidence_templates" / name
    return checkout.read_text(encoding="utf-8")
