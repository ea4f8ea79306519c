"""HTTP without sockets: a `Request` in, a `Response` out, through one route table.

Routing works on the raw request target, never normalised: the query is split off and
the rest matched as sent, so a file path after `/files/` reaches `client_path_parts`
still percent-encoded. Handlers take parsed input and return data or raise `ApiError`;
`dispatch` turns anything else into a logged 500 that shows no traceback.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_codex_orchestrator import __version__
from pytest_codex_orchestrator.errors import ApiError, quote
from pytest_codex_orchestrator.openapi import docs_html, openapi_document
from pytest_codex_orchestrator.service import Orchestrator

__all__ = ["ROUTES", "ApiError", "Headers", "Request", "Response", "Route", "dispatch"]

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
MAX_INSTRUCTION_CHARS = 20_000


class Headers(Mapping[str, str]):
    """Request headers, looked up without regard to case (the last of repeats wins)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = {name.lower(): value for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._items)})"  # names only: values may be secrets


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # as sent, query included, never normalised
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8", "backslashreplace")
        return cls(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, {"Content-Type": HTML_TYPE}, text.encode("utf-8"))


Handler = Callable[[Orchestrator, Request, Mapping[str, str]], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # `{name}` is one raw segment, `{name...}` everything that follows
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.template)

    @property
    def openapi_path(self) -> str:
        return self.template.replace("...}", "}")


def dispatch(orchestrator: Orchestrator, request: Request) -> Response:
    """The response to `request`; never raises."""
    try:
        return _route(orchestrator, request)
    except ApiError as error:
        return Response.json(error.status, {"detail": error.detail}, error.headers)
    except Exception:
        log.exception("internal error", extra={"method": request.method, "path": request.path})
        return Response.json(500, {"detail": "internal error"})


def _route(orchestrator: Orchestrator, request: Request) -> Response:
    path = request.path
    if path.startswith("/api/"):
        _authorize(orchestrator.settings.api_token, request.headers)
    method = "GET" if request.method == "HEAD" else request.method
    allowed: list[str] = []
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match is None:
            continue
        if route.method == method:
            return route.handler(orchestrator, request, match.groupdict())
        allowed.append(route.method)
    if not allowed:
        raise ApiError(
            404,
            f"path: {quote(path)} is not an endpoint of this service; "
            "see GET /docs for the operations",
        )
    if "GET" in allowed:
        allowed.append("HEAD")
    raise ApiError(
        405,
        f"method: {request.method} is not allowed on {quote(path)}; use {' or '.join(allowed)}",
        {"Allow": ", ".join(allowed)},
    )


def _authorize(token: str | None, headers: Headers) -> None:
    if not token:
        return
    challenge = {"WWW-Authenticate": "Bearer"}
    sent = headers.get("authorization")
    if sent is None:
        raise ApiError(
            401,
            "Authorization: the header is missing; send Authorization: "
            "Bearer <the server's CODEX_API_TOKEN>",
            challenge,
        )
    scheme, _, credentials = sent.strip().partition(" ")
    given = credentials.strip().encode("utf-8", "surrogatepass")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, token.encode()):
        raise ApiError(
            401,
            "Authorization: the bearer token is not the server's; send "
            "Authorization: Bearer <the server's CODEX_API_TOKEN>",
            challenge,
        )


def _health(orchestrator: Orchestrator, request: Request, params: Mapping[str, str]) -> Response:
    return Response.json(200, orchestrator.health())


def _openapi(orchestrator: Orchestrator, request: Request, params: Mapping[str, str]) -> Response:
    return Response.json(200, openapi_document(__version__))


def _docs(orchestrator: Orchestrator, request: Request, params: Mapping[str, str]) -> Response:
    return Response.html(200, docs_html(openapi_document(__version__)))


def _create_project(
    orchestrator: Orchestrator, request: Request, params: Mapping[str, str]
) -> Response:
    body = _json_object(
        request, orchestrator.settings.max_body_bytes, '{"instruction": "<what to build>"}'
    )
    _expect_fields(body, ("instruction",))
    instruction = _instruction(body["instruction"])
    return Response.json(200, orchestrator.create_project(instruction))


def _get_project(
    orchestrator: Orchestrator, request: Request, params: Mapping[str, str]
) -> Response:
    return Response.json(200, orchestrator.get_project(params["project_id"]))


def _list_files(
    orchestrator: Orchestrator, request: Request, params: Mapping[str, str]
) -> Response:
    return Response.json(200, orchestrator.list_files(params["project_id"]))


def _read_file(
    orchestrator: Orchestrator, request: Request, params: Mapping[str, str]
) -> Response:
    return Response.json(200, orchestrator.read_file(params["project_id"], params["path"]))


def _create_job(
    orchestrator: Orchestrator, request: Request, params: Mapping[str, str]
) -> Response:
    body = _json_object(
        request,
        orchestrator.settings.max_body_bytes,
        '{"job_type": "edit", "instruction": "<what to change>"}',
    )
    _expect_fields(body, ("job_type", "instruction"))
    if body["job_type"] != "edit":
        raise ApiError(
            422,
            f"body.job_type: {_json_quote(body['job_type'])} is not a job "
            'type this endpoint runs; send "edit"',
        )
    instruction = _instruction(body["instruction"])
    return Response.json(200, orchestrator.create_edit_job(params["project_id"], instruction))


def _get_job(orchestrator: Orchestrator, request: Request, params: Mapping[str, str]) -> Response:
    return Response.json(200, orchestrator.get_job(params["project_id"], params["job_id"]))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", _health),
    Route("GET", "/openapi.json", _openapi),
    Route("GET", "/docs", _docs),
    Route("POST", "/api/v1/projects", _create_project),
    Route("GET", "/api/v1/projects/{project_id}", _get_project),
    Route("GET", "/api/v1/{project_id}/files", _list_files),
    Route("GET", "/api/v1/{project_id}/files/{path...}", _read_file),
    Route("POST", "/api/v1/{project_id}/jobs", _create_job),
    Route("GET", "/api/v1/{project_id}/jobs/{job_id}", _get_job),
)


@functools.cache
def _compile(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in re.split(r"(\{\w+(?:\.\.\.)?\})", template):
        if piece.startswith("{"):
            name = piece.strip("{}.")
            parts.append(f"(?P<{name}>.*)" if piece.endswith("...}") else f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts), re.DOTALL)


def _json_object(request: Request, limit: int, example: str) -> dict[str, Any]:
    """The request body as a JSON object, or the ApiError that says what is wrong."""
    if len(request.body) > limit:
        raise ApiError(
            413,
            f"body: {len(request.body)} bytes is over the limit of {limit}; send a smaller body",
        )
    content_type = request.headers.get("content-type")
    media_type, _, parameters = (content_type or "").partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", parameters, re.IGNORECASE)
    if media_type.strip().lower() != JSON_TYPE or (
        charset is not None and charset.group(1).lower() not in {"utf-8", "utf8"}
    ):
        raise ApiError(
            415,
            f"Content-Type: {quote(content_type)} is not JSON; send "
            f"Content-Type: {JSON_TYPE} with a UTF-8 body",
        )
    try:
        document = json.loads(request.body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as error:
        raise ApiError(
            400, f"body: byte {error.start} is not UTF-8; send the JSON as UTF-8, e.g. {example}"
        ) from None
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            f"body: not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno}); send e.g. {example}",
        ) from None
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"body: not valid JSON ({error}); send e.g. {example}") from None
    if not isinstance(document, dict):
        raise ApiError(
            422, f"body: a JSON {_json_type(document)} is not an object; send e.g. {example}"
        )
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _expect_fields(body: Mapping[str, Any], names: tuple[str, ...]) -> None:
    expected = ", ".join(repr(name) for name in names)
    for name in body:
        if name not in names:
            raise ApiError(422, f"body: unknown field {quote(name)}; send only {expected}")
    for name in names:
        if name not in body:
            raise ApiError(422, f"body: field {name!r} is missing; send {expected}")


def _instruction(value: Any) -> str:
    where = "body.instruction"
    if not isinstance(value, str):
        raise ApiError(
            422,
            f"{where}: {_json_quote(value)} is a {_json_type(value)}, not a "
            "string; send the instruction as a JSON string",
        )
    if not value.strip():
        raise ApiError(422, f"{where}: {quote(value)} is empty; say what to build or change")
    if len(value) > MAX_INSTRUCTION_CHARS:
        raise ApiError(
            422,
            f"{where}: {len(value)} characters is over the limit of "
            f"{MAX_INSTRUCTION_CHARS}; shorten the instruction",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            422, f"{where}: {quote(value)} holds an unpaired surrogate; send valid Unicode text"
        ) from None
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _json_quote(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else f"{text[:76]}..."
