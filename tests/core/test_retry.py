"""The one backoff helper: doubling to a cap, jitter, a deadline, reset."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from faas_trio.core.retry import Backoff


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_jitter_spreads_each_delay_within_its_fraction() -> None:
    delays = [Backoff(1.0, 1.0, jitter=0.2).next_delay() for _ in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize("autojump_clock", [MockClock(autojump_threshold=0)])
async def test_sleep_gives_up_before_the_deadline_would_pass(autojump_clock: MockClock) -> None:
    backoff = Backoff(1.0, 1.0, deadline=3.5, jitter=0.0)
    start = trio.current_time()
    slept = 0
    while await backoff.sleep():
        slept += 1
    assert slept == 3
    assert trio.current_time() - start == pytest.approx(3.0)


def test_longest_bounds_the_total_of_the_pauses() -> None:
    assert Backoff(1.0, 100.0, jitter=0.0).longest(4) == 1 + 2 + 4 + 8
    assert Backoff(1.0, 100.0, jitter=0.1).longest(1) == pytest.approx(1.1)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
