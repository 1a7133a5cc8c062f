"""No input, however malformed, gets a 500: a table of hostile requests over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
import trio

from faas_trio.core.messages import PutUser
from faas_trio.frontend import serve

from .neighbours import ADMIN_KEY, KEYS_CONFIG, TEST_CONFIG, Neighbours

LONG = "a" * 5000
JOB = "0123456789abcdef01234567"

# (method, path with query, body)
CASES: list[tuple[str, str, bytes]] = [
    ("GET", "/u/%FF%FE/fn", b""),
    ("POST", "/u/%C3%28", b""),
    ("GET", "/u/%00/fn", b""),
    ("POST", "/u/ann%00evil", b""),
    ("GET", f"/u/{LONG}/fn", b""),
    ("POST", f"/u/{LONG}", b""),
    ("POST", f"/u/ann/fn/{LONG}", b"def f():\n    return 1\n"),
    ("POST", "/u/ann/fn/add", b"\xff\xfe\x00bad utf-8"),
    ("POST", "/u/ann/fn/add", b"def add(a, b):\x00\n    return a + b\n"),
    ("POST", "/u/ann/fn/add", b""),
    ("POST", "/u/ann/fn/add?runtime=cobol", b"x"),
    ("POST", "/u/ann/fn/add?timeout=nan", b"def add():\n    return 1\n"),
    ("POST", "/u/ann/fn/add?timeout=-1", b"def add():\n    return 1\n"),
    ("POST", "/u/ann/fn/add?memory_mb=1e3", b"def add():\n    return 1\n"),
    ("POST", "/u/ann/fn/add?memory_mb=" + "9" * 5000, b"def add():\n    return 1\n"),
    ("POST", "/u/ann/fn/add/run", b"\xff"),
    ("POST", "/u/ann/fn/add/run", b"[\x00]"),
    ("POST", "/u/ann/fn/add/run", b'{"a": 1}'),
    ("POST", "/u/ann/fn/add/run", b"[" * 10000),
    ("POST", "/u/ann/fn/add/run?wait=-1", b"[]"),
    ("POST", "/u/ann/fn/add/run?wait=abc", b"[]"),
    ("POST", "/u/ann/fn/add/run?wait=inf", b"[]"),
    ("POST", "/u/ann/fn/add/run?wait=1e400", b"[]"),
    ("POST", "/u/ann/fn/add/run?wait=%FF", b"[]"),
    ("POST", "/u/ann/fn/add/run?callback=%00", b"[]"),
    ("POST", "/u/ann/fn/add/run?callback=http://%FF/", b"[]"),
    ("GET", f"/j/{JOB}?wait=-1", b""),
    ("GET", f"/j/{JOB}/res?wait=abc", b""),
    ("GET", f"/j/{JOB}/record?wait=NaN", b""),
    ("GET", "/j/%FF", b""),
    ("GET", f"/j/{LONG}/logs", b""),
    ("GET", "/u/ann/jobs?state=%00&limit=-5", b""),
    ("GET", "/u/ann/jobs?limit=1.5", b""),
    ("PROPFIND", "/u/ann", b""),
    ("TRACE", "/u/ann/fn", b""),
    ("OPTIONS", "/j/" + JOB, b""),
    ("PATCH", "/u/ann/fn/add", b"x"),
    ("BREW", "/", b""),
    ("PUT", "/metrics", b""),
    ("GET", "/" + "x/" * 2000, b""),
    ("GET", "/u/ann/fn/add/run/extra", b""),
    ("POST", "/u/ann/fn/add/run", b"[1]" + b" " * 5000),
]

HEADERS: list[dict[str, str | bytes]] = [
    {},
    {"Authorization": f"Bearer {ADMIN_KEY}"},
    {"Authorization": "Bearer " + "x" * 5000},
    {"Authorization": b"Bearer ann." + "\u00e9".encode() * 10 + b"\xff"},
    {"Authorization": "Bearer ann\x7f.x", "Idempotency-Key": "k" * 5000},
]


@pytest.fixture(params=["open", "keys"])
async def base_url(
    request: pytest.FixtureRequest, nursery: trio.Nursery, neighbours: Neighbours
) -> str:
    config = KEYS_CONFIG if request.param == "keys" else TEST_CONFIG
    config = neighbours.config_of(config)
    port = await nursery.start(serve, config)
    # Something to hit besides 404s: a user, a function and a job.
    await neighbours.store.apply([PutUser("ann")])
    return f"http://127.0.0.1:{port}"


async def test_hostile_requests_never_500(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        for headers in HEADERS:
            for method, path, body in CASES:
                request = http.build_request(method, path, content=body, headers=headers)
                # Keep the path exactly as written (httpx would re-quote it).
                request.url = request.url.copy_with(raw_path=path.encode("ascii"))
                response = await http.send(request)
                assert response.status_code < 500, (method, path, headers, response.text)
                if method not in ("HEAD",):
                    body_json = json.loads(response.content)
                    assert body_json["error"] is (response.status_code >= 400), (method, path)


async def test_raw_bytes_in_the_request_line_never_500(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    for target in [b"/u/\xff\xfe/fn", b"/u/ann\x00/fn", b"/j/\xc3\x28/res?wait=\xff"]:
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            with trio.fail_after(10):
                while chunk := await stream.receive_some():
                    answer += chunk
        status = int(answer.split(b" ", 2)[1]) if answer else 400
        assert status < 500, (target, answer[:200])
