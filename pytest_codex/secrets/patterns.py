"""Secrets the harness was never told about: detect-secrets' pattern detectors (API keys
of the well-known services, private keys, tokens) over every file of a bundle, on top of
the exact-value scan of the redactor. The high-entropy and keyword detectors are left out:
project ids, hashes and base64 file contents are high-entropy by nature. Reports name the
file, the line and the kind of secret, never the secret. No pytest import here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pytest_codex.bundle.reader import BundleReadError, read_bytes
from pytest_codex.target import compose as stack

MAX_PATTERN_SCAN_BYTES = 64 * 1024 * 1024  # a larger file is reported, not scanned
DETECTORS = (
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)


@cache
def detectors() -> tuple[Any, ...]:
    """One instance of each detector (its regexes compiled once). detect-secrets is
    imported here, not at module level: it costs ~0.1 s, which a run pays only when it
    writes a bundle (and then beside the stack's start: adapter/startup.py)."""
    from detect_secrets.core.plugins.util import (  # noqa: PLC0415
        get_mapping_from_secret_type_to_class,
    )

    found: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    classes = {str(detector.__name__): detector for detector in found}
    return tuple(classes[name]() for name in DETECTORS if name in classes)


# A key-ish name, then an assignment: what every keyword regex of detect-secrets
# (`(?<=\W)...(?:key|pwd|password|pass|token)["']?]? *(?:=|:|:=|=>| +|::)...`, case-blind)
# needs, on one line. Those regexes open with look-behinds and optional groups, so the
# regex engine tries them at every offset (~90 % of the scan's time); this gate, searched
# in the case-folded text with a literal first, finds the same lines first.
_ASSIGNMENT = re.compile(r"""(?:key|pwd|pw|password|pass|token)["']?\]? *[=: ]""")
# For the detectors whose every pattern is slow to search: a regex that any line their
# patterns match also matches (a necessary condition, never a verdict), and whether it is
# searched in the case-folded text.
GATES: dict[str, tuple[re.Pattern[str], bool]] = {
    "ArtifactoryDetector": (re.compile(r"AKC|AP[\dABCDEF]"), False),
    "CloudantDetector": (re.compile(_ASSIGNMENT.pattern + r"|cloudant\.com"), True),
    "IbmCloudIamDetector": (_ASSIGNMENT, True),
    "IbmCosHmacDetector": (_ASSIGNMENT, True),
    "SoftlayerDetector": (re.compile(_ASSIGNMENT.pattern + r"|softlayer\.com"), True),
}


def _gated_lines(gate: re.Pattern[str], folded: bool, lines: list[str]) -> list[int]:
    """The 0-based numbers of the lines `gate` finds something in."""
    return [
        index
        for index, line in enumerate(lines)
        if gate.search(line.casefold() if folded else line) is not None
    ]


def scan_text(text: str) -> list[tuple[int, str]]:
    """`(line number, kind)` for every well-known secret shape in `text`."""
    found = []
    lines: list[str] = []
    folded_text = ""
    for detector in detectors():
        gate = GATES.get(type(detector).__name__)
        if gate is None:
            if not any(True for _ in detector.analyze_string(text)):
                continue  # the usual case: one pass over the whole text, no match
            lines = lines or text.splitlines()
            candidates: Iterable[int] = range(len(lines))
        else:
            folded_text = folded_text or (text.casefold() if gate[1] else "")
            if gate[0].search(folded_text if gate[1] else text) is None:
                continue  # no line can match
            lines = lines or text.splitlines()
            candidates = _gated_lines(gate[0], gate[1], lines)
        found += [
            (index + 1, str(detector.secret_type))
            for index in candidates
            if any(True for _ in detector.analyze_string(lines[index]))
        ]
    return sorted(found)


def scan_patterns(folder: Path) -> list[str]:
    """`<file>:<line>: <kind>` for every well-known secret shape under `folder`, and
    `<folder>: not scanned (<why>)` for what the bounded walk left out (stack.listing:
    no recursion, no symlinks, MAX_WALK_DEPTH and MAX_WALK_ENTRIES).

    The detectors' own matching is used line by line, without detect-secrets' file
    scanning and filters (which took ~8 ms a file: 10 s for a 1,300-file bundle)."""
    report = []
    for entry in stack.listing(folder):
        relative = str(entry["path"])
        if "skipped" in entry:
            report.append(f"{relative or '.'}: not scanned ({entry['skipped']})")
            continue
        try:
            data = read_bytes(folder, relative, MAX_PATTERN_SCAN_BYTES)
        except BundleReadError as error:
            report.append(f"{error} (not scanned)")
            continue
        text = data.decode("utf-8", "replace")
        report += [f"{relative}:{number}: {kind}" for number, kind in scan_text(text)]
    return sorted(report)
