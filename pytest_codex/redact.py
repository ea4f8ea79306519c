"""Secret values out of everything the harness writes: raw, URL-encoded, JSON-escaped and
base64 forms, also a value embedded inside a longer base64 text.

`Redactor.from_environment` knows the values of secret-named environment variables (and
any extra values, e.g. the live env file's); `redact` replaces each form by
`[REDACTED:<NAME>]`; `scan` says which names and forms are present, never the values.
Values of 24 characters or more are also found by their first or last half (fragments).
No pytest import here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|AUTH", re.I)
ALWAYS_SECRET = frozenset({"OPENAI_ORG_ID", "OPENAI_PROJECT"})
NOT_SECRET_SUFFIXES = ("_SOCK", "_FILE", "_PATH", "_DIR")
MIN_FRAGMENT = 8
MIN_FRAGMENT_SOURCE = 24  # values this long are also looked for by their halves
MIN_FRAGMENT_LENGTH = 12


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name holds a secret (SSH_AUTH_SOCK and the like do not)."""
    upper = name.upper()
    if upper in ALWAYS_SECRET:
        return True
    return bool(SECRET_NAME.search(upper)) and not upper.endswith(NOT_SECRET_SUFFIXES)


def forms(value: str) -> dict[str, set[bytes]]:
    """Every encoded form of `value` the scan and the redaction look for, by form name."""
    raw = value.encode("utf-8")
    found: dict[str, set[bytes]] = {
        "raw": {raw},
        "url": {quote(value, safe="").encode(), quote_plus(value, safe="").encode()},
        "json": {
            json.dumps(value)[1:-1].encode(),
            json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8"),
        },
        "base64": set(),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found["base64"].add(encode(raw).rstrip(b"="))
        for shift in (0, 1, 2):
            # The value at another byte alignment inside a longer text: keep the
            # characters that depend on the value's bytes alone.
            encoded = encode(b"\0" * shift + raw)
            start = (shift * 8 + 5) // 6  # characters touched by the prefix
            end = ((shift + len(raw)) * 8) // 6  # characters touched by what follows
            fragment = encoded[start:end]
            if len(fragment) >= MIN_FRAGMENT:
                found["base64"].add(fragment)
    if len(raw) >= MIN_FRAGMENT_SOURCE:
        # A long value cut short (`sk-proj-AbCd...`) still gives itself away.
        size = max(MIN_FRAGMENT_LENGTH, len(raw) // 2)
        found["fragment"] = {raw[:size], raw[-size:]}
    for encoded_forms in found.values():
        encoded_forms.discard(b"")
    found["url"] -= found["raw"]
    found["json"] -= found["raw"]
    return found


class Redactor:
    """Replaces every known secret, in every form, by `[REDACTED:<NAME>]`."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = {
            name: value for name, value in secrets.items() if len(value) >= MIN_SECRET_LENGTH
        }
        patterns: list[tuple[bytes, str, str]] = []
        for name, value in self._secrets.items():
            for form, encoded in forms(value).items():
                patterns += [(pattern, name, form) for pattern in encoded]
        # Longest first, so that a value containing another is replaced whole.
        patterns.sort(key=lambda item: len(item[0]), reverse=True)
        self._patterns = patterns
        self._regex = (
            re.compile(b"|".join(re.escape(pattern) for pattern, _, _ in patterns))
            if patterns
            else None
        )
        self._names = {pattern: name for pattern, name, _ in patterns}

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], extra: Mapping[str, str] | None = None
    ) -> Redactor:
        """Values of secret-named variables in `environ`, plus every value of `extra`."""
        secrets = {name: value for name, value in environ.items() if is_secret_name(name)}
        secrets.update(extra or {})
        return cls(secrets)

    @property
    def names(self) -> list[str]:
        """The names of the secrets it knows (never their values)."""
        return sorted(self._secrets)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._regex is None:
            return data
        return self._regex.sub(
            lambda match: f"[REDACTED:{self._names[match.group(0)]}]".encode(), data
        )

    def redact(self, text: str) -> str:
        return self.redact_bytes(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def scan(self, data: bytes) -> list[str]:
        """`<NAME> (<form>)` for every secret form present in `data`."""
        return sorted(
            {f"{name} ({form})" for pattern, name, form in self._patterns if pattern in data}
        )
