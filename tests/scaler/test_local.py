"""The local actuator against a fake supervisor (a real RPC server answering SetWorkers)."""

from __future__ import annotations

import pytest
import trio

from faas_trio.core import messages as m
from faas_trio.core.errors import BadRequest, PeerUnavailable
from faas_trio.core.rpc import serve_rpc
from faas_trio.scaler.actuators import ActuatorError, open_local_actuator


class FakeSupervisor:
    def __init__(self) -> None:
        self.counts: list[int] = []
        self.hang = False
        self.arrived = trio.Event()

    async def handle(self, request: m.Message) -> m.Message:
        assert isinstance(request, m.SetWorkers)
        self.arrived.set()
        if self.hang:
            await trio.sleep_forever()
        if request.count > 100:
            raise BadRequest("too many")
        self.counts.append(request.count)
        return m.Done()


async def start(nursery: trio.Nursery) -> tuple[FakeSupervisor, str]:
    fake = FakeSupervisor()
    url: str = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", fake.handle)
    return fake, url


async def test_current_is_the_observed_count_until_one_is_applied(nursery: trio.Nursery) -> None:
    fake, url = await start(nursery)
    observed: list[int | None] = [None]
    async with open_local_actuator(url, lambda: observed[0]) as actuator:
        with pytest.raises(ActuatorError):
            await actuator.current()
        observed[0] = 2
        assert await actuator.current() == 2
        await actuator.apply(5)
        observed[0] = 3  # workers still starting: the applied count holds
        assert await actuator.current() == 5
    assert fake.counts == [5]


async def test_a_refused_count_is_not_recorded(nursery: trio.Nursery) -> None:
    fake, url = await start(nursery)
    async with open_local_actuator(url, lambda: 1) as actuator:
        with pytest.raises(BadRequest):
            await actuator.apply(500)
        assert await actuator.current() == 1


async def test_a_silent_supervisor_times_out(nursery: trio.Nursery) -> None:
    fake, url = await start(nursery)
    fake.hang = True
    async with open_local_actuator(url, lambda: 1, call_timeout=0.1) as actuator:
        with pytest.raises(PeerUnavailable):
            await actuator.apply(4)
        assert await actuator.current() == 1


async def test_a_cancelled_apply_leaves_the_count_unchanged(nursery: trio.Nursery) -> None:
    fake, url = await start(nursery)
    fake.hang = True
    async with open_local_actuator(url, lambda: 2) as actuator:
        async with trio.open_nursery() as inner:
            inner.start_soon(actuator.apply, 7)
            await fake.arrived.wait()
            inner.cancel_scope.cancel()
        assert await actuator.current() == 2
