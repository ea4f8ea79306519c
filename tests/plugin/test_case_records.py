"""Every case ends in one record with its duration, whatever it raised: here a case whose
exchange never completes (the server hangs up after 0.2 s) against a real loopback
server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.local_http import QuietHandler, serving

HANG_UP_AFTER_S = 0.2


class HangUpHandler(QuietHandler):
    """/healthz answers; any other path is read, then the connection dropped unanswered."""

    def do_GET(self) -> None:
        if self.path != "/healthz":
            time.sleep(HANG_UP_AFTER_S)
            self.close_connection = True
            return
        self.answer_json(200, b'{"status": "ok"}')


@pytest.fixture
def hang_up_server() -> Iterator[str]:
    with serving(HangUpHandler) as url:
        yield url


def test_a_case_with_no_exchange_is_recorded_with_its_duration(
    pytester: pytest.Pytester, hang_up_server: str
) -> None:
    pytester.mkdir("matrices")
    pytester.path.joinpath("matrices", "hang.yaml").write_text(
        "name: hang\ncases:\n"
        "  - name: ok\n    request: {path: /healthz}\n    expect: {status: 200}\n"
        "  - name: dropped\n    request: {path: /drop}\n    expect: {status: 200}\n"
    )
    result = pytester.runpytest_subprocess(
        "--codex-mode=mocked",
        f"--codex-base-url={hang_up_server}",
        "--codex-evidence-dir=evidence",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1, failed=1)
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    cases = {c["name"]: c for c in json.loads((bundle / "manifest.json").read_text())["cases"]}
    dropped = cases["dropped"]
    assert dropped["outcome"] == "failed"
    assert dropped["evidence"] is not None
    assert dropped["elapsed_ms"] >= HANG_UP_AFTER_S * 1000  # the time it took, never 0
