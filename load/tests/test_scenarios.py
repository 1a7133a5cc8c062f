"""Every scenario run end to end against the in-memory fake platform."""

from __future__ import annotations

import trio

from load.api import create_user, register_function
from load.functions import PY_ADD, PY_NAP
from load.scenarios import SCENARIOS, ScenarioContext
from load.scenarios.autoscale import submit_mix

from .fake_platform import FakePlatform


def context(fake: FakePlatform) -> ScenarioContext:
    return ScenarioContext(
        url="http://127.0.0.1:9",
        quick=True,
        progress=False,
        platform=None,
        run_id="t",
        max_slots=8,
        transport=fake.transport(),
    )


async def test_warm_sync_checks_every_answer() -> None:
    fake = FakePlatform()
    result = await SCENARIOS["warm_sync_c16"](context(fake))
    sample = result.sample("c16")
    assert sample is not None
    assert sample.errors == 0 and len(sample.latencies_ms) == 1000
    assert "load_t_warm_sync_c16" not in fake.users  # deleted at the end


async def test_refused_runs_are_counted_by_kind() -> None:
    fake = FakePlatform(refuse_runs=True)
    result = await SCENARIOS["warm_sync_c1"](context(fake))
    sample = result.sample("c1")
    assert sample is not None and not sample.latencies_ms
    assert sample.error_kinds["HTTP 429"] == sample.errors > 0
    assert result.notes  # the warm-up failed too


async def test_cold_registers_a_new_function_per_call() -> None:
    fake = FakePlatform()
    result = await SCENARIOS["cold_python"](context(fake))
    first = result.sample("first call")
    assert first is not None and len(first.latencies_ms) == 10 and first.errors == 0
    assert len({name for _, name in fake.functions}) == 10
    assert result.figures["calls reporting cold_start"] == 10


async def test_async_burst_measures_end_to_end_from_records() -> None:
    result = await SCENARIOS["async_burst"](context(FakePlatform()))
    e2e = result.sample("end to end")
    assert e2e is not None and len(e2e.latencies_ms) == 1000 and e2e.errors == 0
    # The fake finishes each job 1 ms after creating it.
    assert all(abs(v - 1.0) < 0.01 for v in e2e.latencies_ms)
    assert isinstance(result.figures["e2e jobs/s"], float)


async def test_mixed_autoscale_samples_metrics(autojump_clock: trio.abc.Clock) -> None:
    fake = FakePlatform(metrics="faas_queue_length 3\nfaas_workers 2\n")
    result = await SCENARIOS["mixed_autoscale"](context(fake))
    fast, slow = result.sample("fast jobs"), result.sample("slow jobs")
    assert fast is not None and slow is not None
    # 6 s at 40 fast and 8 slow per second.
    assert len(fast.latencies_ms) == 240 and len(slow.latencies_ms) == 48
    assert result.figures["dropped submissions"] == 0
    assert result.figures["max workers"] == 2 and result.figures["max queue length"] == 3


async def test_deep_queue_releases_blockers_and_compares_windows() -> None:
    fake = FakePlatform()
    result = await SCENARIOS["deep_queue"](context(fake))
    assert result.figures["depth reached"] == 5000
    assert result.figures["window (submissions)"] == 1000
    assert isinstance(result.figures["enqueue p50 last/first"], float)
    assert "drain jobs/s" in result.figures
    # The 8 + 16 blockers were cancelled; the 5,000 no-op jobs remain in the fake.
    assert len(fake.jobs) == 5000
    assert "memory not measured" in " ".join(result.notes)


async def test_mixed_submissions_are_spread_over_the_duration_on_the_real_clock() -> None:
    fake = FakePlatform()
    ctx = context(fake)
    async with ctx.client(8) as client:
        await create_user(client, "u")
        await register_function(client, "u", "add", PY_ADD)
        await register_function(client, "u", "nap", PY_NAP)
        started = trio.current_time()
        sample, fast, slow, dropped = await submit_mix(ctx, client, "u", 1.0)
        elapsed = trio.current_time() - started
    assert (len(fast), len(slow), dropped) == (40, 8, 0)
    assert elapsed >= 0.9  # at the rate asked for, not all at once
    assert sample.total == 48 and sample.errors == 0


async def test_a_map_is_followed_to_its_last_result() -> None:
    fake = FakePlatform()
    result = await SCENARIOS["map_10k_python"](context(fake))
    items = result.sample("items")
    assert items is not None and len(items.latencies_ms) == 1000 and items.errors == 0
    assert isinstance(result.figures["items/s"], float)
    assert "load_t_map_10k_python" not in fake.users


async def test_map_mixed_times_calls_idle_and_behind_a_map() -> None:
    result = await SCENARIOS["map_mixed"](context(FakePlatform()))
    for label in ("idle", "behind a map"):
        sample = result.sample(label)
        assert sample is not None and sample.errors == 0 and len(sample.latencies_ms) == 50
    assert result.figures["map items final during the calls"] == 5000
