"""A dispatch's jobs run from one batch frame in a real sandbox (faas_trio.worker.execution):
every item gets exactly one outcome, in order, whatever an item in the middle does (times
out, crashes its child, raises, returns something oversized or not JSON, is cancelled), and
the items after it still run, in a fresh child when the first one had to be killed."""

from __future__ import annotations

import json

import pytest
import trio

from faas_trio.core.messages import Dispatch
from faas_trio.core.records import JobRecord, JobState, Outcome, Runtime
from faas_trio.worker.execution import BatchItem, run_batch
from faas_trio.worker.pool import WarmPool

from .conftest import MakeDispatch, needs_cgroups, needs_node, needs_root

#: Each call counts the calls its child ran: a fresh child starts again at 1.
PYTHON = """import os, sys, time
calls = 0
def f(x):
    global calls
    calls += 1
    print("item", x)
    os.write(2, f"raw {x}\\n".encode())
    if x == "timeout":
        time.sleep(30)
    if x == "crash":
        os._exit(3)
    if x == "raise":
        raise ValueError("bad " + x)
    if x == "big":
        return "x" * 5000
    if x == "nan":
        return float("nan")
    if x == "slow":
        time.sleep(0.2)
    return [x, calls]
"""
NODE = """let calls = 0;
async function f(x) {
  calls += 1;
  console.log('item', x);
  if (x === 'timeout') while (true) {}
  if (x === 'raise') throw new TypeError('bad ' + x);
  if (x === 'big') return 'x'.repeat(5000);
  if (x === 'bigint') return 10n;
  if (x === 'later') await new Promise((resolve) => setTimeout(resolve, 50));
  return [x, calls];
}
"""
RESULT_CAP = 1000


def items_of(
    make_dispatch: MakeDispatch, source: str, args: list[str], **kw: object
) -> list[BatchItem]:
    """Batch items of one function version, one per argument."""
    first = make_dispatch(source, json.dumps([args[0]]), **kw)
    items = [BatchItem(first)]
    for arg in args[1:]:
        job = JobRecord(
            id=f"{first.job.id}-{len(items)}", user=first.job.user, function=first.job.function,
            runtime=first.job.runtime, args=json.dumps([arg]), attempts=1,
        )  # fmt: skip
        items.append(BatchItem(Dispatch(job=job, function=first.function)))
    return items


async def run(
    pool: WarmPool, items: list[BatchItem], first_done: trio.Event | None = None, **kw: object
) -> list[Outcome]:
    outcomes: list[Outcome] = []

    async def keep(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if first_done is not None:
            first_done.set()

    await run_batch(pool, items, keep, log_cap=4096, result_cap=RESULT_CAP, **kw)  # type: ignore[arg-type]
    # Exactly one outcome per item, in input order.
    assert [o.job_id for o in outcomes] == [item.dispatch.job.id for item in items]
    return outcomes


def states(outcomes: list[Outcome]) -> list[JobState]:
    return [o.state for o in outcomes]


async def test_python_batch_survives_every_kind_of_middle_item(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    args = ["a", "raise", "b", "big", "c", "nan", "d", "timeout", "e", "crash", "f"]
    outcomes = await run(pool, items_of(make_dispatch, PYTHON, args, timeout=0.5))
    s, f, t = JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT
    assert states(outcomes) == [s, f, s, f, s, s, s, t, s, f, s]
    by_arg = dict(zip(args, outcomes, strict=True))
    # One child ran a..timeout (its count goes on), a fresh one e and crash, another f.
    assert [json.loads(by_arg[x].value or "") for x in "abcd"] == [
        ["a", 1], ["b", 3], ["c", 5], ["d", 7]
    ]  # fmt: skip
    assert json.loads(by_arg["e"].value or "") == ["e", 1]
    assert json.loads(by_arg["f"].value or "") == ["f", 1]
    assert (by_arg["raise"].error or "").startswith("ValueError: bad raise")
    assert (by_arg["big"].error or "").startswith("ResultTooLarge")
    assert by_arg["nan"].result == "nan"
    assert (by_arg["timeout"].error or "").startswith("TimeoutError")
    assert "exit code 3" in (by_arg["crash"].result or "")
    # What an item prints is in its own logs (a crash loses it, as a single call's does).
    # What it writes straight to its stderr descriptor is in the logs of the item whose
    # reply was read next: its own, or an earlier one's when the worker read several
    # replies at once; never lost or repeated.
    for index, (arg, outcome) in enumerate(by_arg.items()):
        printed = 0 if arg == "crash" else 1
        assert outcome.logs.count(f"item {arg}\n") == outcome.logs.count("item ") == printed
        owners = [o for o in outcomes if f"raw {arg}\n" in o.logs]
        assert len(owners) == 1 and outcomes.index(owners[0]) <= index
    assert [o.cold_start for o in outcomes].count(True) == 3  # first, after timeout, after crash
    assert pool.size == 1  # the last child is warm again


async def test_each_item_is_billed_on_the_workers_clock_from_the_previous_reply(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    items = items_of(make_dispatch, PYTHON, ["a", "slow", "slow", "b"])
    outcomes = await run(pool, items)
    assert states(outcomes) == [JobState.SUCCEEDED] * 4
    # Each item is billed from the previous reply's arrival to its own, so the bills add up
    # to the batch's time on the worker's clock (two sleeps of 0.2 s at least); an item
    # whose predecessor's reply was read late is billed that much less.
    assert sum(o.duration_ms for o in outcomes) >= 400
    assert all(0 <= o.duration_ms < 60_000 for o in outcomes)
    for before, after in zip(outcomes, outcomes[1:], strict=False):
        assert before.finished_at <= after.started_at


@needs_node
async def test_node_batch_survives_every_kind_of_middle_item(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    args = ["a", "raise", "later", "big", "bigint", "timeout", "b"]
    outcomes = await run(
        pool, items_of(make_dispatch, NODE, args, runtime=Runtime.NODE, timeout=0.5)
    )
    s, f, t = JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT
    assert states(outcomes) == [s, f, s, f, s, t, s]
    by_arg = dict(zip(args, outcomes, strict=True))
    assert json.loads(by_arg["later"].value or "") == ["later", 3]
    assert json.loads(by_arg["b"].value or "") == ["b", 1]  # a fresh child after the timeout
    assert (by_arg["raise"].error or "").startswith("TypeError: bad raise")
    assert (by_arg["big"].error or "").startswith("ResultTooLarge")
    assert by_arg["bigint"].result == "10"
    for arg, outcome in by_arg.items():
        assert outcome.logs.count("item ") == 1 and f"item {arg}" in outcome.logs


@pytest.mark.parametrize("runtime", [Runtime.PYTHON, pytest.param(Runtime.NODE, marks=needs_node)])
async def test_cancel_mid_batch_kills_the_running_item_and_the_rest_run_once(
    pool: WarmPool, make_dispatch: MakeDispatch, runtime: Runtime
) -> None:
    source = PYTHON if runtime is Runtime.PYTHON else NODE
    items = items_of(make_dispatch, source, ["a", "timeout", "b", "c", "d"], runtime=runtime,
                     timeout=20.0)  # fmt: skip
    results: list[list[Outcome]] = []
    first_done = trio.Event()

    async def batch() -> None:
        results.append(await run(pool, items, first_done))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(batch)
        await first_done.wait()  # "a" is done: "timeout" runs
        # A waiting item sent in the same frame is cancelled before its turn, then the
        # running one: neither gives a result, the others run (in a fresh child).
        for item in (items[3], items[1]):
            item.stop_state = JobState.CANCELLED
            item.run_scope.cancel()
    outcomes = results[0]
    s, c = JobState.SUCCEEDED, JobState.CANCELLED
    assert states(outcomes) == [s, c, s, c, s]
    assert [json.loads(o.value or "")[1] for o in (outcomes[2], outcomes[4])] == [1, 2]


async def test_a_drain_hands_back_the_items_not_started(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    items = items_of(make_dispatch, PYTHON, ["slow", "a", "b"])
    draining = False

    async def drain_soon() -> None:
        nonlocal draining
        await trio.sleep(0.1)  # while "slow" runs
        draining = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain_soon)
        outcomes = await run(pool, items, draining=lambda: draining)
    assert states(outcomes) == [JobState.SUCCEEDED, JobState.QUEUED, JobState.QUEUED]


OOM = """import os
calls = 0
def f(x):
    global calls
    calls += 1
    if x == "oom":  # memfds: only the memory cgroup sees them
        hoard = [os.memfd_create("hoard") for _ in range(8)]
        for fd in hoard:
            for _ in range(50):
                os.write(fd, b"x" * (1 << 20))
    return [x, calls]
"""


@needs_root
@needs_cgroups
async def test_an_item_over_its_memory_fails_alone(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    outcomes = await run(pool, items_of(make_dispatch, OOM, ["a", "oom", "b"], memory_mb=64))
    assert states(outcomes) == [JobState.SUCCEEDED, JobState.FAILED, JobState.SUCCEEDED]
    assert (outcomes[1].error or "").startswith("OutOfMemory: out of memory"), outcomes[1]
    assert json.loads(outcomes[2].value or "") == ["b", 1]  # in a fresh sandbox
