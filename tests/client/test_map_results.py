"""How ``Function.map`` reads a group's results: pages from the first item not yet given,
and a long poll on that item's job when nothing new is final (a fake platform, in memory)."""

from __future__ import annotations

import json

import httpx
import pytest

from faas_trio.client import Client, RetryPolicy, WaitTimeout


class FakeGroup:
    """A group of ``total`` items whose item ``i`` becomes final at look number ``ready[i]``
    (a look is one request of any kind), squaring its input."""

    def __init__(self, ready: list[int]) -> None:
        self.ready = ready
        self.looks = 0
        self.paths: list[str] = []

    def item(self, index: int) -> dict[str, object]:
        if self.looks >= self.ready[index]:
            return {"index": index, "state": "succeeded", "value": index * index}
        return {"index": index, "state": "running", "value": None}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.looks += 1
        self.paths.append(request.url.path)
        if request.method == "POST":
            total = len(self.ready)
            res: object = {"id": "g1", "total": total, "jobs": [f"j{i}" for i in range(total)]}
        elif request.url.path == "/g/g1/results":
            offset = int(request.url.params["offset"])
            limit = int(request.url.params["limit"])
            res = [self.item(i) for i in range(offset, min(len(self.ready), offset + limit))]
        else:  # the long poll on an item's job
            res = {"id": request.url.path, "state": "running"}
        return httpx.Response(200, content=json.dumps({"error": False, "res": res}))


def _client(fake: FakeGroup) -> Client:
    transport = httpx.MockTransport(fake.handle)
    return Client("http://fake", user="ann", transport=transport, retry=RetryPolicy(attempts=1))


def test_ordered_values_come_in_input_order_and_the_head_is_long_polled() -> None:
    fake = FakeGroup(ready=[4, 2, 2, 9, 2])
    with _client(fake) as client:
        assert list(client.function("square").map(range(5))) == [0, 1, 4, 9, 16]
    # Nothing new at the second look: the first item's job is waited on, not the page.
    assert "/j/j0/record" in fake.paths and "/j/j3/record" in fake.paths
    assert "/j/j1/record" not in fake.paths


def test_unordered_values_come_as_items_finish() -> None:
    fake = FakeGroup(ready=[6, 2, 2, 4, 2])
    with _client(fake) as client:
        assert list(client.function("square").map(range(5), ordered=False)) == [1, 4, 16, 9, 0]


def test_a_group_not_done_in_time_is_a_wait_timeout() -> None:
    fake = FakeGroup(ready=[2, 10**9])
    with _client(fake) as client:
        values = client.function("square").map(range(2), timeout=0.2)
        assert next(values) == 0
        with pytest.raises(WaitTimeout, match="group g1"):
            next(values)
