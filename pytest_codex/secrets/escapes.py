"""The escapes a secret can hide behind: decoding them for the quick look, and a regex
of one character in every escaped form for the exact one (used by secrets/redact.py).

Escapes known: percent-encoding `%XX` (`+` for a space), JSON and Python escapes
(`\\uXXXX`, surrogate pairs, `\\xNN`, `\\"`, `\\n`...), HTML/XML references
(`&#115;`, `&#x73;`, `&amp;`), and escapes of escapes (nested JSON, up to
MAX_DECODE_ROUNDS). No pytest import here.
"""

from __future__ import annotations

import re
from functools import lru_cache

DECODE_CACHE = 4096  # decoded escapes kept
MAX_DECODE_ROUNDS = 3  # escapes of escapes decoded (a value JSON-escaped three times)

# One escape of one character (or byte); the groups say which kind (see `_decode_one`).
ESCAPE = re.compile(
    rb"%([0-9A-Fa-f]{2})"
    rb"|\\u([dD][89abAB][0-9A-Fa-f]{2})\\u([dD][c-fC-F][0-9A-Fa-f]{2})"
    rb"|\\u([0-9A-Fa-f]{4})"
    rb"|\\x([0-9A-Fa-f]{2})"
    rb"|\\([\"\\/bfnrt])"
    rb"|&#[xX]([0-9A-Fa-f]{1,8});"
    rb"|&#([0-9]{1,9});"
    rb"|&(amp|lt|gt|quot|apos);"
)
_SHORT_ESCAPES = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
}
_SHORT_ESCAPE_OF = {value[0]: b"\\" + key for key, value in _SHORT_ESCAPES.items()}
_ENTITIES = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}
_ENTITY_OF = {value[0]: b"&" + key + b";" for key, value in _ENTITIES.items()}
_ESCAPE_STARTS = (b"%", b"\\", b"&")
_MORE_BACKSLASHES = rb"\\*"  # an escape's backslash, itself escaped (nested JSON)
FAMILIES = {b"%": "url", b"\\": "json", b"&": "html"}


def _decode_one(match: re.Match[bytes]) -> bytes:
    """The bytes one escape stands for."""
    kind = match.lastindex
    if kind in (1, 5):
        return bytes([int(match[kind], 16)])
    if kind == 3:
        high, low = int(match[2], 16), int(match[3], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).encode("utf-8")
    if kind == 4:
        return chr(int(match[4], 16)).encode("utf-8", "surrogatepass")
    if kind == 6:
        return _SHORT_ESCAPES[match[6]]
    if kind in (7, 8):
        code = int(match[kind], 16 if kind == 7 else 10)
        return chr(code).encode("utf-8", "surrogatepass") if code <= 0x10FFFF else match[0]
    return _ENTITIES[match[9]]


@lru_cache(maxsize=DECODE_CACHE)
def _decoded(escape: bytes) -> bytes:
    """`_decode_one` by the escape's text: a bundle repeats a few hundred escapes."""
    match = ESCAPE.fullmatch(escape)
    return escape if match is None else _decode_one(match)


def decode_escapes(data: bytes) -> bytes:
    """`data` with every escape the redactor knows decoded, again while that changes it
    (JSON escaped twice, `\\\\u0073`), at most MAX_DECODE_ROUNDS times (views for the scan)."""
    for _ in range(MAX_DECODE_ROUNDS):
        if not any(start in data for start in _ESCAPE_STARTS):
            return data
        produced = False  # whether an escape decoded to `\`, `%` or `&`: one more round

        def decode(match: re.Match[bytes]) -> bytes:
            nonlocal produced
            out = _decoded(match[0])
            produced = produced or out in _ESCAPE_STARTS
            return out

        data = ESCAPE.sub(decode, data)
        if not produced:
            return data
    return data


def hex_pattern(number: int, width: int) -> bytes:
    """`number` in at least `width` hex digits, each letter digit in either case."""
    return b"".join(
        f"[{d}{d.upper()}]".encode() if d.isalpha() else d.encode() for d in f"{number:0{width}x}"
    )


def _byte_pattern(byte: int) -> bytes:
    """One byte of a multi-byte character: itself, `%XX` or `\\xNN`."""
    digits = hex_pattern(byte, 2)
    escaped = _MORE_BACKSLASHES + rb"\\x" + digits
    return b"(?:" + re.escape(bytes([byte])) + b"|%" + digits + b"|" + escaped + b")"


def char_pattern(char: str) -> bytes:
    """One character of a secret: itself in either case, or any escape of it."""
    variants = [char]
    if char.isascii() and char.isalpha():
        variants.append(char.swapcase())
    alternatives: list[bytes] = []
    for variant in variants:
        code = ord(variant)
        encoded = variant.encode("utf-8", "surrogateescape")
        if len(encoded) == 1:
            byte = encoded[0]
            alternatives += [
                re.escape(encoded),
                b"%" + hex_pattern(byte, 2),
                _MORE_BACKSLASHES + rb"\\x" + hex_pattern(byte, 2),
            ]
            if byte in _SHORT_ESCAPE_OF:
                alternatives.append(_MORE_BACKSLASHES + re.escape(_SHORT_ESCAPE_OF[byte]))
            if byte in _ENTITY_OF:
                alternatives.append(re.escape(_ENTITY_OF[byte]))
            if variant == " ":
                alternatives.append(rb"\+")
        else:
            alternatives.append(b"".join(_byte_pattern(b) for b in encoded))
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            continue
        unicode = _MORE_BACKSLASHES + rb"\\u"
        if code < 0x10000:
            alternatives.append(unicode + hex_pattern(code, 4))
        else:
            high = 0xD800 + ((code - 0x10000) >> 10)
            low = 0xDC00 + ((code - 0x10000) & 0x3FF)
            alternatives.append(unicode + hex_pattern(high, 4) + unicode + hex_pattern(low, 4))
        alternatives += [
            b"&#[xX]0*" + hex_pattern(code, 1) + b";",
            b"&#0*" + str(code).encode() + b";",
        ]
    return b"(?:" + b"|".join(alternatives) + b")"
