"""The Node.js runner, driven through run_job: the old system's functions, and isolation."""

from __future__ import annotations

from faas_trio.core.records import JobState, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool

from .conftest import MakeDispatch, needs_node

pytestmark = needs_node
NODE = Runtime.NODE


async def test_sync_function(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    dispatch = make_dispatch("function add(a, b) { return a + b; }", "[4, 7]", runtime=NODE)
    outcome = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.SUCCEEDED
    assert (outcome.result, outcome.value, outcome.error) == ("11", "11", None)
    assert outcome.cold_start


async def test_async_function_waiting_on_set_timeout(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "async function add(a, b) {\n"
        "  await new Promise((resolve) => setTimeout(resolve, 200));\n"
        "  return a + b;\n"
        "}\n"
    )
    outcome = await run_job(
        pool,
        make_dispatch(source, "[4, 7]", runtime=NODE, name="add"),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert (outcome.state, outcome.result) == (JobState.SUCCEEDED, "11")
    assert outcome.duration_ms >= 200


async def test_timers_run_in_order_and_intervals_repeat(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "function f() {\n"
        "  const seen = [];\n"
        "  return new Promise((resolve) => {\n"
        "    setTimeout(() => seen.push('b'), 20);\n"
        "    setTimeout(() => seen.push('a'), 10);\n"
        "    const cancelled = setTimeout(() => seen.push('never'), 15);\n"
        "    clearTimeout(cancelled);\n"
        "    let n = 0;\n"
        "    const tick = setInterval(() => {\n"
        "      n += 1;\n"
        "      if (n === 3) { clearInterval(tick); resolve([seen, n]); }\n"
        "    }, 25);\n"
        "    queueMicrotask(() => seen.push('micro'));\n"
        "  });\n"
        "}\n"
    )
    outcome = await run_job(
        pool, make_dispatch(source, runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.value == '[["micro","a","b"],3]'


async def test_thrown_error(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "async function f() { throw new TypeError('boom'); }"
    outcome = await run_job(
        pool, make_dispatch(source, runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.FAILED
    assert (outcome.error, outcome.result, outcome.value) == ("TypeError: boom", "boom", None)


async def test_console_log_is_captured(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "function f(x) { console.log('got', x, {k: 1}); console.error('bad'); return 'ok'; }"
    outcome = await run_job(
        pool, make_dispatch(source, "[5]", runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    assert (outcome.state, outcome.result, outcome.value) == (JobState.SUCCEEDED, "ok", '"ok"')
    assert outcome.logs == 'got 5 {"k":1}\nbad\n'


async def test_sync_infinite_loop_times_out(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "function f() { console.log('spinning'); while (true) {} }"
    outcome = await run_job(
        pool, make_dispatch(source, runtime=NODE, timeout=0.5), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.TIMEOUT
    assert outcome.error == "TimeoutError: timed out after 0.5s"
    assert "spinning" in outcome.logs
    assert pool.size == 0


async def test_async_infinite_loop_times_out(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "async function f() { while (true) { await null; } }"
    outcome = await run_job(
        pool, make_dispatch(source, runtime=NODE, timeout=0.5), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.TIMEOUT
    assert pool.size == 0


async def test_promise_that_never_settles_fails(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = "function f() { return new Promise(() => {}); }"
    outcome = await run_job(
        pool, make_dispatch(source, runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.FAILED
    assert outcome.result == "function returned a promise that never settles"


async def test_undefined_and_unencodable_values(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    undefined = await run_job(
        pool, make_dispatch("function f() {}", runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    bigint = await run_job(
        pool,
        make_dispatch("function f() { return 10n; }", runtime=NODE),
        log_cap=4096,
        result_cap=1 << 20,
    )
    assert (undefined.value, undefined.result) == ("null", "undefined")
    assert (bigint.value, bigint.result) == ('"10"', "10")


async def test_function_named_like_the_job_else_the_last_declared(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    source = (
        "const pick = () => 'arrow';\n"
        "function first() { return 'first'; }\n"
        "function last() { return 'last'; }\n"
    )
    named = await run_job(
        pool, make_dispatch(source, runtime=NODE, name="pick"), log_cap=4096, result_cap=1 << 20
    )
    fallback = await run_job(
        pool, make_dispatch(source, runtime=NODE, name="nope"), log_cap=4096, result_cap=1 << 20
    )
    assert (named.result, fallback.result) == ("arrow", "last")


async def test_syntax_error_fails_the_load(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run_job(
        pool, make_dispatch("function f( {", runtime=NODE), log_cap=4096, result_cap=1 << 20
    )
    assert outcome.state is JobState.FAILED
    assert outcome.error is not None and outcome.error.startswith("SyntaxError: ")


async def test_warm_reuse_keeps_working(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    dispatch = make_dispatch(
        "let calls = 0; function f() { calls += 1; return calls; }", runtime=NODE
    )
    first = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    second = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert (first.result, first.cold_start) == ("1", True)
    assert (second.result, second.cold_start, second.init_ms) == ("2", False, 0.0)


async def test_the_arguments_slot_runs_no_user_code(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    """The host puts each call's arguments in a global of the context: code there cannot
    make it an accessor (whose setter would run, untimed, at the host's write), and a
    function that makes it read-only fails its calls with a clear error, never with the
    previous call's arguments."""
    hijack = (
        "let tried;\n"
        "try {\n"
        "  Object.defineProperty(globalThis, '__faas_args', {\n"
        "    get() { return '[0]'; }, set(v) { for (;;) {} } });\n"
        "  tried = 'redefined';\n"
        "} catch (e) { tried = e.constructor === TypeError ? 'refused' : 'other'; }\n"
        "function f(x) { return [x, tried]; }\n"
    )
    for args, expected in (("[5]", '[5,"refused"]'), ("[6]", '[6,"refused"]')):
        outcome = await run_job(
            pool, make_dispatch(hijack, args, runtime=NODE, version=100, timeout=2.0),
            log_cap=4096, result_cap=1 << 20,
        )  # fmt: skip
        assert (outcome.state, outcome.result) == (JobState.SUCCEEDED, expected), outcome
    frozen = (
        "Object.defineProperty(globalThis, '__faas_args', { writable: false });\n"
        "function f(x) { return x; }\n"
    )
    dispatch = make_dispatch(frozen, "[7]", runtime=NODE, timeout=2.0)
    outcome = await run_job(pool, dispatch, log_cap=4096, result_cap=1 << 20)
    assert outcome.state is JobState.FAILED, outcome
    assert "__faas_args" in (outcome.error or ""), outcome
