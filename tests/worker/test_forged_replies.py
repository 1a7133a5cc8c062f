"""A function that writes on its runner's reply pipe (Python code can find the descriptor)
forges the protocol: whatever it sends, the call fails or yields a value a store can hold,
the worker goes on, and the next call on the same pool succeeds. Billing is the worker's
clock, whatever the forged frame says."""

from __future__ import annotations

import json
import math
import struct

import msgspec
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faas_trio.core.bounds import MAX_JSON_DEPTH, stored_json_text
from faas_trio.core.messages import Dispatch, Report
from faas_trio.core.records import JobState, Outcome, Runtime
from faas_trio.core.wire import encode_body
from faas_trio.worker.execution import BatchItem, run_batch, run_job
from faas_trio.worker.pool import WarmPool
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .conftest import MakeDispatch, needs_node

#: Writes ``payload`` (a hex string) on every pipe the runner may write to but stdout/stderr,
#: i.e. its reply pipe, then ``after`` ("exit" ends the runner, "return" answers as usual).
FORGER = """import os, stat, fcntl
def f(payload, after):
    data = bytes.fromhex(payload)
    for fd in range(3, 64):
        try:
            mode = os.fstat(fd).st_mode
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        if stat.S_ISFIFO(mode) and flags & os.O_ACCMODE == os.O_WRONLY:
            os.write(fd, data)
    if after == "exit":
        os._exit(0)
    return "honest"
"""
ADD = "def f(a, b):\n    return a + b\n"


def frame(body: bytes, length: int | None = None) -> str:
    return (struct.pack("!I", len(body) if length is None else length) + body).hex()


async def forge(
    pool: WarmPool,
    make_dispatch: MakeDispatch,
    payload: str,
    after: str = "exit",
    *,
    seconds: float = 10.0,
) -> Outcome:
    """Run the forger with ``payload``, its function timeout ``seconds``: long enough by
    default that a loaded machine never turns the outcome a test expects into a timeout."""
    return await run_job(
        pool,
        make_dispatch(FORGER, json.dumps([payload, after]), version=1, timeout=seconds),
        log_cap=4096,
        result_cap=1 << 20,
    )


def assert_storable(outcome: Outcome) -> None:
    """What a worker reports can be encoded, sent and stored: valid text, sane numbers."""
    encode_body(Report(worker="w", outcome=outcome))
    for text in (outcome.result, outcome.value, outcome.error, outcome.logs):
        if text is not None:
            text.encode("utf-8")
    assert math.isfinite(outcome.duration_ms) and 0 <= outcome.duration_ms < 60_000
    if outcome.value is not None:
        assert stored_json_text(outcome.value) == outcome.value


async def next_call_succeeds(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    for version in (1, 2):  # the same function (a warm child if one was kept), and another
        source = FORGER if version == 1 else ADD
        args = '["", "return"]' if version == 1 else "[4, 7]"
        outcome = await run_job(
            pool, make_dispatch(source, args, version=version), log_cap=4096, result_cap=1 << 20
        )
        assert outcome.state is JobState.SUCCEEDED, outcome.result
        assert outcome.result == ("honest" if version == 1 else "11")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        # A reply nested deeper than any parser recursion.
        (frame(b'{"ok": true, "value": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"), "protocol"),
        # A header announcing tens of MiB: refused unread.
        (frame(b"", length=48 << 20), "over the limit"),
        # A billed duration of the runner's choosing.
        (frame(b'{"ok": false, "error": "E", "duration_ms": NaN}'), "protocol"),
        (frame(b'{"ok": false, "error": "E", "duration_ms": -1e300}'), "protocol"),
        # Not JSON, not UTF-8.
        (frame(b"\xff\xfe garbage"), "protocol"),
        # Half a frame, then the pipe closes.
        (frame(b'{"ok": true}', length=1000), "crashed"),
    ],
)
async def test_a_forged_reply_fails_the_call(
    pool: WarmPool, make_dispatch: MakeDispatch, payload: str, message: str
) -> None:
    outcome = await forge(pool, make_dispatch, payload)
    assert outcome.state is JobState.FAILED
    assert message in (outcome.result or ""), outcome.result
    assert outcome.error is not None and outcome.error.startswith("SandboxError: ")
    assert_storable(outcome)
    await next_call_succeeds(pool, make_dispatch)


async def test_a_forged_lone_surrogate_is_replaced(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    forged = b'{"ok": true, "value": "\\"\\ud800\\"", "text": "\\udfff", "logs": "\\ud800"}'
    outcome = await forge(pool, make_dispatch, frame(forged))
    assert (outcome.state, outcome.result, outcome.value) == (
        JobState.SUCCEEDED, "\ufffd", '"\ufffd"'
    )  # fmt: skip
    assert_storable(outcome)
    await next_call_succeeds(pool, make_dispatch)


async def test_a_forged_value_a_store_cannot_hold_fails_the_call(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    for value in ["[" * 100 + "]" * 100, "NaN", "[1e999]", "{"]:
        forged = json.dumps({"ok": True, "value": value, "text": "t"}).encode()
        outcome = await forge(pool, make_dispatch, frame(forged))
        assert outcome.state is JobState.FAILED, value
        assert (outcome.error or "").startswith("InvalidResult: the result cannot be stored")
        assert_storable(outcome)
    await next_call_succeeds(pool, make_dispatch)


async def test_a_frame_sent_between_calls_is_never_taken_as_the_next_reply(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    # The forged frame goes first, so the honest reply is left in the pipe after it: the
    # child must not serve another call, whose "reply" would be that stale frame.
    forged = frame(json.dumps({"ok": True, "value": '"forged"', "text": "forged"}).encode())
    outcome = await forge(pool, make_dispatch, forged, after="return")
    assert outcome.result == "forged"  # its own call: it may lie about its own result
    await next_call_succeeds(pool, make_dispatch)


@pytest.mark.parametrize("runtime", [Runtime.PYTHON, pytest.param(Runtime.NODE, marks=needs_node)])
async def test_honest_results_with_lone_surrogates_or_deep_nesting(
    pool: WarmPool, make_dispatch: MakeDispatch, runtime: Runtime
) -> None:
    deep = MAX_JSON_DEPTH + 5
    if runtime is Runtime.PYTHON:
        lone = "def f():\n    return '\\ud800x'\n"
        nested = (
            f"def f():\n    v = 1\n    for _ in range({deep}):\n        v = [v]\n    return v\n"
        )
    else:
        lone = "function f() { return '\\ud800x'; }"
        nested = (
            f"function f() {{ let v = 1; for (let i = 0; i < {deep}; i++) v = [v]; return v; }}"
        )
    surrogate = await run_job(
        pool, make_dispatch(lone, runtime=runtime), log_cap=4096, result_cap=1 << 20
    )
    assert (surrogate.state, surrogate.result) == (JobState.SUCCEEDED, "\ufffdx")
    assert json.loads(surrogate.value or "") == "\ufffdx"
    too_deep = await run_job(
        pool, make_dispatch(nested, runtime=runtime), log_cap=4096, result_cap=1 << 20
    )
    assert too_deep.state is JobState.FAILED
    assert f"nested deeper than {MAX_JSON_DEPTH}" in (too_deep.result or "")
    for outcome in (surrogate, too_deep):
        assert_storable(outcome)


async def test_the_billed_duration_is_the_workers_clock(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = "import time\ndef f():\n    time.sleep(0.2)\n    return 1\n"
    outcome = await run_job(pool, make_dispatch(source), log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert 200 <= outcome.duration_ms < 60_000


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_REPLY_KEYS = st.sampled_from(["ok", "logs", "value", "text", "error", "message", "timeout", "z"])
_PAYLOADS = st.one_of(
    st.binary(max_size=300).map(bytes.hex),
    st.binary(max_size=300).map(frame),
    st.dictionaries(_REPLY_KEYS, _ANY_JSON).map(
        lambda d: frame(json.dumps(d, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    ),
)


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=_PAYLOADS, after=st.sampled_from(["exit", "return"]))
def test_nothing_on_the_reply_pipe_ends_the_worker(
    settings: SpawnSettings, make_dispatch: MakeDispatch, payload: str, after: str
) -> None:
    # One trio run (and pool) per example: pytest-trio's fixtures do not span examples.
    async def example() -> None:
        async with trio.open_nursery() as nursery:
            pool = WarmPool(
                nursery, settings, ttl=60.0, max_warm=8, init_timeout=5.0, default_memory_mb=128
            )
            try:
                # A frame announcing more than follows waits for the timeout: a short one
                # keeps the examples quick, and a timeout is one of the outcomes allowed.
                outcome = await forge(pool, make_dispatch, payload, after, seconds=1.0)
                assert outcome.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT)
                assert_storable(outcome)
                msgspec.msgpack.encode(outcome)
                await next_call_succeeds(pool, make_dispatch)
            finally:
                await pool.aclose()
                nursery.cancel_scope.cancel()  # the scratch sweeper runs until then

    trio.run(example)


@pytest.mark.parametrize(
    ("payload", "well_formed"),
    [
        (frame(b"\xff\xfe garbage"), False),  # broken: the child is killed at once
        (frame(b"", length=48 << 20), False),  # over the cap: refused unread
        # Well formed: taken as this item's reply, and its honest one as the next item's
        # (a function may lie about the results of its own batch, no one else's).
        (frame(json.dumps({"ok": True, "value": '"forged"', "text": "forged"}).encode()), True),
    ],
)
async def test_a_forged_frame_in_a_batch_costs_no_item_its_outcome(
    pool: WarmPool, make_dispatch: MakeDispatch, payload: str, well_formed: bool
) -> None:
    first = make_dispatch(FORGER, '["", "return"]', version=1, timeout=1.0)
    args = ['["", "return"]', json.dumps([payload, "return"]), '["", "return"]', '["", "return"]']
    items = [
        BatchItem(Dispatch(job=msgspec.structs.replace(first.job, id=f"{first.job.id}-{n}",
                                                       args=arg), function=first.function))
        for n, arg in enumerate(args)
    ]  # fmt: skip
    outcomes: list[Outcome] = []

    async def keep(outcome: Outcome) -> None:
        outcomes.append(outcome)

    await run_batch(pool, items, keep, log_cap=4096, result_cap=1 << 20)
    assert [o.job_id for o in outcomes] == [item.dispatch.job.id for item in items]
    for outcome in outcomes:
        assert_storable(outcome)
    assert outcomes[0].result == "honest"
    if well_formed:
        assert outcomes[1].result == "forged"
        assert all(o.state is JobState.SUCCEEDED for o in outcomes)
        # The child that forged is not used again: its reply to the last item is left unread
        # in its pipe. That reply may still be on its way when the batch ends (the child is
        # then kept for now); once it is there, the child is unfit and its next checkout
        # starts a fresh one.
        with trio.fail_after(10):
            # No event says that an idle child's pipe became readable: polled.
            while pool._idle and all(e.sandbox.quiet for e in pool._idle.values()):  # noqa: ASYNC110
                await trio.sleep(0.01)
        again = await run_job(
            pool, make_dispatch(FORGER, '["", "return"]', version=1), log_cap=4096,
            result_cap=1 << 20,
        )  # fmt: skip
        assert again.cold_start and again.result == "honest"
    else:
        assert outcomes[1].state is JobState.FAILED
        assert (outcomes[1].error or "").startswith("SandboxError: ")
        # The items after it ran in a fresh child, which is kept.
        assert [o.result for o in outcomes[2:]] == ["honest", "honest"]
        assert pool.size == 1
    await next_call_succeeds(pool, make_dispatch)
