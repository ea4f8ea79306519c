"""The harness stays bounded against a hostile server (issue 12, findings 4 and 7): a total
deadline per exchange, a cap on the body kept, memory that stays flat under gigabytes, and
no header line that a matrix or a saved value could split (real sockets throughout)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from pytest_codex.cases.rawhttp import DEFAULT_MAX_BODY, RawHttpError, send
from pytest_codex.target import compose as stack
from tests.hostile import answer, hostile_server, raw, stream

GIB = 1024**3
MIB = 1024**2
MAX_RSS_MB = 300

# Run in a fresh interpreter, so that its peak RSS is that of one exchange alone.
MEASURE = """
import json, resource, sys
from pytest_codex.cases import rawhttp
from pytest_codex.target import compose as stack
url, what = sys.argv[1], sys.argv[2]
try:
    if what == "send":
        rawhttp.send(url, "GET", "/big", timeout=30)
        outcome = "answered"
    elif what == "probe":
        outcome = str(stack.probe(url, timeout=30, path="/big"))
    else:
        outcome = json.dumps(stack.health(url, timeout=30, path="/big"))
except rawhttp.RawHttpError as error:
    outcome = str(error)
print(json.dumps({"outcome": outcome,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(url: str, what: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, url, what],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_trickling_body_ends_at_the_deadline(chunked: bool) -> None:
    # 2 GB at ~20 KiB/s: every read gets bytes in time; only the deadline ends it.
    with hostile_server({"/slow": stream(2 * GIB, chunked=chunked, piece=1024, pause=0.05)}) as s:
        started = time.monotonic()
        with pytest.raises(RawHttpError, match=r"within the 1\.5 s deadline \(cut after \d+"):
            send(s.url, "GET", "/slow", timeout=1, deadline=1.5, max_body=4 * GIB)
        assert time.monotonic() - started < 3


def test_an_endless_chunked_body_ends_at_the_deadline() -> None:
    endless = stream(-1, chunked=True, piece=4096, pause=0.01)
    with hostile_server({"/endless": endless}) as s, pytest.raises(RawHttpError, match="deadline"):
        send(s.url, "GET", "/endless", timeout=5, deadline=1)


def test_a_server_that_never_answers_ends_at_the_deadline_not_later() -> None:
    with hostile_server({"/silent": lambda conn: time.sleep(5)}) as server:
        started = time.monotonic()
        with pytest.raises(RawHttpError, match="deadline"):
            send(server.url, "GET", "/silent", timeout=30, deadline=0.5)
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_cut_with_a_readable_error(chunked: bool) -> None:
    with hostile_server({"/big": stream(3 * MIB, chunked=chunked)}) as server:
        with pytest.raises(RawHttpError) as caught:
            send(server.url, "GET", "/big", timeout=5, max_body=MIB)
        assert str(caught.value) == (
            f"GET {server.url}: response body over 1 MiB (cut); raise --codex-max-response-bytes"
        )
        # At the cap exactly is fine.
        with hostile_server({"/fits": stream(MIB, chunked=chunked)}) as fits:
            assert len(send(fits.url, "GET", "/fits", timeout=5, max_body=MIB).body) == MIB


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"x" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        b"\x00\xff garbage",
        b"",
    ],
    ids=["bad-chunk-size", "short-body", "long-header", "many-headers", "garbage", "nothing"],
)
def test_a_malformed_answer_is_a_readable_error(reply: bytes) -> None:
    with (
        hostile_server({"/bad": raw(reply)}) as server,
        pytest.raises(RawHttpError, match=rf"^GET {server.url}: \w+"),
    ):
        send(server.url, "GET", "/bad", timeout=5)


def test_the_default_cap_is_16_mib() -> None:
    assert DEFAULT_MAX_BODY == 16 * MIB


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_memory_stays_flat_under_a_1_5_gib_answer(chunked: bool) -> None:
    with hostile_server({"/big": stream(3 * GIB // 2, chunked=chunked)}) as server:
        figures = measure(server.url, "send")
    assert "response body over 16 MiB (cut)" in str(figures["outcome"])
    assert float(str(figures["max_rss_mb"])) < MAX_RSS_MB, figures


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("X-Saved", "v\r\nX-Injected: 1", r"holds a carriage return \(CR\)"),
        ("X-Saved", "v\nX-Injected: 1", r"holds a line feed \(LF\)"),
        ("X-Saved", "v\x00w", "holds a NUL"),
        ("X-Bad\r\nX-Injected", "1", "not a valid header name"),
        ("X Bad", "1", "not a valid header name"),
        ("X-Bad:", "1", "not a valid header name"),
        ("X-Name", "naïve ✓", r"holds '✓' \(U\+2713\), which HTTP headers cannot carry"),
    ],
)
def test_a_header_that_would_split_its_line_is_refused_before_sending(
    name: str, value: str, message: str
) -> None:
    with hostile_server({}) as server:
        with pytest.raises(RawHttpError, match=message) as caught:
            send(server.url, "GET", "/", headers=[(name, value)], timeout=5)
        assert str(caught.value).startswith(f"request header {name!r}: ")
        assert "\n" not in str(caught.value)
        assert value not in str(caught.value)  # the value may be a secret
        time.sleep(0.05)
        assert server.requests == []


def test_a_latin_1_header_value_is_sent() -> None:
    with hostile_server({"/": answer("200 OK", {}, b"ok")}) as server:
        assert send(server.url, "GET", "/", headers=[("X-Name", "naïve")], timeout=5).body == b"ok"
        assert b"\r\nX-Name: na\xefve\r\n" in server.requests[0]


def test_a_method_that_is_not_a_token_is_refused() -> None:
    with pytest.raises(RawHttpError, match=r"request method 'GET /x HTTP/1\.1\\r\\nX: 1' is not"):
        send("http://127.0.0.1:9", "GET /x HTTP/1.1\r\nX: 1", "/", timeout=1)


def test_a_slow_health_answer_is_a_no_within_the_timeout() -> None:
    routes = {
        "/healthz": stream(2 * GIB, chunked=True, piece=64, pause=0.05),
        "/ok": answer("200 OK", {"Content-Type": "application/json"}, b'{"version": "9"}'),
    }
    with hostile_server(routes) as server:
        started = time.monotonic()
        assert stack.probe(server.url, timeout=1) is False
        assert stack.health(server.url, 1) == {}
        assert time.monotonic() - started < 4
        assert stack.probe(server.url, timeout=1, path="/ok") is True
        assert stack.health(server.url, 1, path="/ok") == {"version": "9"}


@pytest.mark.parametrize("what", ["probe", "health"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_1_5_gib_health_answer_costs_no_memory(what: str, chunked: bool) -> None:
    with hostile_server({"/big": stream(3 * GIB // 2, chunked=chunked)}) as server:
        figures = measure(server.url, what)
    assert figures["outcome"] == ("False" if what == "probe" else "{}")
    assert float(str(figures["max_rss_mb"])) < MAX_RSS_MB, figures
