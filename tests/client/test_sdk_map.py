"""``Function.map``: one group through the map API, values in input order or as they come,
failures typed, with both clients."""

from __future__ import annotations

import pytest

from faas_trio.client import AsyncClient, Client, JobFailed

from .conftest import StartPlatform

PY_SQUARE = "def square(x):\n    return x * x\n"
PY_ADD = "def add(a, b):\n    return a + b\n"
PY_INVERSE = "def inverse(x):\n    return 1 / x\n"


async def test_map_gives_every_value_in_input_order(platform: StartPlatform) -> None:
    up = await platform()
    with Client(up.url, user="ann") as client:
        client.create_user("ann")
        square = client.deploy("square", PY_SQUARE)
        add = client.deploy("add", PY_ADD)
        inverse = client.deploy("inverse", PY_INVERSE)

        assert list(square.map(range(1200))) == [i * i for i in range(1200)]  # pages of 500
        assert list(add.map([(i, 1) for i in range(10)])) == list(range(1, 11))
        assert sorted(square.map(range(100), ordered=False)) == [i * i for i in range(100)]

        with pytest.raises(JobFailed, match="ZeroDivisionError"):
            list(inverse.map([1, 0, 2]))
        values = list(inverse.map([1, 0, 2], return_exceptions=True))
        assert values[0] == 1.0 and values[2] == 0.5
        assert isinstance(values[1], JobFailed) and values[1].record["state"] == "failed"

        group = square.map_group([3, 4])
        assert group["total"] == 2 and len(group["jobs"]) == 2
        assert client.job(group["jobs"][1]).result(timeout=20) == 16  # each item is a job
        assert group["id"] in [g["id"] for g in client.run(client.api.groups())]

    async with AsyncClient(up.url, user="ann") as aclient:
        values = [v async for v in aclient.function("square").map(range(50))]
    assert values == [i * i for i in range(50)]
