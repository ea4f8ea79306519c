"""The baseline for the throughput benchmark: the same orchestrator work (workspace, dummy
worker, SQLite records) behind FastAPI + uvicorn, the stack a user would pick instead.

    WORKSPACE_ROOT=... DATABASE_URL=sqlite:///... uvicorn --app-dir bench fastapi_app:app
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from pytest_codex_orchestrator.config import Settings
from pytest_codex_orchestrator.dummy_worker import DummyWorker
from pytest_codex_orchestrator.service import Orchestrator
from pytest_codex_orchestrator.storage import Storage

settings = Settings.from_env(os.environ)
settings.workspace_root.mkdir(parents=True, exist_ok=True)
service = Orchestrator(
    settings, Storage(settings.database_path), DummyWorker(environ={}), environ={}
)
app = FastAPI()


class NewProject(BaseModel):
    instruction: str


@app.post("/api/v1/projects")
def create_project(body: NewProject) -> dict[str, Any]:
    return service.create_project(body.instruction)


@app.get("/api/v1/{project_id}/files")
def list_files(project_id: str) -> dict[str, Any]:
    return service.list_files(project_id)
