"""Examples of every form the redactor finds, by form name (`forms(value)`): what the
project's tests and hostile servers echo to prove that each one is caught. No pytest
import here."""

from __future__ import annotations

import base64
import codecs
import json
from urllib.parse import quote

from pytest_codex.secrets.redact import MIN_FRAGMENT_LENGTH, MIN_FRAGMENT_SOURCE


def forms(value: str) -> dict[str, set[bytes]]:
    """Examples of every form the redactor finds, by form name: what the project's tests
    (and their hostile servers) echo to prove that each one is caught."""
    raw = value.encode("utf-8", "surrogateescape")
    half = len(value) // 2
    wrapped = b"Authorization: Bearer " + raw + b"\n" + b"x" * 2 * MIN_FRAGMENT_SOURCE
    found = {
        "raw": {raw},
        "case": {raw.upper(), raw.lower(), raw.swapcase()},
        "hex": {raw.hex().encode(), raw.hex().upper().encode()},
        "url": {
            "".join(f"%{b:02X}" for b in raw).encode(),
            "".join(f"%{b:02x}" for b in raw).encode(),
            quote(value, safe="").encode(),
            b"".join(b"%%%02x" % b if i % 2 else bytes([b]) for i, b in enumerate(raw)),
        },
        "json": {
            json.dumps(value)[1:-1].encode(),
            "".join(_json_escape(char) for char in value).encode(),
            # One escape in each half: neither half is readable as it is.
            "".join(
                _json_escape(c) if i in (1, half + 1) else c for i, c in enumerate(value)
            ).encode(),
        },
        "html": {
            "".join(f"&#{ord(char)};" for char in value).encode(),
            "".join(f"&#x{ord(char):X};" for char in value).encode(),
        },
        "mixed": {
            "".join(
                _json_escape(c) if i % 3 == 0 else _percent(c) if i % 3 == 1 else c
                for i, c in enumerate(value)
            ).encode()
        },
        "base64": {
            base64.b64encode(raw),
            base64.urlsafe_b64encode(raw),
            base64.encodebytes(wrapped),  # MIME: 76 columns, \n
            base64.encodebytes(b"ab" + wrapped).replace(b"\n", b"\r\n"),
        },
    }
    if len(value) >= MIN_FRAGMENT_SOURCE:
        size = max(MIN_FRAGMENT_LENGTH, len(value) // 2)
        found["fragment"] = {
            value[:size].encode("utf-8", "surrogateescape"),
            value[-size:].encode("utf-8", "surrogateescape"),
        }
    escaped = "".join(_json_escape(char) for char in value)
    found["json"].add(json.dumps(escaped)[1:-1].encode())  # escaped twice
    found |= {
        "reversed": {value[::-1].encode("utf-8", "surrogateescape")},
        "rot13": {codecs.encode(value, "rot13").encode("utf-8", "surrogateescape")},
        "base32": {base64.b32encode(raw), base64.b32encode(b"x" + raw).lower()},
        "utf16-hex": {value.encode("utf-16-le", "surrogatepass").hex().encode()},
        "nfkc": {"".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value).encode()},
    }
    for name in ("case", "url", "json", "html", "mixed", "reversed", "rot13", "nfkc"):
        found[name] -= found["raw"]
    return {name: examples for name, examples in found.items() if examples}


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogateescape"))


def _json_escape(char: str) -> str:
    """`char` as JSON's `\\uXXXX` (a surrogate pair beyond the first plane)."""
    return json.dumps(char, ensure_ascii=True)[1:-1] if ord(char) > 0x7F else f"\\u{ord(char):04x}"
