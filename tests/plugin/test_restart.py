"""A target that restarts mid-run: the reference orchestrator as a real process is
stopped for about 3 s while a pytester run is going and started again on the same port
with the same database. The run waits for it (--codex-outage-wait), retries what may be
retried, and says in its verdict and manifest that the target stopped answering. Also the
parts on their own against a real socket server: a POST in flight is not sent again."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_codex.bundle.record import OutageLog
from pytest_codex.cases import outages, rawhttp
from tests.conftest import Orchestrator, free_port

OUTAGE_S = 3.0
STARTED_CASES = 20  # cases done before the orchestrator is stopped
WATCH_TIMEOUT_S = 60.0


def restart_matrix(reads: int, edit_every: int = 10) -> str:
    """A project, then `reads` cases reading it; every `edit_every`-th an edit job (a POST
    that may be in flight when the target stops; 0: none)."""
    lines = [
        "name: restart",
        "cases:",
        "  - name: create-project",
        "    request: {method: POST, path: /api/v1/projects, json: {instruction: Fibonacci CLI}}",
        "    expect: {status: 200}",
        "    save: {project_id: id}",
    ]
    for n in range(reads):
        if edit_every and n % edit_every == edit_every - 1:  # a state-changing request
            lines += [
                f"  - name: edit-{n}",
                '    request: {method: POST, path: "/api/v1/{project_id}/jobs",'
                " json: {job_type: edit, instruction: Add a comment.}}",
                "    expect: {status: 200}",
            ]
        else:
            lines += [
                f"  - name: read-{n}",
                '    request: {path: "/api/v1/{project_id}/files/app.py"}',
                "    expect: {status: 200}",
            ]
    return "\n".join(lines) + "\n"


def restart_when_cases_ran(server: Orchestrator, evidence: Path, done: threading.Event) -> None:
    """Stop the orchestrator once STARTED_CASES case files exist, start it OUTAGE_S later
    (same port, same database)."""
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    while time.monotonic() < deadline and not done.is_set():
        if len(list(evidence.rglob("*.case.json"))) >= STARTED_CASES:
            server.stop()
            time.sleep(OUTAGE_S)
            server.start()
            return
        time.sleep(0.005)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_restart_mid_run_fails_at_most_the_case_in_flight(
    pytester: pytest.Pytester, tmp_path: Path, workers: int
) -> None:
    root = tmp_path / "orchestrator"
    root.mkdir()
    server = Orchestrator(root).start()
    # Under xdist a worker runs the edit before a read as its prerequisite, so an edit
    # that fails in flight fails the reads that depend on it: reads only there.
    pytester.path.joinpath("restart.yaml").write_text(
        restart_matrix(300, edit_every=0 if workers else 10)
    )
    finished = threading.Event()
    watcher = threading.Thread(
        target=restart_when_cases_ran, args=(server, pytester.path / "evidence", finished)
    )
    watcher.start()
    try:
        result = pytester.runpytest_subprocess(
            "--codex-mode=mocked",
            f"--codex-base-url={server.url}",
            "--codex-evidence-dir=evidence",
            "--codex-matrix=restart.yaml",
            "--codex-outage-wait=30",
            "-p",
            "no:cacheprovider",
            *(["-n", str(workers)] if workers else []),
        )
    finally:
        finished.set()
        watcher.join(timeout=WATCH_TIMEOUT_S)
        server.stop()
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes.get("failed", 0) <= (0 if workers else 1), result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 300
    if outcomes.get("failed"):  # only a state-changing request in flight may fail
        result.stdout.fnmatch_lines(["*POST was in flight*not sent again*"])
    # The verdict (PASSED, or FAILED when the POST in flight failed) says what happened.
    word = "FAILED" if outcomes.get("failed") else "PASSED"
    result.stdout.fnmatch_lines([f"pytest-codex mocked run: {word}, *the target stopped*"])
    [bundle] = sorted((pytester.path / "evidence").glob("*/mocked"))
    summary = (bundle / "SUMMARY.md").read_text().splitlines()[0]
    met = max(workers, 1)  # each worker meets the outage on its own
    assert re.search(rf"the target stopped answering [1-{met}] time\(s\) mid-run", summary)
    assert "it restarted" in summary
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    outages = manifest["target_outages"]["outages"]
    assert 1 <= len(outages) <= met
    for outage in outages:
        assert outage["came_back"] is True
        assert OUTAGE_S - 1 <= outage["down_s"] <= OUTAGE_S + 10
    assert manifest["session"]["target_outages"] in summary


def test_a_target_that_stays_down_fails_fast_after_one_bounded_wait(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    root = tmp_path / "orchestrator"
    root.mkdir()
    server = Orchestrator(root).start()
    pytester.path.joinpath("restart.yaml").write_text(restart_matrix(30))
    finished = threading.Event()

    def stop_for_good() -> None:
        deadline = time.monotonic() + WATCH_TIMEOUT_S
        while time.monotonic() < deadline and not finished.is_set():
            if len(list((pytester.path / "evidence").rglob("*.case.json"))) >= 5:
                server.stop()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=stop_for_good)
    watcher.start()
    started = time.monotonic()
    try:
        result = pytester.runpytest_subprocess(
            "--codex-mode=mocked",
            f"--codex-base-url={server.url}",
            "--codex-evidence-dir=evidence",
            "--codex-matrix=restart.yaml",
            "--codex-outage-wait=2",
            "-p",
            "no:cacheprovider",
        )
    finally:
        finished.set()
        watcher.join(timeout=WATCH_TIMEOUT_S)
        server.stop()
    assert time.monotonic() - started < 30  # one wait of 2 s, not one per case
    result.stdout.fnmatch_lines(["*did not answer again within --codex-outage-wait (2 s)*"])
    result.stdout.fnmatch_lines(["*has not answered since an earlier outage*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.fnmatch_lines(["*it did not answer again*"])


class FlakyServer:
    """A socket server that drops the first `drops` connections after reading the
    request (the request was in flight), then answers every request 200."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = conn.recv(65536)
                if not data.startswith(b"GET /healthz"):
                    self.requests.append(data.split(b"\r\n", 1)[0])
                    if self.drops > 0:
                        self.drops -= 1
                        continue  # closed without an answer
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                )


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(drops=1)
    server.thread.start()
    yield server
    server.sock.close()


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_idempotent_request_is_sent_again_and_a_post_in_flight_is_not(
    flaky: FlakyServer, method: str
) -> None:
    log = OutageLog()
    target = outages.Target(flaky.url, "/healthz", 5.0, log)

    def send() -> rawhttp.Exchange:
        return rawhttp.send(flaky.url, method, "/api/x", timeout=5)

    if method == "POST":
        with pytest.raises(rawhttp.RawHttpError, match=r"POST was in flight.*not sent again"):
            outages.send_through_outages(send, target, method, "/api/x", "m.yaml::c")
        assert len(flaky.requests) == 1
    else:
        assert (
            outages.send_through_outages(send, target, method, "/api/x", "m.yaml::c").body == b"ok"
        )
        assert len(flaky.requests) == 2
    [outage] = log.outages
    assert outage["in_flight"] is True
    assert outage["retried"] is (method == "GET")
    assert outage["request"] == f"{method} /api/x"


def test_one_outage_met_by_several_xdist_workers_counts_once() -> None:
    """Each worker waits through the same restart with its own request; the controller
    merges their records: one outage (two requests met it), a later one counts apart."""

    def met(case: str, started_at: str, down_s: float) -> dict[str, object]:
        return {
            "case": case,
            "request": "GET /api/x",
            "started_at": started_at,
            "down_s": down_s,
            "came_back": True,
            "in_flight": False,
            "retried": True,
        }

    controller = OutageLog()
    controller.merge([met("m.yaml::a", "2026-12-05T10:00:00Z", 3.1)])  # worker gw0
    controller.merge([met("m.yaml::b", "2026-12-05T10:00:01Z", 2.4)])  # worker gw1
    assert controller.count == 1
    assert len(controller.outages) == 2
    assert controller.summary() == (
        "the target stopped answering 1 time(s) mid-run (longest 3.1 s); it restarted"
    )
    controller.merge([met("m.yaml::c", "2026-12-05T10:01:00Z", 1.0)])
    assert controller.count == 2
