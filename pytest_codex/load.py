"""Load: many project creations, then many reads, from concurrent keep-alive clients.

`run_load()` creates `creations` projects from `clients` threads, then spreads `reads`
GETs (file listings and `app.py`) over the projects, and checks every project: completed,
and listed with the files of the seed. It returns the figures (throughput, p50, p99,
errors, incomplete projects). No pytest import here.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Phase:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    def figures(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        }


@dataclass
class LoadReport:
    clients: int
    create: Phase
    read: Phase
    projects: int
    incomplete: list[str]
    error_samples: list[str]

    @property
    def passed(self) -> bool:
        return not (self.create.errors or self.read.errors or self.incomplete)

    def figures(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "create": self.create.figures(),
            "read": self.read.figures(),
            "projects": self.projects,
            "incomplete": len(self.incomplete),
            "incomplete_sample": self.incomplete[:20],
            "error_samples": self.error_samples[:10],
            "passed": self.passed,
        }


class _Client:
    """One keep-alive connection; reconnects once when the server closed it."""

    def __init__(self, base_url: str, timeout: float, token: str | None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any, float]:
        data = None if body is None else json.dumps(body)
        headers = {**self.headers, **({"Content-Type": "application/json"} if data else {})}
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, data, headers)
                answer = self.connection.getresponse()
                raw = answer.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - started
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        return answer.status, document, elapsed

    def close(self) -> None:
        self.connection.close()


def _spread(
    clients: int, total: int, work: Callable[[_Client, int], None], make: Callable[[], _Client]
) -> float:
    """Run `work(client, index)` for index in range(total) over `clients` threads."""
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        client = make()
        try:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                work(client, index)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def run_load(
    base_url: str,
    *,
    creations: int,
    reads: int,
    clients: int,
    instruction: str,
    expected_files: list[str],
    timeout: float = 60.0,
    token: str | None = None,
) -> LoadReport:
    create, read = Phase(), Phase()
    ids: list[str] = []
    samples: list[str] = []
    lock = threading.Lock()

    def make() -> _Client:
        return _Client(base_url, timeout, token)

    def note(phase: Phase, elapsed: float, error: str | None) -> None:
        with lock:
            phase.requests += 1
            phase.latencies.append(elapsed)
            if error:
                phase.errors += 1
                samples.append(error)

    def create_one(client: _Client, index: int) -> None:
        try:
            status, body, elapsed = client.call(
                "POST", "/api/v1/projects", {"instruction": f"{instruction} (#{index})"}
            )
        except OSError as error:
            note(create, 0.0, f"create #{index}: {type(error).__name__}")
            return
        ok = status == 200 and isinstance(body, dict) and body.get("status") == "completed"
        note(create, elapsed, None if ok else f"create #{index}: {status}")
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            with lock:
                ids.append(body["id"])

    create.seconds = _spread(clients, creations, create_one, make)

    def read_one(client: _Client, index: int) -> None:
        if not ids:
            return
        project = ids[index % len(ids)]
        path = f"/api/v1/{project}/files" if index % 2 == 0 else f"/api/v1/{project}/files/app.py"
        try:
            status, body, elapsed = client.call("GET", path)
        except OSError as error:
            note(read, 0.0, f"GET {path}: {type(error).__name__}")
            return
        ok = status == 200 and isinstance(body, dict) and ("files" in body or body.get("content"))
        note(read, elapsed, None if ok else f"GET {path}: {status}")

    read.seconds = _spread(clients, reads, read_one, make)

    incomplete: list[str] = []

    def check_one(client: _Client, index: int) -> None:
        project = ids[index]
        try:
            status, body, _ = client.call("GET", f"/api/v1/projects/{project}")
            _, listing, _ = client.call("GET", f"/api/v1/{project}/files")
        except OSError:
            status, body, listing = 0, None, None
        done = status == 200 and isinstance(body, dict) and body.get("status") == "completed"
        files = sorted(f["path"] for f in (listing or {}).get("files", []))
        if not done or files != sorted(expected_files):
            with lock:
                incomplete.append(project)

    _spread(clients, len(ids), check_one, make)
    missing = creations - len(ids)
    incomplete += [f"(no id for {missing} creations)"] if missing else []
    return LoadReport(clients, create, read, len(ids), incomplete, samples)
