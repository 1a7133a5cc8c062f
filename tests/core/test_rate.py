"""core.rate: token buckets that refill, and whose memory stays bounded."""

from __future__ import annotations

import trio

from faas_trio.core.rate import TokenBuckets


async def test_buckets_refill_and_stay_bounded(autojump_clock: trio.testing.MockClock) -> None:
    buckets = TokenBuckets(2.0, 2.0 / 3600.0, max_keys=3)
    assert buckets.try_take("a") is None and buckets.try_take("a") is None
    assert buckets.try_take("a") == 1800.0
    await trio.sleep(1800)
    assert buckets.try_take("a") is None
    for key in ("b", "c", "d", "e"):
        buckets.try_take(key)
    assert len(buckets._buckets) <= 3
