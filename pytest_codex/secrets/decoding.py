"""What the harness decodes before the redactor scans and the bundle stores (issue 18,
finding 5): a response body by its `Content-Encoding`, and header values joined per name.

- `decode_content(body, headers)`: gzip, x-gzip and deflate (zlib or raw) are decoded,
  layered encodings in reverse order, at most MAX_DECODED_BYTES out (a zip bomb is cut,
  not expanded); an encoding the harness cannot decode (br: no brotli in the standard
  library; anything unknown) is withheld: the body is replaced by a one-line note, never
  stored as opaque bytes a secret could hide in.
- `redact_split_headers(headers, redactor)`: a secret split across two or three values of
  one header name (`X-Part: sk-ab…`, `X-Part: …cd`) is found in the values joined, and
  every value of that name is redacted.

No pytest import here.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol

MAX_DECODED_BYTES = 16 * 1024 * 1024  # a decoded body is cut here (zip bombs)
MAX_ENCODING_LAYERS = 4  # `Content-Encoding: gzip, gzip, ...` layers decoded
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}
_DEFLATE_WBITS = (zlib.MAX_WBITS, -zlib.MAX_WBITS)  # zlib-wrapped, then raw


class _Scanner(Protocol):
    def scan(self, data: bytes) -> list[str]: ...


def _inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """(decoded bytes, whether the output was cut at `limit`); zlib.error when invalid."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, limit + 1)
    return out[:limit], len(out) > limit or bool(inflater.unconsumed_tail)


def _decode_one(data: bytes, coding: str, limit: int) -> tuple[bytes, bool]:
    if coding in _ZLIB_WBITS:
        return _inflate(data, _ZLIB_WBITS[coding], limit)
    try:
        return _inflate(data, _DEFLATE_WBITS[0], limit)
    except zlib.error:
        return _inflate(data, _DEFLATE_WBITS[1], limit)


def decode_content(
    body: bytes, headers: Sequence[tuple[str, str]], limit: int = MAX_DECODED_BYTES
) -> tuple[bytes, str | None]:
    """The body as the client would read it, and a note when it was decoded, cut or
    withheld (None for a body without a Content-Encoding)."""
    codings = [
        part.strip().lower()
        for name, value in headers
        if name.lower() == "content-encoding"
        for part in value.split(",")
        if part.strip() and part.strip().lower() != "identity"
    ]
    if not codings or not body:
        return body, None
    if len(codings) > MAX_ENCODING_LAYERS:
        return b"", f"body withheld: {len(codings)} content codings, over {MAX_ENCODING_LAYERS}"
    cut = False
    for coding in reversed(codings):
        if coding not in ("gzip", "x-gzip", "deflate"):
            return b"", (
                f"body withheld: Content-Encoding {coding!r} ({len(body)} bytes) cannot be "
                "decoded by the harness, so it cannot be scanned for secrets"
            )
        try:
            body, cut_here = _decode_one(body, coding, limit)
        except zlib.error as error:
            return b"", f"body withheld: not valid {coding} ({error})"
        cut |= cut_here
    note = f"decoded from Content-Encoding {', '.join(codings)}"
    return body, note + (f"; cut at {limit} bytes" if cut else "")


def redact_split_headers(
    headers: Sequence[tuple[str, str]], redactor: _Scanner
) -> list[tuple[str, str]]:
    """`headers` with every value of a name redacted when the values of that name, joined
    (as they are, with ', ' or with ','), hold a secret none of them holds alone."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.lower(), []).append(value)
    hidden: dict[str, str] = {}
    for name, values in by_name.items():
        if len(values) < 2:
            continue
        joined = "\n".join(separator.join(values) for separator in ("", ", ", ","))
        found = redactor.scan(joined.encode("utf-8", "surrogateescape"))
        if found:
            names = sorted({hit.split(" ", 1)[0] for hit in found})
            hidden[name] = f"[REDACTED:{','.join(names)}]"
    return [(name, hidden.get(name.lower(), value)) for name, value in headers]


MAX_HEADER_LISTS = 1000  # `headers` lists looked at in one evidence document


def joined_headers(document: object) -> bytes:
    """The values of each header name joined, for every `headers: [[name, value], ...]`
    list in an evidence document (what `codex-evidence verify` scans besides the file)."""
    joined: list[str] = []
    pending: list[object] = [document]
    seen = 0
    while pending and seen < MAX_HEADER_LISTS:
        item = pending.pop()
        if isinstance(item, dict):
            headers = item.get("headers")
            if isinstance(headers, list):
                seen += 1
                by_name: dict[str, list[str]] = {}
                for pair in headers:
                    if (
                        isinstance(pair, list)
                        and len(pair) == 2
                        and all(isinstance(p, str) for p in pair)
                    ):
                        by_name.setdefault(pair[0].lower(), []).append(pair[1])
                joined += ["".join(values) for values in by_name.values() if len(values) > 1]
            pending += [value for value in item.values() if isinstance(value, dict | list)]
        elif isinstance(item, list):
            pending += [value for value in item if isinstance(value, dict | list)]
    return "\n".join(joined).encode("utf-8", "surrogateescape")
