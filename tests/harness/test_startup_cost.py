"""What a run pays before its first case: importing the plugin loads no module that only
some runs use, and the bundle's pattern scan searches its slow detectors only on the lines
that can match (their gates), without missing what they find."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_codex.secrets import patterns

# Modules a run imports only where it uses them: httpx (the codex_client fixture, a live
# rollback's check), detect-secrets (the bundle's pattern scan, warmed up beside the stack).
LAZY = ("httpx", "detect_secrets", "docker")


def test_importing_the_plugin_loads_no_module_that_only_some_runs_use() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import pytest_codex.adapter.plugin; "
            f"print(json.dumps([m for m in {list(LAZY)!r} if m in sys.modules]))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


HEX64 = "0123456789abcdef" * 4
# One line per shape each gated detector finds (upper-case key names: the detectors are
# case-blind, so the gates must be too).
GATED_SAMPLES = [
    ("ArtifactoryDetector", 'artifactory = "AKCabcdefghij0123"'),
    ("ArtifactoryDetector", "token: AP6abcdefghij"),
    ("CloudantDetector", f'CLOUDANT_PASSWORD = "{HEX64}"'),
    ("CloudantDetector", f"https://user:{'q' * 24}@acct.cloudant.com"),
    ("IbmCloudIamDetector", f'"ibm_cloud_iam_api_key": "{"A1b2_" * 8}abcd"'),
    ("IbmCosHmacDetector", f"IBM_COS_HMAC_SECRET_ACCESS_KEY={HEX64[:48]}"),
    ("SoftlayerDetector", f"softlayer_api_key: {HEX64}"),
    ("SoftlayerDetector", f"https://api.softlayer.com/soap/v3/{HEX64}"),
]


@pytest.mark.parametrize(("name", "line"), GATED_SAMPLES)
def test_a_gated_detector_still_finds_its_shapes(name: str, line: str) -> None:
    [detector] = [d for d in patterns.detectors() if type(d).__name__ == name]
    assert list(detector.analyze_string(line)), "the sample must be a real hit"
    text = "{\n" + '  "other": "value",\n' * 3 + line + "\n}\n"
    assert (5, str(detector.secret_type)) in patterns.scan_text(text)


def test_every_gate_names_a_detector_the_scan_uses() -> None:
    used = {type(d).__name__ for d in patterns.detectors()}
    assert set(patterns.GATES) <= used
    assert {name for name, _ in GATED_SAMPLES} == set(patterns.GATES)
