"""The cheap transformed forms of a secret the redactor also finds (issue 18, finding 5):
reversed, ROT13, base32 (at any byte alignment inside a longer text), UTF-16 hex (both
byte orders), and look-alikes that NFKC normalisation maps onto the value (fullwidth
letters U+FF41…, mathematical letters, ligatures).

Each form but the look-alikes is a fixed text, searched lowered with a substring test
and replaced with a case-insensitive regex; the look-alikes are found in an NFKC view
of non-ASCII data and replaced by a regex in which each character may be any character
that normalises to it. No pytest import here.
"""

from __future__ import annotations

import base64
import codecs
import re
import unicodedata
from functools import cache

MIN_BASE32_FRAGMENT = 8  # shortest base32 fragment looked for
LOOKALIKE_RANGE = range(0x80, 0x30000)  # code points searched for NFKC look-alikes


def fixed_forms(value: str) -> tuple[tuple[str, bytes], ...]:
    """(form, lowered text) for each transformed form of `value` that is a fixed text."""
    raw = value.encode("utf-8", "surrogateescape")
    found: list[tuple[str, bytes]] = []
    backwards = value[::-1]
    if backwards.lower() != value.lower():
        found.append(("reversed", backwards.encode("utf-8", "surrogateescape").lower()))
    rotated = codecs.encode(value, "rot13")
    if rotated.lower() != value.lower():
        found.append(("rot13", rotated.encode("utf-8", "surrogateescape").lower()))
    found += [("base32", fragment.lower()) for fragment in base32_fragments(raw)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        found += [
            ("utf16-hex", text.encode(order).hex().encode())
            for order in ("utf-16-le", "utf-16-be")
        ]
    return tuple(dict.fromkeys(found))


def base32_fragments(raw: bytes) -> set[bytes]:
    """The value's base32, also at the five alignments inside a longer text: the
    characters that depend on the value's bytes alone."""
    found = {base64.b32encode(raw).rstrip(b"=")}
    for shift in range(5):
        encoded = base64.b32encode(b"\0" * shift + raw)
        start = (shift * 8 + 4) // 5  # characters touched by the prefix
        end = ((shift + len(raw)) * 8) // 5  # characters touched by what follows
        if end - start >= MIN_BASE32_FRAGMENT:
            found.add(encoded[start:end])
    found.discard(b"")
    return found


def fixed_pattern(text: bytes) -> bytes:
    """A regex source for a lowered fixed text, in any letter case."""
    return b"(?i:" + re.escape(text) + b")"


def nfkc_view(data: bytes) -> bytes | None:
    """Non-ASCII data NFKC-normalised and case-folded (None for data NFKC leaves as it is:
    the lowered view shows all there is)."""
    if data.isascii():
        return None
    text = data.decode("utf-8", "replace")
    if unicodedata.is_normalized("NFKC", text):  # the usual case: the lowered view will do
        return None
    return unicodedata.normalize("NFKC", text).casefold().encode("utf-8", "replace")


@cache
def _lookalikes() -> dict[str, tuple[str, ...]]:
    """ASCII character (case-folded) -> the non-ASCII characters NFKC maps onto it.
    Built once, on first need (~60 ms)."""
    table: dict[str, list[str]] = {}
    for code in LOOKALIKE_RANGE:
        char = chr(code)
        normal = unicodedata.normalize("NFKC", char)
        if len(normal) == 1 and normal.isascii():
            table.setdefault(normal.casefold(), []).append(char)
    return {key: tuple(chars) for key, chars in table.items()}


def nfkc_pattern(value: str) -> bytes:
    """A regex source matching `value` written with any mix of NFKC look-alikes."""
    table = _lookalikes()
    parts = []
    for char in value:
        variants = {char, char.swapcase(), *table.get(char.casefold(), ())}
        encoded = sorted(v.encode("utf-8", "surrogateescape") for v in variants)
        parts.append(b"(?:" + b"|".join(re.escape(e) for e in encoded) + b")")
    return b"".join(parts)
