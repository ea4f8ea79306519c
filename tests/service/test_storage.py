"""The database: migrations from nothing and from a v1 file with rows, jobs a restart
interrupted, and the records round-tripping."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from pytest_codex_orchestrator.storage import (
    INTERRUPTED,
    SCHEMA_VERSION,
    JobRecord,
    ProjectRecord,
    Storage,
    StorageError,
)

# What the first release wrote, kept here verbatim: the migrations must upgrade it.
V1_SQL = """
CREATE TABLE projects (id TEXT PRIMARY KEY, instruction TEXT NOT NULL, status TEXT NOT NULL,
                       created_at TEXT NOT NULL);
CREATE TABLE jobs (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
                   job_type TEXT NOT NULL, instruction TEXT NOT NULL, status TEXT NOT NULL,
                   created_at TEXT NOT NULL, finished_at TEXT);
CREATE INDEX jobs_by_project ON jobs(project_id, created_at);
PRAGMA user_version = 1;
INSERT INTO projects VALUES ('a' || printf('%031d', 1), 'old project', 'completed',
                             '2024-01-01T00:00:00.000Z');
INSERT INTO jobs VALUES ('b' || printf('%031d', 1), 'a' || printf('%031d', 1), 'create',
                         'old project', 'completed', '2024-01-01T00:00:00.000Z',
                         '2024-01-01T00:00:01.000Z');
INSERT INTO jobs VALUES ('b' || printf('%031d', 2), 'a' || printf('%031d', 1), 'edit',
                         'old edit', 'running', '2024-01-02T00:00:00.000Z', NULL);
"""
OLD_PROJECT = "a" + "0" * 30 + "1"
OLD_CREATE = "b" + "0" * 30 + "1"
OLD_EDIT = "b" + "0" * 30 + "2"
T0 = "2024-05-01T12:00:00.000Z"


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def project_and_job(number: int, status: str = "pending") -> tuple[ProjectRecord, JobRecord]:
    project_id, job_id = f"{number:032x}", f"{number + 1000:032x}"
    return (
        ProjectRecord(project_id, "build it", status, T0, T0),
        JobRecord(job_id, project_id, "create", "build it", status, T0),
    )


def test_a_new_database_gets_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.db"
    storage = Storage(path)
    try:
        assert storage.version == SCHEMA_VERSION == 2
    finally:
        storage.close()
    assert columns(path, "projects") == ["id", "instruction", "status", "created_at", "updated_at"]
    assert columns(path, "jobs") == [
        "id",
        "project_id",
        "job_type",
        "instruction",
        "status",
        "created_at",
        "finished_at",
        "started_at",
        "error",
    ]


def test_a_v1_database_upgrades_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SQL)
    storage = Storage(path)
    try:
        assert storage.version == 2
        project = storage.get_project(OLD_PROJECT)
        assert project == ProjectRecord(
            OLD_PROJECT,
            "old project",
            "completed",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:00.000Z",
        )
        create = storage.get_create_job(OLD_PROJECT)
        assert create is not None
        assert (create.id, create.status, create.finished_at, create.started_at, create.error) == (
            OLD_CREATE,
            "completed",
            "2024-01-01T00:00:01.000Z",
            None,
            None,
        )
        edit = storage.get_job(OLD_PROJECT, OLD_EDIT)
        assert edit is not None
        assert (edit.instruction, edit.status) == ("old edit", "running")
    finally:
        storage.close()
    reopened = Storage(path)  # a second open migrates nothing and loses nothing
    try:
        assert reopened.version == 2
        assert reopened.get_project(OLD_PROJECT) is not None
    finally:
        reopened.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StorageError, match="schema version 99 is newer than this"):
        Storage(path)


def test_projects_and_jobs_round_trip(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite")
    try:
        project, job = project_and_job(1)
        storage.add_project(project, job)
        finished = JobRecord(
            job.id,
            job.project_id,
            "create",
            "build it",
            "failed",
            T0,
            started_at=T0,
            finished_at=T0,
            error={"type": "ValueError", "message": "boom"},
        )
        storage.save_job(finished)
        assert storage.get_job(project.id, job.id) == finished
        assert storage.get_job(f"{2:032x}", job.id) is None  # jobs belong to their project
        assert storage.get_project(f"{2:032x}") is None
    finally:
        storage.close()


def test_fail_interrupted_jobs(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    storage = Storage(path)
    running_project, running_create = project_and_job(1, "running")
    pending_project, pending_create = project_and_job(2, "pending")
    done_project, done_create = project_and_job(3, "completed")
    edit = JobRecord(f"{9:032x}", done_project.id, "edit", "change it", "running", T0, T0)
    try:
        for project, job in (
            (running_project, running_create),
            (pending_project, pending_create),
            (done_project, done_create),
        ):
            storage.add_project(project, job)
        storage.add_job(edit)
    finally:
        storage.close()

    restarted = Storage(path)
    try:
        failed = restarted.fail_interrupted_jobs("2024-05-01T13:00:00.000Z")
        assert sorted(failed) == sorted([running_create.id, pending_create.id, edit.id])
        for project, job in ((running_project, running_create), (pending_project, pending_create)):
            stored_job = restarted.get_job(project.id, job.id)
            assert stored_job is not None
            assert stored_job.status == "failed"
            assert stored_job.error == INTERRUPTED
            assert stored_job.finished_at == "2024-05-01T13:00:00.000Z"
            stored_project = restarted.get_project(project.id)
            assert stored_project is not None
            assert stored_project.status == "failed"
        stored_edit = restarted.get_job(done_project.id, edit.id)
        assert stored_edit is not None
        assert stored_edit.status == "failed"
        assert stored_edit.error == {
            "type": "interrupted",
            "message": "the orchestrator restarted while this job was running",
        }
        # An interrupted edit leaves its project as its create job left it.
        stored_done = restarted.get_project(done_project.id)
        assert stored_done is not None
        assert stored_done.status == "completed"
        assert restarted.fail_interrupted_jobs() == []
    finally:
        restarted.close()
    with sqlite3.connect(path) as db:
        [error] = db.execute("SELECT error FROM jobs WHERE id = ?", (edit.id,)).fetchone()
    assert json.loads(error) == INTERRUPTED


def test_many_threads_share_one_store(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "db.sqlite")
    errors: list[BaseException] = []

    def add(number: int) -> None:
        try:
            storage.add_project(*project_and_job(number))
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=add, args=(number,)) for number in range(1, 41)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert errors == []
        assert all(storage.get_project(f"{number:032x}") for number in range(1, 41))
    finally:
        storage.close()
