"""The model endpoint asked once before any case of a `--codex-live-model=openai` run.

One `POST <OPENAI_BASE_URL>/responses` (default the public API) with the run's key, the
organization and project headers when set, the run's model and the smallest answer the
API allows (`max_output_tokens` 16, `store` false): it costs a few tokens and proves what
every worker needs — the host resolves and reaches the endpoint, the key is accepted, the
quota is not spent, the model exists. An endpoint that cannot be reached, or that answers
401/403, 404, 429 or 5xx, is one `StackError` line naming the cause and the fix, which
stops the session once before the stack is even built. Only the status is read: an error
body can quote part of the key, so no byte of it is kept or printed. No pytest import.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_codex.target.docker import StackError

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # as the worker's entrypoint defaults
DEFAULT_MODEL = "gpt-5.5"  # as the worker's entrypoint defaults
PREFLIGHT_TIMEOUT_S = 20.0  # connect + answer of the one request, at most
MAX_OUTPUT_TOKENS = 16  # the smallest answer the Responses API accepts
WHERE = "codex model preflight"
ENV_FIX = "fix it in the live env file (--codex-env-file, default .env.live)"


def endpoint(values: Mapping[str, str]) -> str:
    """Where the preflight (and every worker) sends the model's requests."""
    base = values.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return base.rstrip("/") + "/responses"


def check_model_endpoint(values: Mapping[str, str], timeout: float = PREFLIGHT_TIMEOUT_S) -> int:
    """The status of one small request to the model endpoint when it is 2xx; StackError
    with the cause and the fix otherwise. `values`: the live env file's values."""
    import httpx  # noqa: PLC0415 (only an `openai` live run pays for the import)

    url = endpoint(values)
    headers = {"Authorization": f"Bearer {values.get('OPENAI_API_KEY', '')}"}
    for header, name in (
        ("OpenAI-Organization", "OPENAI_ORG_ID"),
        ("OpenAI-Project", "OPENAI_PROJECT"),
    ):
        if values.get(name):
            headers[header] = values[name]
    model = values.get("CODEX_MODEL") or DEFAULT_MODEL
    body = {
        "model": model,
        "input": "Answer with the word ok.",
        "max_output_tokens": MAX_OUTPUT_TOKENS,
        "store": False,
    }
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", url, json=body, headers=headers) as answer,
        ):
            status = answer.status_code  # the body is never read (see the docstring)
    except httpx.TimeoutException:
        raise StackError(
            f"{WHERE}: POST {url} did not answer within {timeout:g} s (unreachable); "
            f"check the host's network and OPENAI_BASE_URL, or {ENV_FIX}"
        ) from None
    except httpx.HTTPError as error:
        raise StackError(
            f"{WHERE}: POST {url} cannot be reached ({type(error).__name__}: unreachable); "
            f"check the host's network, proxy and OPENAI_BASE_URL ({ENV_FIX}), "
            "or run hermetically with --codex-live-model=stub"
        ) from None
    if 200 <= status < 300:
        return status
    meaning, fix = _cause(status, model)
    raise StackError(f"{WHERE}: POST {url} answered {status} ({meaning}); {fix}")


def _cause(status: int, model: str) -> tuple[str, str]:
    """What a status means for the run, and the fix."""
    if status in (401, 403):
        return "the key is rejected", (
            f"check OPENAI_API_KEY (and OPENAI_ORG_ID, OPENAI_PROJECT when set): {ENV_FIX}"
        )
    if status == 429:
        return "rate limit or quota exceeded", (
            "wait and rerun, or check the plan and billing of the key's organization"
        )
    if status == 404:
        return f"no such model or path: model {model!r}", (
            "set CODEX_MODEL to a model the key can use and OPENAI_BASE_URL to a Responses "
            f"API root: {ENV_FIX}"
        )
    if status >= 500:
        return "the model endpoint is failing", "rerun later, or use --codex-live-model=stub"
    return "the request is refused", f"check CODEX_MODEL and OPENAI_BASE_URL: {ENV_FIX}"
