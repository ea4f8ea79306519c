"""Projects and jobs in SQLite, with a schema that upgrades itself in place.

The schema version lives in `PRAGMA user_version`; `MIGRATIONS[n]` takes a database
from version n to n + 1 in one transaction, so a database written by any earlier
release opens with its rows intact.

Threads: the HTTP server answers each connection in its own thread. The store keeps
ONE connection (`check_same_thread=False`) behind a lock: SQLite serialises writers
anyway, the traffic is a few small statements per request, and a single connection
means no "database is locked" retries between our own threads and no WAL files beside
the database. The lock is held for statements only, never while a job runs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_codex_orchestrator.clock import utc_now

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: projects and their jobs.
    (
        """CREATE TABLE projects (
               id TEXT PRIMARY KEY,
               instruction TEXT NOT NULL,
               status TEXT NOT NULL,
               created_at TEXT NOT NULL)""",
        """CREATE TABLE jobs (
               id TEXT PRIMARY KEY,
               project_id TEXT NOT NULL REFERENCES projects(id),
               job_type TEXT NOT NULL,
               instruction TEXT NOT NULL,
               status TEXT NOT NULL,
               created_at TEXT NOT NULL,
               finished_at TEXT)""",
        "CREATE INDEX jobs_by_project ON jobs(project_id, created_at)",
    ),
    # v2: when a project last changed, when a job started, and why it failed.
    (
        "ALTER TABLE projects ADD COLUMN updated_at TEXT",
        "UPDATE projects SET updated_at = created_at",
        "ALTER TABLE jobs ADD COLUMN started_at TEXT",
        "ALTER TABLE jobs ADD COLUMN error TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
INTERRUPTED = {
    "type": "interrupted",
    "message": "the orchestrator restarted while this job was running",
}
UNFINISHED = ("pending", "running")


class StorageError(Exception):
    """The database cannot be used by this version of the orchestrator."""


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    instruction: str
    status: str  # pending, running, completed, failed: the status of its create job
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class JobRecord:
    id: str
    project_id: str
    job_type: str  # create or edit
    instruction: str
    status: str  # pending, running, completed, failed
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: dict[str, Any] | None = None


class Storage:
    """The orchestrator's database; see the module docstring for threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=10
        )
        self._connection.row_factory = sqlite3.Row
        try:
            self._connection.execute("PRAGMA foreign_keys = ON")
            # WAL with synchronous=NORMAL: a commit no longer waits for fsync (about six
            # commits per project creation); the database stays consistent after a crash,
            # at worst losing the last commits on power loss (bench/throughput.py).
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except Exception:
            self._connection.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @property
    def version(self) -> int:
        with self._lock:
            return _user_version(self._connection)

    def ping(self) -> None:
        """Raises `sqlite3.Error` when the database does not answer."""
        with self._lock:
            self._connection.execute("SELECT 1").fetchone()

    def add_project(self, project: ProjectRecord, job: JobRecord) -> None:
        """A new project together with its create job."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO projects (id, instruction, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    project.id,
                    project.instruction,
                    project.status,
                    project.created_at,
                    project.updated_at,
                ),
            )
            _insert_job(db, job)

    def save_project(self, project: ProjectRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE projects SET status = ?, updated_at = ? WHERE id = ?",
                (project.status, project.updated_at, project.id),
            )

    def get_project(self, project_id: str) -> ProjectRecord | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT * FROM projects WHERE id = ?", (project_id,)
            ).fetchone()
        return None if row is None else _project(row)

    def add_job(self, job: JobRecord) -> None:
        with self._transaction() as db:
            _insert_job(db, job)

    def save_job(self, job: JobRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, finished_at = ?, error = ?"
                " WHERE id = ?",
                (job.status, job.started_at, job.finished_at, _error_text(job.error), job.id),
            )

    def get_job(self, project_id: str, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT * FROM jobs WHERE project_id = ? AND id = ?", (project_id, job_id)
            ).fetchone()
        return None if row is None else _job(row)

    def get_create_job(self, project_id: str) -> JobRecord | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT * FROM jobs WHERE project_id = ? AND job_type = 'create'"
                " ORDER BY created_at LIMIT 1",
                (project_id,),
            ).fetchone()
        return None if row is None else _job(row)

    def fail_interrupted_jobs(self, now: str | None = None) -> list[str]:
        """Mark every job left pending or running as failed (and the project of a
        create job); called at start, when no job of this process can be running.
        Returns the ids of the jobs it failed."""
        now = now or utc_now()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE status IN (?, ?) ORDER BY created_at", UNFINISHED
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                    (now, _error_text(INTERRUPTED), row["id"]),
                )
                if row["job_type"] == "create":
                    db.execute(
                        "UPDATE projects SET status = 'failed', updated_at = ? WHERE id = ?",
                        (now, row["project_id"]),
                    )
        return [str(row["id"]) for row in rows]

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = _user_version(db)
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path}: schema version {version} is newer than this orchestrator "
                    f"knows ({SCHEMA_VERSION}); use a newer orchestrator or another "
                    "DATABASE_URL"
                )
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number:d}")


def _user_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def _insert_job(db: sqlite3.Connection, job: JobRecord) -> None:
    db.execute(
        "INSERT INTO jobs (id, project_id, job_type, instruction, status, created_at,"
        " started_at, finished_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job.id,
            job.project_id,
            job.job_type,
            job.instruction,
            job.status,
            job.created_at,
            job.started_at,
            job.finished_at,
            _error_text(job.error),
        ),
    )


def _error_text(error: dict[str, Any] | None) -> str | None:
    return None if error is None else json.dumps(error, sort_keys=True)


def _project(row: sqlite3.Row) -> ProjectRecord:
    return ProjectRecord(
        id=row["id"],
        instruction=row["instruction"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"] or row["created_at"],
    )


def _job(row: sqlite3.Row) -> JobRecord:
    error = row["error"]
    return JobRecord(
        id=row["id"],
        project_id=row["project_id"],
        job_type=row["job_type"],
        instruction=row["instruction"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=None if error is None else _loads_error(error),
    )


def _loads_error(text: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except ValueError:
        return {"type": "unknown", "message": text}
    return loaded if isinstance(loaded, dict) else {"type": "unknown", "message": str(loaded)}
