"""Secret values out of everything the harness prints and writes, in every form a response,
a log or pytest's own text can carry them.

Forms found (the same for `redact` and `scan`, so the final bundle scan and
`codex-evidence verify` see what the redaction sees):

- the value in any letter case (`raw`, `case`);
- hex of its bytes, digits in either case (`hex`);
- any subset of its characters escaped, escapes mixed freely: percent-encoding `%XX`
  (either case; `+` for a space), JSON and Python escapes (`\\uXXXX`, surrogate pairs,
  `\\xNN`, `\\"`, `\\\\`, `\\/`, `\\n`...), HTML/XML references (`&#115;`, `&#x73;`,
  `&amp;`) (`url`, `json`, `html`, `mixed`);
- base64, standard and URL-safe, whole or at any byte alignment inside a longer text,
  with line breaks anywhere (MIME's 76 columns, PEM's 64, `\\r\\n`, `\\n`, or the
  JSON-escaped `\\n`) (`base64`);
- escapes of escapes: JSON escaped twice or three times (`\\\\u0073`) (`json`);
- transformed (secrets/transforms.py): reversed, ROT13, base32 at any alignment, UTF-16
  hex in either byte order, NFKC look-alikes such as fullwidth letters (`reversed`,
  `rot13`, `base32`, `utf16-hex`, `nfkc`);
- for values of 24 characters or more, either half in any of the text forms (`fragment`).

What cannot be found in the bytes alone is decoded before (secrets/decoding.py): a body
by its Content-Encoding, and header values joined per name.

How: a scan lowers the data, decodes every escape (secrets/escapes.py, up to
MAX_DECODE_ROUNDS times) and drops line breaks (cheap views; an NFKC view of non-ASCII
data) and looks for each value there with plain substring search; only data where a
value shows up is searched with the per-secret regexes, in which each character may be
itself (either case) or any of its escapes (`escapes.char_pattern`). Regexes over
megabytes are slow; substring search is not, and almost no data holds a secret. `redact`
replaces each occurrence by `[REDACTED:<NAME>]`; `scan` says which names and forms are
present, never the values.
No pytest import here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from pytest_codex.secrets import transforms
from pytest_codex.secrets.escapes import (
    ESCAPE,
    FAMILIES,
    char_pattern,
    decode_escapes,
    hex_pattern,
)

MIN_SECRET_LENGTH = 6
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|AUTH", re.I)
ALWAYS_SECRET = frozenset({"OPENAI_ORG_ID", "OPENAI_PROJECT"})
NOT_SECRET_SUFFIXES = ("_SOCK", "_FILE", "_PATH", "_DIR")
MIN_FRAGMENT = 8  # shortest base64 fragment looked for
MIN_FRAGMENT_SOURCE = 24  # values this long are also looked for by their halves
MIN_FRAGMENT_LENGTH = 12
REGEX_CACHE = 256  # compiled regexes kept (a few per secret)

_LINE_BREAK = rb"(?:\r|\n|\\[rn])*"  # what base64 may carry between two characters
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")  # URL-safe base64 to the standard alphabet


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name holds a secret (SSH_AUTH_SOCK and the like do not)."""
    upper = name.upper()
    if upper in ALWAYS_SECRET:
        return True
    return bool(SECRET_NAME.search(upper)) and not upper.endswith(NOT_SECRET_SUFFIXES)


def _base64_fragments(raw: bytes) -> set[bytes]:
    """The value's base64 (both alphabets), also at the three alignments inside a longer
    text: the characters that depend on the value's bytes alone."""
    found = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found.add(encode(raw).rstrip(b"="))
        for shift in (0, 1, 2):
            encoded = encode(b"\0" * shift + raw)
            start = (shift * 8 + 5) // 6  # characters touched by the prefix
            end = ((shift + len(raw)) * 8) // 6  # characters touched by what follows
            if end - start >= MIN_FRAGMENT:
                found.add(encoded[start:end])
    found.discard(b"")
    return found


def _shortest(texts: Iterable[bytes]) -> tuple[bytes, ...]:
    """The texts that hold no other one (finding those finds them all)."""
    unique = set(texts)
    return tuple(sorted(t for t in unique if not any(o != t and o in t for o in unique)))


def _drop_line_breaks(data: bytes) -> bytes:
    if b"\n" in data or b"\r" in data:
        data = data.replace(b"\r", b"").replace(b"\n", b"")
    if b"\\r" in data or b"\\n" in data:
        data = data.replace(b"\\r", b"").replace(b"\\n", b"")
    return data


@dataclass(frozen=True)
class _Secret:
    """One secret's substrings for the quick look and its regexes for the exact one."""

    name: str
    raw: bytes
    lowered: bytes
    hex: bytes
    halves: tuple[bytes, ...]
    base64: tuple[bytes, ...]  # standard alphabet (the view maps URL-safe data to it)
    kinds: tuple[tuple[str, bytes], ...]  # (form, regex source), most specific first
    fixed: tuple[bytes, ...]  # lowered transformed forms: reversed, rot13, base32, utf16-hex
    folded: bytes  # the value case-folded, as an NFKC view shows it

    @classmethod
    def of(cls, name: str, value: str) -> _Secret:
        raw = value.encode("utf-8", "surrogateescape")
        text = b"".join(char_pattern(char) for char in value)
        fragments = sorted(_base64_fragments(raw), key=len, reverse=True)
        kinds = [
            ("text", text),
            ("hex", b"".join(hex_pattern(byte, 2) for byte in raw)),
            (
                "base64",
                b"|".join(
                    _LINE_BREAK.join(re.escape(bytes([c])) for c in fragment)
                    for fragment in fragments
                ),
            ),
        ]
        fixed = transforms.fixed_forms(value)
        kinds += [(form, transforms.fixed_pattern(text)) for form, text in fixed]
        kinds.append(("nfkc", transforms.nfkc_pattern(value)))
        halves: tuple[str, ...] = ()
        if len(value) >= MIN_FRAGMENT_SOURCE:
            size = max(MIN_FRAGMENT_LENGTH, len(value) // 2)
            halves = (value[:size], value[-size:])
            kinds.append(
                (
                    "fragment",
                    b"|".join(b"".join(char_pattern(c) for c in half) for half in halves),
                )
            )
        return cls(
            name=name,
            raw=raw,
            lowered=raw.lower(),
            hex=raw.hex().encode(),
            halves=tuple(h.encode("utf-8", "surrogateescape").lower() for h in halves),
            base64=_shortest(f.translate(_TO_STANDARD) for f in fragments),
            kinds=tuple(kinds),
            fixed=_shortest(text for _, text in fixed),
            folded=value.casefold().encode("utf-8", "surrogateescape"),
        )

    def seen(self, views: _Views) -> bool:
        """Whether any form of the value shows in the cheap views of some data."""
        # The halves of a long value stand for it whole: one of them is in any copy.
        texts = self.halves or (self.lowered,)
        if any(text in views.decoded for text in texts):
            return True
        # Undecoded too: an escape-like text right before a raw value (`C:\\nobody`,
        # `%ab…`) is decoded together with the value's first character.
        if self.lowered in views.lower:
            return True
        if b" " in self.lowered and any(text in views.plus_as_space() for text in texts):
            return True
        if self.hex in views.decoded:
            return True
        if any(fragment in views.base64 for fragment in self.base64):
            return True
        if any(text in views.lower for text in self.fixed):
            return True
        nfkc = views.nfkc()
        return nfkc is not None and self.folded in nfkc

    @property
    def pattern(self) -> bytes:
        """One regex source for every form (the whole value before its halves)."""
        return b"|".join(b"(?:" + source + b")" for _, source in self.kinds)


class _Views:
    """Data lowered; lowered with its escapes decoded; without line breaks, in the
    standard base64 alphabet."""

    def __init__(self, data: bytes) -> None:
        self.lower = data.lower()
        decoded = decode_escapes(data)
        self.decoded = self.lower if decoded is data else decoded.lower()
        self.base64 = _drop_line_breaks(data).translate(_TO_STANDARD)
        self._plus: bytes | None = None
        self._data = data
        self._nfkc: bytes | bool | None = False  # False: not computed yet

    def nfkc(self) -> bytes | None:
        """The data NFKC-normalised and case-folded; None for ASCII data."""
        if self._nfkc is False:
            self._nfkc = transforms.nfkc_view(self._data)
        return self._nfkc if isinstance(self._nfkc, bytes) else None

    def plus_as_space(self) -> bytes:
        if self._plus is None:
            self._plus = self.decoded.replace(b"+", b" ")
        return self._plus


@lru_cache(maxsize=REGEX_CACHE)
def _compiled(source: bytes) -> re.Pattern[bytes]:
    return re.compile(source)


class Redactor:
    """Replaces every known secret, in every form, by `[REDACTED:<NAME>]`."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = {
            name: value for name, value in secrets.items() if len(value) >= MIN_SECRET_LENGTH
        }
        # Longest first, so that a value containing another is replaced whole.
        self._known = tuple(
            _Secret.of(name, value)
            for name, value in sorted(self._secrets.items(), key=lambda i: -len(i[1]))
        )

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

    def _seen(self, data: bytes) -> tuple[_Secret, ...]:
        if not self._known:
            return ()
        views = _Views(data)
        return tuple(secret for secret in self._known if secret.seen(views))

    def redact_bytes(self, data: bytes) -> bytes:
        seen = self._seen(data)
        if not seen:
            return data
        regex = _compiled(b"|".join(secret.pattern for secret in seen))

        def replace(match: re.Match[bytes]) -> bytes:
            found = match.group(0)
            name = next(
                (s.name for s in seen if _compiled(s.pattern).fullmatch(found)), seen[0].name
            )
            return f"[REDACTED:{name}]".encode()

        return regex.sub(replace, data)

    def redact(self, text: str) -> str:
        # surrogateescape round-trips bytes that were not UTF-8; a lone surrogate from
        # JSON (`\\ud800`) needs surrogatepass (it crashed the case before, issue 18).
        errors = "surrogateescape"
        try:
            data = text.encode("utf-8", errors)
        except UnicodeEncodeError:
            errors = "surrogatepass"
            data = text.encode("utf-8", errors)
        return self.redact_bytes(data).decode("utf-8", errors)

    def scan(self, data: bytes) -> list[str]:
        """`<NAME> (<form>)` for every secret form present in `data`."""
        found = set()
        for secret in self._seen(data):
            forms_here = {
                _form_of(secret, match.group(0))
                for match in _compiled(secret.pattern).finditer(data)
            }
            # The quick look saw the value but no regex places it: still a finding.
            found |= {f"{secret.name} ({form})" for form in forms_here or {"encoded"}}
        return sorted(found)


def _form_of(secret: _Secret, found: bytes) -> str:
    """The form name of one occurrence of `secret`."""
    for kind, source in secret.kinds:
        if not _compiled(source).fullmatch(found):
            continue
        if kind != "text":
            return kind
        if found == secret.raw:
            return "raw"
        if found.lower() == secret.lowered:
            return "case"
        families = {FAMILIES[m[0][:1]] for m in ESCAPE.finditer(found)}
        if not families:  # `+` for a space
            return "url"
        return families.pop() if len(families) == 1 else "mixed"
    return "encoded"
