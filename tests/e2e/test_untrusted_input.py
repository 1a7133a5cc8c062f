"""Input nobody should trust, through the REST API of a running platform: arguments a store
cannot hold are a 400, and a function that forges its runner's replies (lone surrogates,
deep nesting, a header of tens of MiB, a NaN duration) fails only its own call: the worker
process lives on, the next call succeeds, and the time billed is the worker's measure."""

from __future__ import annotations

import json
import math
import os
import struct

import httpx
import pytest
import trio

from .conftest import StartPlatform
from .test_hostile import ordinary_call_succeeds, worker_pids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="confinement needs root")

#: Writes its argument (hex) on the runner's reply pipe, then ends the runner.
FORGER = """import os, stat, fcntl
def f(payload):
    for fd in range(3, 64):
        try:
            mode, flags = os.fstat(fd).st_mode, fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        if stat.S_ISFIFO(mode) and flags & os.O_ACCMODE == os.O_WRONLY:
            os.write(fd, bytes.fromhex(payload))
    os._exit(0)
"""


def frame(body: bytes, length: int | None = None) -> str:
    return (struct.pack("!I", len(body) if length is None else length) + body).hex()


FORGED = {
    "surrogate": (
        frame(b'{"ok": true, "value": "\\"\\ud800\\"", "text": "\\ud800", "logs": "\\udfff"}'),
        "succeeded",
    ),
    "deep": (frame(b'{"ok": true, "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "failed"),
    "huge": (frame(b"", length=48 << 20), "failed"),
    "nan_duration": (frame(b'{"ok": false, "error": "E", "duration_ms": NaN}'), "failed"),
    "huge_duration": (frame(b'{"ok": false, "error": "E", "duration_ms": 1e308}'), "failed"),
    "deep_value": (
        frame(json.dumps({"ok": True, "value": "[" * 500 + "]" * 500, "text": "t"}).encode()),
        "failed",
    ),
}


async def test_arguments_a_store_cannot_hold_are_400(platform: StartPlatform) -> None:
    up = await platform(FAAS_WORKERS="1")
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        assert (await http.post("/u/ann")).json()["error"] is False
        source = "def f(*a):\n    return len(a)\n"
        assert (await http.post("/u/ann/fn/f", content=source)).json()["res"] == 1
        for body in ("[" * 200_000 + "]" * 200_000, "[" * 70 + "]" * 70, "[99999999999999999999]"):
            answer = await http.post("/u/ann/fn/f/run", content=body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] is True
            assert "cannot be stored" in answer.json()["res"]
        ran = await http.post("/u/ann/fn/f/run?wait=20", content="[[1], 2]")
        assert (ran.status_code, ran.json()["res"]["result"]) == (200, "2")


async def test_forged_replies_fail_only_their_call(platform: StartPlatform) -> None:
    up = await platform(FAAS_WORKERS="1")
    workers = worker_pids(up)
    async with httpx.AsyncClient(base_url=up.url, timeout=30.0) as http:
        assert (await http.post("/u/eve")).json()["error"] is False
        assert (await http.post("/u/eve/fn/forge", content=FORGER)).json()["res"] == 1
        for name, (payload, state) in FORGED.items():
            with trio.fail_after(30):
                ran = await http.post("/u/eve/fn/forge/run?wait=20", content=json.dumps([payload]))
                assert ran.status_code == 200, (name, ran.text)
                record = ran.json()["res"]
                assert record["state"] == state, (name, record)
                duration = record["duration_ms"]
                assert math.isfinite(duration) and 0 <= duration < 20_000, (name, duration)
                if name == "surrogate":
                    assert (record["result"], record["value"]) == ("\ufffd", "\ufffd")
                await ordinary_call_succeeds(http, "python")
        # One worker all along: nothing the function sent ended it.
        assert worker_pids(up) == workers
        billed = (await http.get("/u/eve/time")).json()["res"]
        assert math.isfinite(billed) and 0 < billed < 20_000 * (len(FORGED) + 1)
