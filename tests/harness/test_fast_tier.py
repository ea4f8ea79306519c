"""The fast tier (`bash scripts/test.sh --fast`): lint, types and every test that needs no
Docker engine and no browser; the whole suite stays what `bash scripts/test.sh` runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

COLLECT_TIMEOUT_S = 300
COLLECT_ONLY = ("--collect-only", "-q", "-p", "no:cacheprovider")
# No engine: the fast tier must not need one, not even to collect.
NO_ENGINE = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def collect(*argv: str) -> tuple[set[str], str]:
    """The node ids a `pytest --collect-only` selects, and its summary line."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *argv, *COLLECT_ONLY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COLLECT_TIMEOUT_S,
        check=False,
        env=NO_ENGINE,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return (
        set(re.findall(r"^(tests/.+::.+)$", done.stdout, flags=re.MULTILINE)),
        done.stdout.strip().splitlines()[-1],
    )


def test_the_fast_tier_is_every_test_but_the_docker_and_browser_ones() -> None:
    script = (REPO / "scripts" / "test.sh").read_text()
    [selection] = re.findall(r'^\s*exec pytest -m "([^"]+)" -n ', script, flags=re.MULTILINE)
    assert selection == "not docker and not browser"
    fast, summary = collect("-m", selection)
    marked, _ = collect("-m", "docker or browser")
    assert fast
    assert not fast & marked
    # Every test is in one tier or the other: "<fast>/<all> tests collected (<marked> ...)".
    assert re.match(rf"{len(fast)}/{len(fast) + len(marked)} tests collected ", summary)
    assert not {n for n in fast if n.startswith(("tests/docker/", "tests/browser/"))}
    # A Docker test outside those folders carries the marker itself.
    assert "tests/harness/test_images.py::test_prepare_builds_the_bundled_image" in marked
    assert "tests/harness/test_images.py::test_digest_follows_every_byte" in fast


def test_a_pytester_run_loads_no_dev_tool_plugin(pytester: pytest.Pytester) -> None:
    # hypothesis' plugin alone costs ~1.4 s of CPU at every start of a pytester run.
    pytester.makepyfile(
        test_modules="import sys\n\n"
        "def test_modules():\n"
        "    assert 'hypothesis' not in sys.modules\n"
        "    assert 'schemathesis' not in sys.modules\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
