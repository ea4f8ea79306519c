"""The service's contract as an OpenAPI 3.1 document, and the /docs page made from it."""

from __future__ import annotations

import copy
import html
import json
from typing import Any

ERRORS = {
    "400": "Invalid project id, job id or file path (traversal, absolute, encoded, NUL, "
    "backslash, symlink escape, hard link, deeper than CODEX_MAX_TREE_DEPTH folders), or a "
    "body that is not JSON",
    "401": "Missing or wrong bearer token (only when the server has CODEX_API_TOKEN)",
    "404": "Unknown project or job, or a safe path with no file",
    "411": "POST without Content-Length",
    "413": "Body over the size limit (CODEX_MAX_BODY_BYTES), or a file over "
    "CODEX_MAX_FILE_BYTES (refused unread)",
    "415": "Content-Type is not application/json",
    "422": "A JSON body of the wrong shape: not an object, a missing or unknown field, a "
    "wrong type, an empty or over-long instruction; or a workspace with more entries than "
    "one listing scans (CODEX_MAX_LIST_ENTRIES)",
    "500": "Internal error (logged; the body says no more)",
    "503": "The database does not answer",
}
ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
TIME = {"type": "string", "format": "date-time"}
STRING = {"type": "string"}
INSTRUCTION = {"type": "string", "minLength": 1, "maxLength": 20000}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Error": _object(
        {"detail": {"type": "string", "description": "<where>: <what>; <how to fix>"}}
    ),
    "Health": _object(
        {"status": {"const": "ok"}, "mode": {"enum": ["mocked", "live"]}, "version": STRING}
    ),
    "JobError": _object({"type": STRING, "message": STRING}),
    "Job": _object(
        {
            "id": ID,
            "project_id": ID,
            "job_type": {"enum": ["create", "edit"]},
            "instruction": STRING,
            "status": {"enum": ["pending", "running", "completed", "failed"]},
            "created_at": TIME,
            "started_at": {"oneOf": [TIME, {"type": "null"}]},
            "finished_at": {"oneOf": [TIME, {"type": "null"}]},
            "error": {"oneOf": [_ref("JobError"), {"type": "null"}]},
        }
    ),
    "Project": _object(
        {
            "id": ID,
            "instruction": STRING,
            "status": {
                "enum": ["pending", "running", "completed", "failed"],
                "description": "the status of the project's create job",
            },
            "created_at": TIME,
            "updated_at": TIME,
            "job": {"oneOf": [_ref("Job"), {"type": "null"}], "description": "the create job"},
        }
    ),
    "FileEntry": _object({"path": STRING, "size": {"type": "integer", "minimum": 0}}),
    "FileList": _object(
        {"project_id": ID, "files": {"type": "array", "items": _ref("FileEntry")}}
    ),
    "FileContent": _object(
        {
            "project_id": ID,
            "path": STRING,
            "size": {"type": "integer", "minimum": 0},
            "encoding": {"enum": ["utf-8", "base64"]},
            "content": STRING,
        }
    ),
    "CreateProject": _object({"instruction": INSTRUCTION}),
    "CreateJob": _object({"job_type": {"const": "edit"}, "instruction": INSTRUCTION}),
}


# A portable relative path: segments of letters, digits, '.', '_' and '-', none of them
# '.', '..' or starting with '..'. The service refuses more (400) than it accepts beyond
# this: other names work when they are safe, but the contract promises only these.
_SEGMENT = r"(?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])[A-Za-z0-9._-]*"
FILE_PATH_SCHEMA = {
    "type": "string",
    "pattern": f"^{_SEGMENT}(?:/{_SEGMENT})*$",
    "maxLength": 1024,  # at most 4096 characters once percent-encoded
}


def _parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": ID if name.endswith("_id") else FILE_PATH_SCHEMA,
    }


PROJECT_ID = _parameter("project_id", "the id POST /api/v1/projects returned")
JOB_ID = _parameter("job_id", "the id POST /api/v1/{project_id}/jobs returned")
FILE_PATH = _parameter(
    "path",
    "a path relative to the workspace; it may hold '/' "
    "(e.g. tests/test_cli.py) and is taken as sent",
)


def _operation(
    operation_id: str,
    summary: str,
    ok: str | dict[str, Any],
    errors: str,
    *,
    parameters: tuple[dict[str, Any], ...] = (),
    body: str | None = None,
    api: bool = True,
) -> dict[str, Any]:
    if isinstance(ok, str):
        ok = {"description": summary, "content": {"application/json": {"schema": _ref(ok)}}}
    responses: dict[str, Any] = {"200": ok}
    for status in errors.split():
        responses[status] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    operation["responses"] = responses
    if api:
        operation["security"] = [{}, {"bearer": []}]
    return operation


# Long by nature: one data literal, every path of the API in one place to read as a whole.
def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation the service answers (a fresh copy)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Codex workspace orchestrator",
                "version": version,
                "description": "Turns an instruction into a project workspace by running a "
                "worker, and lets clients list, read and edit its files. Jobs run "
                'while the request waits. Errors are {"detail": "<where>: '
                '<what>; <how to fix>"}.',
            },
            "paths": {
                "/healthz": {
                    "get": _operation(
                        "health",
                        "Readiness: the service and its database answer",
                        "Health",
                        "503",
                        api=False,
                    )
                },
                "/openapi.json": {
                    "get": _operation(
                        "openapi",
                        "This document",
                        {
                            "description": "This document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "",
                        api=False,
                    )
                },
                "/docs": {
                    "get": _operation(
                        "docs",
                        "A readable page listing the operations",
                        {
                            "description": "An HTML page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        "",
                        api=False,
                    )
                },
                "/api/v1/projects": {
                    "post": _operation(
                        "createProject",
                        "Create a project: run the worker on a new workspace",
                        "Project",
                        "400 401 411 413 415 422 500",
                        body="CreateProject",
                    )
                },
                "/api/v1/projects/{project_id}": {
                    "get": _operation(
                        "getProject",
                        "A project and its create job",
                        "Project",
                        "400 401 404",
                        parameters=(PROJECT_ID,),
                    )
                },
                "/api/v1/{project_id}/files": {
                    "get": _operation(
                        "listFiles",
                        "Every file of the project's workspace with its size",
                        "FileList",
                        "400 401 404 422",
                        parameters=(PROJECT_ID,),
                    )
                },
                "/api/v1/{project_id}/files/{path}": {
                    "get": _operation(
                        "readFile",
                        "One file's content (UTF-8 text or base64)",
                        "FileContent",
                        "400 401 404 413",
                        parameters=(PROJECT_ID, FILE_PATH),
                    )
                },
                "/api/v1/{project_id}/jobs": {
                    "post": _operation(
                        "createJob",
                        "Run an edit job on the project's workspace",
                        "Job",
                        "400 401 404 411 413 415 422 500",
                        parameters=(PROJECT_ID,),
                        body="CreateJob",
                    )
                },
                "/api/v1/{project_id}/jobs/{job_id}": {
                    "get": _operation(
                        "getJob",
                        "One job of the project",
                        "Job",
                        "400 401 404",
                        parameters=(PROJECT_ID, JOB_ID),
                    )
                },
            },
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "Required on /api/ when the server has CODEX_API_TOKEN",
                    }
                },
            },
        }
    )


def docs_html(document: dict[str, Any]) -> str:
    """A small page listing the operations of `document`."""
    info = document["info"]
    sections: list[str] = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            sections.append(_operation_html(method, path, operation, document))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(info['title'])}</title>"
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;padding:0 1em}"
        "code,pre{background:#f4f4f4;padding:0 .2em}h2{font-size:1.1em;margin-top:2em}"
        "</style></head><body>\n"
        f"<h1>{_e(info['title'])} <small>{_e(info['version'])}</small></h1>\n"
        f"<p>{_e(info['description'])}</p>\n"
        '<p>The machine-readable contract: <a href="/openapi.json">/openapi.json</a>.</p>\n'
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def _operation_html(
    method: str, path: str, operation: dict[str, Any], document: dict[str, Any]
) -> str:
    parts = [
        f"<h2><code>{_e(method.upper())} {_e(path)}</code></h2>",
        f"<p>{_e(operation['summary'])}</p>",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        items = "".join(
            f"<li><code>{_e(p['name'])}</code>: {_e(p['description'])}</li>" for p in parameters
        )
        parts.append(f"<p>Path parameters:</p><ul>{items}</ul>")
    body = operation.get("requestBody")
    if body is not None:
        name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
        fields = json.dumps({key: _example(value) for key, value in schema["properties"].items()})
        parts.append(f"<p>Body (<code>application/json</code>): <code>{_e(fields)}</code></p>")
    rows = "".join(
        f"<li><code>{_e(status)}</code> {_e(response['description'])}</li>"
        for status, response in operation["responses"].items()
    )
    parts.append(f"<p>Responses:</p><ul>{rows}</ul>")
    return "<section>" + "".join(parts) + "</section>"


def _example(schema: dict[str, Any]) -> Any:
    if "const" in schema:
        return schema["const"]
    return "<text>"


def _e(text: object) -> str:
    return html.escape(str(text))
