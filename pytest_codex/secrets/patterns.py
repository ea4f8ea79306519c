"""Secrets the harness was never told about: detect-secrets' pattern detectors (API keys
of the well-known services, private keys, tokens) over every file of a bundle, on top of
the exact-value scan of the redactor. The high-entropy and keyword detectors are left out:
project ids, hashes and base64 file contents are high-entropy by nature. Reports name the
file, the line and the kind of secret, never the secret. No pytest import here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

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
    """One instance of each detector (its regexes compiled once)."""
    found: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    classes = {str(detector.__name__): detector for detector in found}
    return tuple(classes[name]() for name in DETECTORS if name in classes)


def scan_text(text: str) -> list[tuple[int, str]]:
    """`(line number, kind)` for every well-known secret shape in `text`."""
    found = []
    for detector in detectors():
        if not any(True for _ in detector.analyze_string(text)):
            continue  # the usual case: one pass over the whole text, no match
        for number, line in enumerate(text.splitlines(), start=1):
            if any(True for _ in detector.analyze_string(line)):
                found.append((number, str(detector.secret_type)))
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
