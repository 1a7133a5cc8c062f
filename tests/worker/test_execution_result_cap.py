"""FAAS_RESULT_CAP: read by WorkerConfig, enforced by run_job on both runners."""

from __future__ import annotations

import json

import pytest

from faas_trio.core.config import ConfigError
from faas_trio.core.records import JobState, Runtime
from faas_trio.worker import WorkerConfig
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool

from .conftest import MakeDispatch, needs_node

#: Returns a string of ``n`` characters; its JSON value is two bytes longer (the quotes).
REPEAT_X = "def f(n, c='x'):\n    print('made', n)\n    return c * n\n"


def test_result_cap_defaults_to_one_mebibyte() -> None:
    assert WorkerConfig.from_env({}).result_cap == 1 << 20


def test_result_cap_is_read_from_the_environment() -> None:
    assert WorkerConfig.from_env({"FAAS_RESULT_CAP": "4096"}).result_cap == 4096


@pytest.mark.parametrize("raw", ["0", "-5", "1MiB"])
def test_bad_result_caps_are_rejected(raw: str) -> None:
    with pytest.raises(ConfigError, match="FAAS_RESULT_CAP"):
        WorkerConfig.from_env({"FAAS_RESULT_CAP": raw})


async def test_a_result_at_the_cap_succeeds(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    outcome = await run_job(pool, make_dispatch(REPEAT_X, "[98]"), log_cap=4096, result_cap=100)
    assert outcome.state is JobState.SUCCEEDED
    assert (outcome.result, outcome.value) == ("x" * 98, json.dumps("x" * 98))


async def test_a_result_one_byte_over_the_cap_fails_and_is_dropped(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    outcome = await run_job(pool, make_dispatch(REPEAT_X, "[99]"), log_cap=4096, result_cap=100)
    message = "the result is 101 bytes, over the FAAS_RESULT_CAP of 100"
    assert outcome.state is JobState.FAILED
    assert (outcome.result, outcome.value) == (message, None)
    assert outcome.error == f"ResultTooLarge: {message}"
    assert "made 99" in outcome.logs  # the call's output is kept all the same


async def test_the_cap_counts_utf8_bytes_not_characters(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    # 60 characters, 120 bytes of UTF-8 in the result text alone.
    outcome = await run_job(
        pool, make_dispatch(REPEAT_X, '[60, "\u00e9"]'), log_cap=4096, result_cap=100
    )
    assert outcome.state is JobState.FAILED
    assert (outcome.error or "").startswith("ResultTooLarge: the result is ")


async def test_a_child_whose_result_was_dropped_stays_warm(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    big = await run_job(
        pool, make_dispatch(REPEAT_X, "[5000]", version=1), log_cap=4096, result_cap=100
    )
    small = await run_job(
        pool, make_dispatch(REPEAT_X, "[3]", version=1), log_cap=4096, result_cap=100
    )
    assert big.state is JobState.FAILED and big.cold_start
    assert (small.state, small.result, small.cold_start) == (JobState.SUCCEEDED, "xxx", False)


@needs_node
async def test_the_node_runner_is_capped_too(pool: WarmPool, make_dispatch: MakeDispatch) -> None:
    source = "function f(n) { return {data: 'y'.repeat(n)}; }"
    fits = await run_job(
        pool, make_dispatch(source, "[80]", runtime=Runtime.NODE), log_cap=4096, result_cap=100
    )
    over = await run_job(
        pool, make_dispatch(source, "[100]", runtime=Runtime.NODE), log_cap=4096, result_cap=100
    )
    assert fits.state is JobState.SUCCEEDED
    assert json.loads(fits.value or "") == {"data": "y" * 80}
    assert over.state is JobState.FAILED
    # {"data":"yyy…"}: 11 bytes around the 100 y's.
    assert over.error == "ResultTooLarge: the result is 111 bytes, over the FAAS_RESULT_CAP of 100"
    assert over.value is None
