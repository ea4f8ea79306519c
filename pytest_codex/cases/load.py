"""Load: many project creations, then many reads, from concurrent keep-alive clients.

`run_load()` creates `creations` projects from `clients` threads, then spreads `reads`
GETs (file listings and one file) over the projects, and checks every project: completed,
and listed with the files of the seed. Where the id is and which paths to call come from
a `LoadTarget` (`LoadTarget.from_matrix(load)` reads them from a load file; the defaults
are the reference API's). It returns the figures (throughput, p50, p99, errors,
incomplete projects). No pytest import here.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from pytest_codex.cases.expectations import listed_paths, lookup


@dataclass(frozen=True)
class LoadTarget:
    """Where a load run creates, finds and reads projects (the reference API by default).

    `{id}` in a path is the project id, taken from the creation answer at `id` (a dotted
    path); a project is done when its `status_key` is `done_status`; the listing is read
    as in a matrix's `files:` (`at`, `key`)."""

    create_path: str = "/api/v1/projects"
    instruction_field: str = "instruction"
    id_key: str = "id"
    project_path: str = "/api/v1/projects/{id}"
    status_key: str = "status"
    done_status: object = "completed"
    listing_path: str = "/api/v1/{id}/files"
    listing_at: str | None = None
    listing_key: str | None = None
    read_path: str = "/api/v1/{id}/files/app.py"

    @classmethod
    def from_matrix(cls, load: Mapping[str, Any]) -> LoadTarget:
        """The target a load file's `load:` describes (keys of docs/matrices.md)."""
        base = cls()
        create = load.get("create") or {}
        listing = load.get("listing") or {}
        return cls(
            create_path=str(create.get("path", base.create_path)),
            instruction_field=str(create.get("field", base.instruction_field)),
            id_key=str(load.get("id", base.id_key)),
            project_path=str(load.get("project", base.project_path)),
            status_key=str(load.get("status_key", base.status_key)),
            done_status=load.get("done_status", base.done_status),
            listing_path=str(listing.get("path", base.listing_path)),
            listing_at=listing.get("at", base.listing_at),
            listing_key=listing.get("key", base.listing_key),
            read_path=str(load.get("read", base.read_path)),
        )

    def path(self, template: str, project_id: str) -> str:
        return template.replace("{id}", quote(project_id, safe=""))


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
        status, document, _, elapsed = self.call_raw(method, path, body)
        return status, document, elapsed

    def call_raw(
        self, method: str, path: str, body: object = None
    ) -> tuple[int, Any, bytes, float]:
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
        return answer.status, document, raw, elapsed

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
    target: LoadTarget | None = None,
) -> LoadReport:
    run = _Run(base_url, timeout, token, target or LoadTarget(), instruction)
    run.create.seconds = _spread(clients, creations, run.create_one, run.make)
    run.read.seconds = _spread(clients, reads, run.read_one, run.make)
    incomplete = _incomplete(run.ids, run.aim, expected_files, clients, run.make)
    missing = creations - len(run.ids)
    incomplete += [f"(no id for {missing} creations)"] if missing else []
    return LoadReport(clients, run.create, run.read, len(run.ids), incomplete, run.samples)


@dataclass
class _Run:
    """One load run's clients' shared state: the phases' figures, the ids created, error
    samples; `create_one` and `read_one` are the work `_spread` hands each client."""

    base_url: str
    timeout: float
    token: str | None
    aim: LoadTarget
    instruction: str
    create: Phase = field(default_factory=Phase)
    read: Phase = field(default_factory=Phase)
    ids: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def make(self) -> _Client:
        return _Client(self.base_url, self.timeout, self.token)

    def note(self, phase: Phase, elapsed: float, error: str | None) -> None:
        with self.lock:
            phase.requests += 1
            phase.latencies.append(elapsed)
            if error:
                phase.errors += 1
                self.samples.append(error)

    def create_one(self, client: _Client, index: int) -> None:
        aim = self.aim
        try:
            status, body, elapsed = client.call(
                "POST", aim.create_path, {aim.instruction_field: f"{self.instruction} (#{index})"}
            )
        except OSError as error:
            self.note(self.create, 0.0, f"create #{index}: {type(error).__name__}")
            return
        project_id = lookup(body, aim.id_key)
        ok = 200 <= status < 300 and isinstance(project_id, str | int)
        why = f"{status}, no id at {aim.id_key!r}" if 200 <= status < 300 else f"{status}"
        self.note(self.create, elapsed, None if ok else f"create #{index}: {why}")
        if ok and not isinstance(project_id, bool):
            with self.lock:
                self.ids.append(str(project_id))

    def read_one(self, client: _Client, index: int) -> None:
        aim, ids = self.aim, self.ids
        if not ids:
            return
        project = ids[index % len(ids)]
        listing = index % 2 == 0
        path = aim.path(aim.listing_path if listing else aim.read_path, project)
        try:
            status, body, raw, elapsed = client.call_raw("GET", path)
        except OSError as error:
            self.note(self.read, 0.0, f"GET {path}: {type(error).__name__}")
            return
        if listing:
            ok = status == 200 and listed_paths(body, aim.listing_at, aim.listing_key) is not None
        else:
            ok = status == 200 and bool(raw.strip())
        self.note(self.read, elapsed, None if ok else f"GET {path}: {status}")


def _incomplete(
    ids: list[str],
    aim: LoadTarget,
    expected_files: list[str],
    clients: int,
    make: Callable[[], _Client],
) -> list[str]:
    """The projects that are not done, or do not list exactly `expected_files`."""
    incomplete: list[str] = []
    lock = threading.Lock()

    def check_one(client: _Client, index: int) -> None:
        project = ids[index]
        try:
            status, body, _ = client.call("GET", aim.path(aim.project_path, project))
            _, listing, _ = client.call("GET", aim.path(aim.listing_path, project))
        except OSError:
            status, body, listing = 0, None, None
        done = status == 200 and lookup(body, aim.status_key) == aim.done_status
        found = listed_paths(listing, aim.listing_at, aim.listing_key)
        if not done or found is None or found[0] != sorted(expected_files):
            with lock:
                incomplete.append(project)

    _spread(clients, len(ids), check_one, make)
    return incomplete
