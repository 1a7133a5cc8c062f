"""The scaling policies replayed against load traces, as pure functions of time."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faas_trio.scaler.policy import DoublePolicy, Load, Policy, PolicyState, TargetTracking

TICK = 2.0


def replay(
    policy: Policy, jobs: Sequence[int], *, start: int = 1, tick: float = TICK
) -> list[int]:
    """The worker count after each tick, applying every decision at once. ``jobs`` is the
    number of queued-or-running jobs at each tick (all queued)."""
    current, state, counts = start, PolicyState(), []
    for i, n in enumerate(jobs):
        decision = policy.decide(Load(queued=n, running=0), current, i * tick, state)
        current, state = decision.count, decision.state
        counts.append(current)
    return counts


def direction_changes(counts: Sequence[int]) -> int:
    steps = [b - a for a, b in zip(counts, counts[1:], strict=False) if b != a]
    return sum(1 for a, b in zip(steps, steps[1:], strict=False) if (a > 0) != (b > 0))


def demand(jobs: int, concurrency: int = 4, low: int = 1, high: int = 64) -> int:
    return max(low, min(high, math.ceil(jobs / concurrency)))


POLICY = TargetTracking(minimum=1, maximum=64, concurrency=4, down_delay=30.0)


def test_demand_is_ceil_of_jobs_per_worker_within_bounds() -> None:
    assert POLICY.demand(Load(queued=0, running=0)) == 1
    assert POLICY.demand(Load(queued=5, running=4)) == 3
    assert POLICY.demand(Load(queued=8, running=0)) == 2
    assert POLICY.demand(Load(queued=10_000, running=0)) == 64


def test_burst_scales_up_in_one_step_and_down_by_halves() -> None:
    jobs = [0] * 5 + [200] * 10 + [0] * 150
    counts = replay(POLICY, jobs)
    assert counts[4] == 1
    assert counts[5] == 50  # the first tick of the burst
    assert max(counts) == 50
    downs = [b for a, b in zip(counts, counts[1:], strict=False) if b < a]
    assert downs == [25, 13, 7, 4, 2, 1]
    assert direction_changes(counts) == 1
    assert counts[-1] == 1


def test_burst_above_maximum_is_capped() -> None:
    counts = replay(POLICY, [0, 10_000, 10_000, 0])
    assert counts[1:3] == [64, 64]


def test_ramp_tracks_demand_up_and_never_under_provisions_down() -> None:
    up = list(range(0, 201, 4))
    jobs = up + up[::-1] + [0] * 100
    counts = replay(POLICY, jobs)
    for n, count in zip(up, counts, strict=False):
        assert count == demand(n)  # rising demand is met exactly, tick by tick
    assert all(count >= demand(n) for n, count in zip(jobs, counts, strict=True))
    assert direction_changes(counts) == 1
    assert counts[-1] == 1


def test_sawtooth_faster_than_the_delay_does_not_oscillate() -> None:
    # 40..80 jobs with a 10 s period: demand swings 10..20, always back within the delay.
    wave = [40, 50, 60, 70, 80]
    counts = replay(POLICY, wave * 40)
    assert counts[4:] == [20] * (len(counts) - 4)
    assert direction_changes(counts) == 0
    # overshoot is bounded by the wave's own peak
    assert max(counts) == demand(max(wave))


def test_idle_at_minimum_never_moves() -> None:
    assert replay(POLICY, [0] * 100) == [1] * 100


def test_scale_down_waits_for_the_full_delay() -> None:
    state = PolicyState()
    idle = Load(queued=0, running=0)
    decision = POLICY.decide(idle, 8, 100.0, state)
    assert decision.count == 8
    decision = POLICY.decide(idle, 8, 129.9, decision.state)
    assert decision.count == 8
    decision = POLICY.decide(idle, 8, 130.0, decision.state)
    assert decision.count == 4
    # the next halving needs another full delay
    decision = POLICY.decide(idle, 4, 159.0, decision.state)
    assert decision.count == 4
    assert POLICY.decide(idle, 4, 160.0, decision.state).count == 2


def test_a_busy_moment_restarts_the_scale_down_delay() -> None:
    idle, busy = Load(queued=0, running=0), Load(queued=0, running=32)
    d = POLICY.decide(idle, 8, 0.0, PolicyState())
    d = POLICY.decide(idle, 8, 20.0, d.state)
    d = POLICY.decide(busy, 8, 22.0, d.state)  # demand back at 8
    d = POLICY.decide(idle, 8, 24.0, d.state)
    assert POLICY.decide(idle, 8, 40.0, d.state).count == 8
    assert POLICY.decide(idle, 8, 54.0, d.state).count == 4


def test_scale_down_keeps_the_peak_demand_of_the_window() -> None:
    d = POLICY.decide(Load(queued=0, running=0), 16, 0.0, PolicyState())
    d = POLICY.decide(Load(queued=48, running=0), 16, 10.0, d.state)  # demand 12
    d = POLICY.decide(Load(queued=0, running=0), 16, 30.0, d.state)
    assert d.count == 12


def test_minimum_zero_lets_the_last_worker_go() -> None:
    policy = TargetTracking(minimum=0, maximum=8, concurrency=1, down_delay=10.0)
    assert replay(policy, [0] * 20, start=1, tick=5.0)[-1] == 0
    assert policy.decide(Load(queued=1, running=0), 0, 0.0, PolicyState()).count == 1


def test_counts_outside_the_bounds_come_back_at_once() -> None:
    policy = TargetTracking(minimum=2, maximum=10)
    assert policy.decide(Load(queued=0, running=0), 30, 0.0, PolicyState()).count == 10
    assert policy.decide(Load(queued=0, running=0), 0, 0.0, PolicyState()).count == 2


@settings(max_examples=200, deadline=None)
@given(
    jobs=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=120),
    low=st.integers(min_value=0, max_value=4),
    span=st.integers(min_value=0, max_value=40),
    start=st.integers(min_value=0, max_value=80),
)
def test_any_trace_respects_bounds_demand_and_delay(
    jobs: list[int], low: int, span: int, start: int
) -> None:
    high = low + span
    policy = TargetTracking(minimum=low, maximum=high, concurrency=4, down_delay=30.0)
    counts = replay(policy, jobs, start=start)
    for i, (n, count) in enumerate(zip(jobs, counts, strict=True)):
        assert low <= count <= high
        assert count >= demand(n, 4, low, high)
        before = start if i == 0 else counts[i - 1]
        if count < before and low <= before <= high:
            assert count >= (before + 1) // 2 or before == 1
            # demand stayed below the old count for the whole delay before this tick
            window = [jobs[j] for j in range(i + 1) if (i - j) * TICK <= 30.0]
            assert (i * TICK) >= 30.0
            assert all(demand(m, 4, low, high) < before for m in window)


def test_double_policy_is_the_old_rule() -> None:
    policy = DoublePolicy(minimum=1, maximum=64)
    state = PolicyState()

    def decide(queued: int, current: int) -> int:
        return policy.decide(Load(queued=queued, running=0), current, 0.0, state).count

    assert decide(33, 4) == 8
    assert decide(32, 4) == 4
    assert decide(33, 48) == 64
    assert decide(500, 64) == 64
    assert decide(1, 8) == 4
    assert decide(2, 8) == 8
    assert decide(0, 1) == 1
    assert decide(0, 3) == 1
    assert decide(10, 0) == 1  # below the minimum


def test_double_policy_bounces_on_a_load_that_a_tracking_policy_holds() -> None:
    # The reason the old rule was replaced: 40 jobs arriving in bursts make it flap.
    jobs = [40, 0] * 20
    assert direction_changes(replay(DoublePolicy(), jobs)) > 10
    assert direction_changes(replay(POLICY, jobs)) == 0


@pytest.mark.parametrize(
    "kwargs", [{"minimum": 5, "maximum": 4}, {"minimum": -1}, {"concurrency": 0}]
)
def test_bad_parameters_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        TargetTracking(**kwargs)
