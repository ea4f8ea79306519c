"""Orchestrator throughput (mocked): project creations per second and p50/p99 latency at
1, 8 and 32 concurrent clients, against the same work behind FastAPI + uvicorn.

    .venv/bin/python bench/throughput.py [--requests 400] [--rounds 3]
Goals: >= 1.0x the baseline's throughput; p99 < 50 ms at 8 clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from common import REPO, Row, median, save

BODY = json.dumps({"instruction": "Create a Python CLI app that prints Fibonacci numbers"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(kind: str) -> Iterator[int]:
    """The orchestrator (`ours`) or the FastAPI baseline as a process on a fresh folder."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as root:
        env = {
            **os.environ,
            "WORKSPACE_ROOT": f"{root}/ws",
            "DATABASE_URL": f"sqlite:///{root}/db.sqlite",
            "PYTHONPATH": f"{REPO / 'service'}:{REPO / 'bench'}",
        }
        if kind == "ours":
            argv = [
                sys.executable,
                "-m",
                "pytest_codex_orchestrator",
                "serve",
                "--port",
                str(port),
            ]
        else:
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "fastapi_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def load(port: int, clients: int, total: int) -> tuple[float, list[float], int]:
    """`total` creations spread over `clients` keep-alive connections: wall time,
    latencies, errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = total // clients

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        failed = 0
        for _ in range(per_client):
            started = time.perf_counter()
            connection.request(
                "POST", "/api/v1/projects", BODY, {"Content-Type": "application/json"}
            )
            answer = connection.getresponse()
            body = answer.read()
            mine.append(time.perf_counter() - started)
            if answer.status != 200 or b'"completed"' not in body:
                failed += 1
        connection.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=384, help="creations per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    figures: dict[str, object] = {}
    for clients in (1, 8, 32):
        results: dict[str, list[tuple[float, list[float], int]]] = {"ours": [], "fastapi": []}
        for index in range(args.rounds):
            for kind in ("ours", "fastapi"):  # alternate A and B, a fresh server each
                with server(kind) as port:
                    load(port, clients, clients * 4)  # warm-up
                    results[kind].append(load(port, clients, args.requests))
            print(f"  {clients} clients, round {index + 1}/{args.rounds}", file=sys.stderr)
        summary = {}
        for kind, runs in results.items():
            throughput = median([args.requests // clients * clients / wall for wall, _, _ in runs])
            lat = [x for _, values, _ in runs for x in values]
            summary[kind] = {
                "per_s": round(throughput, 1),
                "p50_ms": round(statistics.median(lat) * 1000, 2),
                "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
                "errors": sum(e for _, _, e in runs),
            }
        figures[str(clients)] = summary
        ours, base = summary["ours"], summary["fastapi"]
        rows.append(
            Row(
                bench=f"throughput, {clients} clients",
                subject="orchestrator (stdlib)",
                baseline="FastAPI + uvicorn",
                unit="ms/creation",
                subject_s=1000 / float(ours["per_s"]),
                baseline_s=1000 / float(base["per_s"]),
                goal=">= 1.0x throughput (ratio <= 1.0)"
                + (", p99 < 50 ms" if clients == 8 else ""),
                details={"ours": ours, "fastapi": base},
            )
        )
        print(f"{clients:>2} clients: ours {ours}, fastapi {base}", flush=True)
    save("throughput", rows, {"figures": figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
