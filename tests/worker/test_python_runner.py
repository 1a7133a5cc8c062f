"""The Python runner, driven through run_job: values, errors, logs, timeouts, crashes."""

from __future__ import annotations

import json

from faas_trio.core.records import JobState
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool

from .conftest import MakeDispatch


async def test_sync_function_returns_value_and_string_form(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    dispatch = make_dispatch("def add(a, b):\n    return a + b\n", "[4, 7]", name="add")
    outcome = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert (outcome.result, outcome.value, outcome.error) == ("11", "11", None)
    assert outcome.job_id == dispatch.job.id and outcome.attempt == 1
    assert outcome.cold_start and outcome.init_ms > 0
    assert outcome.started_at <= outcome.finished_at


async def test_string_value_is_result_as_is(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run_job(
        pool,
        make_dispatch("def f(s):\n    return s * 2\n", '["ab"]'),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert (outcome.result, outcome.value) == ("abab", '"abab"')


async def test_async_function_runs_under_asyncio(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import asyncio\n"
        "async def add(a, b):\n"
        "    await asyncio.sleep(0.05)\n"
        "    return {'sum': a + b}\n"
    )
    outcome = await run_job(
        pool, make_dispatch(source, "[1, 2]", name="add"), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.SUCCEEDED
    assert json.loads(outcome.value or "") == {"sum": 3}
    assert outcome.result == outcome.value
    assert outcome.duration_ms >= 50


async def test_exception_becomes_failed_outcome(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    outcome = await run_job(
        pool,
        make_dispatch("def f():\n    raise TypeError('boom')\n"),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert outcome.state is JobState.FAILED
    assert (outcome.error, outcome.result, outcome.value) == ("TypeError: boom", "boom", None)


async def test_prints_and_raw_stderr_are_logged(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "import os, sys\n"
        "print('loading')\n"
        "def f():\n"
        "    print('hello', 42)\n"
        "    print('oops', file=sys.stderr)\n"
        "    os.write(1, b'raw out\\n')\n"
        "    os.write(2, b'raw err\\n')\n"
        "    return None\n"
    )
    outcome = await run_job(pool, make_dispatch(source), log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert (outcome.value, outcome.result) == ("null", "null")
    for line in ("loading", "hello 42", "oops", "raw out", "raw err"):
        assert line in outcome.logs


async def test_logs_are_capped(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "def f():\n    for i in range(10000):\n        print('x' * 100)\n"
    outcome = await run_job(pool, make_dispatch(source), log_cap=1000, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert outcome.logs.endswith("[… output truncated]\n")
    assert len(outcome.logs.encode()) < 1100


async def test_timeout_kills_the_child(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "def f():\n    print('started')\n    while True:\n        pass\n"
    outcome = await run_job(
        pool, make_dispatch(source, timeout=0.5), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.TIMEOUT
    assert outcome.result == "timed out after 0.5s"
    assert outcome.error == "TimeoutError: timed out after 0.5s"
    assert "started" in outcome.logs
    assert pool.size == 0  # never reused after a timeout


async def test_timeout_even_when_user_code_swallows_the_alarm(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "def f():\n"
        "    while True:\n"
        "        try:\n"
        "            while True: pass\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    outcome = await run_job(
        pool, make_dispatch(source, timeout=0.3), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.TIMEOUT
    assert pool.size == 0


async def test_crash_is_reported_with_exit_code(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    outcome = await run_job(
        pool,
        make_dispatch("import os\ndef f():\n    os._exit(3)\n"),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert outcome.state is JobState.FAILED
    assert outcome.result is not None and "sandbox crashed" in outcome.result
    assert "exit code 3" in outcome.result
    assert pool.size == 0


async def test_non_json_value_is_sent_as_its_str(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "class Thing:\n"
        "    def __str__(self):\n"
        "        return 'a thing'\n"
        "def f():\n"
        "    return Thing()\n"
    )
    outcome = await run_job(pool, make_dispatch(source), log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert (outcome.value, outcome.result) == ('"a thing"', "a thing")


async def test_syntax_error_fails_the_load(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run_job(pool, make_dispatch("def f(:\n"), log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("SyntaxError: ")
    assert pool.size == 0


async def test_function_named_like_the_job_else_the_last_defined(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "def helper():\n    return 'helper'\n"
        "def main():\n    return 'main'\n"
        "def g():\n    return 'g'\n"
    )
    named = await run_job(
        pool, make_dispatch(source, name="main"), log_cap=4096, result_cap=1 << 20
    )
    last = await run_job(
        pool, make_dispatch(source, name="unknown"), log_cap=4096, result_cap=1 << 20
    )
    assert (named.result, last.result) == ("main", "g")


async def test_arguments_must_be_a_json_array(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run_job(
        pool,
        make_dispatch("def f(*a):\n    return a\n", '{"a": 1}'),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert outcome.state is JobState.FAILED
    assert outcome.error == "TypeError: arguments must be a JSON array"


async def test_memory_limit_applies(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "def f():\n    block = bytearray(512 * 1024 * 1024)\n    return len(block)\n"
    outcome = await run_job(
        pool, make_dispatch(source, memory_mb=64), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.FAILED
    assert outcome.error == "MemoryError"


async def test_protocol_survives_user_reading_stdin(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = "import sys\ndef f():\n    return sys.stdin.read()\n"
    dispatch = make_dispatch(source)
    first = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    second = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert (first.state, first.result) == (JobState.SUCCEEDED, "")
    assert (second.state, second.cold_start) == (JobState.SUCCEEDED, False)
