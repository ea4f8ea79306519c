"""Secrets the harness was never told about: detect-secrets' pattern detectors (API keys
of the well-known services, private keys, tokens) over every file of a bundle, on top of
the exact-value scan of the redactor. The high-entropy and keyword detectors are left out:
project ids, hashes and base64 file contents are high-entropy by nature. Reports name the
file, the line and the kind of secret, never the secret. No pytest import here.
"""

from __future__ import annotations

from pathlib import Path

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

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


def scan_patterns(folder: Path) -> list[str]:
    """`<file>:<line>: <kind>` for every well-known secret shape under `folder`."""
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    found = SecretsCollection(root=str(folder))
    with transient_settings({"plugins_used": [{"name": name} for name in DETECTORS]}):
        found.scan_files(*files, num_processors=1)
    report = []
    for filename, secrets in found.json().items():
        path = Path(filename)  # relative to the collection's root, or absolute
        path = path if path.is_absolute() else folder / path
        relative = path.resolve().relative_to(folder.resolve()).as_posix()
        for secret in secrets:
            report.append(f"{relative}:{secret['line_number']}: {secret['type']}")
    return sorted(report)
