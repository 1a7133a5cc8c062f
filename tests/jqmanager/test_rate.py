"""The per-user call rate: token buckets in the jqmanager, counted over all frontends."""

from __future__ import annotations

import pytest
import trio

from faas_trio.core.errors import TooManyRequests
from faas_trio.jqmanager.rate import RateLimiter


async def test_bucket_allows_the_rate_then_refuses(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(per_minute=6)  # one token every 10 s
    for _ in range(6):
        limiter.take("ann")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("ann")
    assert refused.value.retry_after == pytest.approx(10.0)
    limiter.take("bob")  # buckets are per user
    await trio.sleep(5.0)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("ann")
    assert refused.value.retry_after == pytest.approx(5.0)
    await trio.sleep(5.0)
    limiter.take("ann")
    await trio.sleep(600.0)  # refills up to the burst, not beyond
    for _ in range(6):
        limiter.take("ann")
    with pytest.raises(TooManyRequests):
        limiter.take("ann")
