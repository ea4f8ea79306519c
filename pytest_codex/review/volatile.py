"""What `codex-evidence diff` leaves out: the parts of a value that change from run to run.

`blank(text)` replaces dates, ports, ids, timings, tokens and temporary paths by
stand-ins (the rules of `VOLATILE_TEXT`); `flatten(value)` turns a JSON value into
`{json path: blanked leaf}`, leaving out the keys of `VOLATILE_KEYS` (timings, clocks,
per-run ids) and looking inside strings that hold JSON. `VOLATILE_HEADERS` are the
response headers not compared. No pytest import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pytest_codex.bundle import reader

MAX_LEAVES = 2000  # values compared per field of one case; the rest are counted
MAX_EMBEDDED_JSON = 256 * 1024  # a string this long or shorter holding JSON is compared inside

# What changes from run to run without meaning anything: (rule, pattern, stand-in).
# Applied, in order, to every string that is compared.
VOLATILE_TEXT: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    ("hex id", re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<hex-id>"),
    (
        "ISO date",
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<date>",
    ),
    (
        "HTTP date",
        re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT"),
        "<date>",
    ),
    ("bundle timestamp", re.compile(r"\b\d{8}T\d{6}Z(?:-\d+)?\b"), "<timestamp>"),
    ("port", re.compile(r"\b((?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:]+\]):\d{2,5}\b"),
     r"\1:<port>"),
    ("bearer token", re.compile(r"\b(Bearer) [A-Za-z0-9._~+/=-]+"), r"\1 <token>"),
    ("API key", re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "<token>"),
    ("duration", re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b"), "<duration>"),
    ("temp path", re.compile(r"/tmp/[^\s\"']+"), "<tmp-path>"),  # noqa: S108 - matched
)  # fmt: skip
# JSON keys whose values are timings, clocks or per-run ids: left out wherever they occur.
VOLATILE_KEYS = frozenset(
    {
        "elapsed_ms", "seconds", "per_s", "p50_ms", "p99_ms", "duration_ms", "created_at",
        "updated_at", "started_at", "finished_at", "completed_at", "timestamp", "run_id",
        "date", "time",
    }
)  # fmt: skip
# Response headers that differ between runs by nature; Content-Length follows the body,
# which is compared itself.
VOLATILE_HEADERS = frozenset({"date", "server", "content-length", "x-request-id", "etag"})
# Files that record their own timings (.codex/result.json holds duration_ms): their `size`
# in a listing changes with the digits of a timing, so it is left out; their content is
# compared value by value, timings left out, where a case reads them.
VOLATILE_SIZE_OF = re.compile(r"(?:^|/)\.codex/[^/]+\.json$")


def blank(text: str) -> str:
    """`text` with every volatile part replaced by its stand-in."""
    for _, pattern, stand_in in VOLATILE_TEXT:
        text = pattern.sub(stand_in, text)
    return text


def flatten(value: object, limit: int = MAX_LEAVES) -> dict[str, str]:
    """`{json path: blanked value}` of every leaf, volatile keys left out; walks with a
    stack (no recursion) and stops after `limit` leaves (noted under `$…`)."""
    leaves: dict[str, str] = {}
    stack: list[tuple[str, object]] = [("$", value)]
    skipped = 0
    while stack:
        path, item = stack.pop()
        if isinstance(item, Mapping):
            skip_size = isinstance(item.get("path"), str) and bool(
                VOLATILE_SIZE_OF.search(item["path"])
            )
            for key in sorted(item, key=str, reverse=True):
                if str(key).lower() in VOLATILE_KEYS or (skip_size and key == "size"):
                    continue
                stack.append((f"{path}.{blank(str(key))}", item[key]))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
        elif len(leaves) >= limit:
            skipped += 1
        elif isinstance(item, str) and _embedded_json(item) is not None:
            # A file's contents that is JSON itself (result.json): compared value by value.
            stack.append((f"{path}(json)", _embedded_json(item)))
        else:
            text = item if isinstance(item, str) else json.dumps(item)
            leaves[path] = blank(text)
    if skipped:
        leaves["$…"] = f"{skipped} more values not compared"
    return leaves


def _embedded_json(text: str) -> object:
    """The JSON object or array a string holds, else None."""
    stripped = text.strip()
    if len(stripped) > MAX_EMBEDDED_JSON or stripped[:1] not in ("{", "["):
        return None
    try:
        value: object = reader.parse_json(stripped.encode("utf-8", "surrogatepass"), "(json)")
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None
