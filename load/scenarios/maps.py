"""Maps: one ``POST .../map`` of many trivial items, followed to the last result.

``map_10k_python`` and ``map_10k_node`` submit 10,000 items (quick: 1,000) of ``add`` and read
the results as an NDJSON stream (``GET /g/<id>/results``) until every item has arrived:
``items/s`` is items over the time from the submission to the last result. ``map_100k`` does
the same with 100,000 items (quick: 5,000) and also reads jqmanager's resident memory before
the submission and right after it (bytes per item then queued), the time to the first result,
and the stream's steady rate (items/s between 10% and 90% of the results). ``map_mixed`` times
single warm sync calls of another user, first on an idle platform and then while a 100,000-item
map (quick: 5,000) runs: the calls' p50/p99 both ways.
"""

from __future__ import annotations

import json
import time

import httpx
import trio

from ..api import SetupError, create_user, delete_user, envelope, register_function, run_and_wait
from ..functions import NODE_ADD, PY_ADD
from ..generator import Sample, drive
from ..processes import find_jqmanager_pid, vm_rss_bytes
from ..stats import percentile
from .context import ScenarioContext, ScenarioResult

__all__ = ["map_100k", "map_10k_node", "map_10k_python", "map_mixed"]

#: How long a map may take to the last result before the scenario gives up, seconds.
MAP_LIMIT = 600.0


async def _submit_map(client: httpx.AsyncClient, user: str, fn: str, total: int) -> str:
    body = json.dumps([[i, 1] for i in range(total)])
    response = await client.post(f"/u/{user}/fn/{fn}/map", content=body, timeout=120.0)
    ok, res = envelope(response)
    if not ok:
        raise SetupError(f"map refused: HTTP {response.status_code} {res!r}")
    return str(res["id"])


async def _stream(client: httpx.AsyncClient, group: str, total: int, started: float) -> Sample:
    """Read the group's NDJSON stream until every item arrived (or the limit); one latency per
    item: its arrival after ``started``. Wrong or failed items count as errors."""
    sample = Sample(label="items", total=total, concurrency=1)
    seen: set[int] = set()
    with trio.move_on_after(MAP_LIMIT):
        while len(seen) < total:
            headers = {"Accept": "application/x-ndjson"}
            url = f"/g/{group}/results?wait=60"
            async with client.stream("GET", url, headers=headers, timeout=90.0) as response:
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    item = json.loads(line)
                    index = int(item["index"])
                    if index in seen:
                        continue
                    seen.add(index)
                    now = time.time() - started
                    sample.finish_offsets.append(now)
                    if item["state"] == "succeeded" and item["value"] == index + 1:
                        sample.latencies_ms.append(now * 1000.0)
                    else:
                        sample.errors += 1
                        sample.error_kinds[str(item["state"])] += 1
    sample.elapsed_s = time.time() - started
    missing = total - len(seen)
    if missing:
        sample.errors += missing
        sample.error_kinds["not streamed in time"] += missing
        sample.timed_out = True
    return sample


async def _one_map(ctx: ScenarioContext, name: str, source: str, total: int) -> ScenarioResult:
    result = ScenarioResult(name, f"map {total:,} items of add, results streamed as NDJSON")
    user = ctx.user(name)
    async with ctx.client(2) as client:
        await create_user(client, user)
        await register_function(client, user, "add", source)
        await run_and_wait(client, user, "add", [1, 1], 10.0)  # warm: time the map, not a start
        pid = find_jqmanager_pid(ctx.platform.pid) if ctx.platform else None
        before = vm_rss_bytes(pid) if pid else None
        started = time.time()
        group = await _submit_map(client, user, "add", total)
        submitted = time.time() - started
        after = vm_rss_bytes(pid) if pid else None
        status = envelope(await client.get(f"/g/{group}", timeout=120.0))[1]
        queued = int(status["counts"]["queued"])
        sample = await _stream(client, group, total, started)
        result.samples.append(sample)
        arrivals = sorted(sample.finish_offsets)
        result.figures["submit ms"] = submitted * 1000.0
        result.figures["items/s"] = len(sample.latencies_ms) / sample.elapsed_s
        result.figures["first result ms"] = arrivals[0] * 1000.0 if arrivals else None
        if len(arrivals) >= 10:
            lo, hi = arrivals[len(arrivals) // 10], arrivals[len(arrivals) * 9 // 10]
            steady = (len(arrivals) * 8 // 10) / (hi - lo) if hi > lo else None
            result.figures["stream steady items/s"] = steady
        if before is not None and after is not None and queued > 0:
            result.figures["jqmanager bytes per queued item"] = (after - before) / queued
            result.figures["queued at answer"] = queued
        if sample.errors:
            await client.delete(f"/g/{group}")
        await delete_user(client, user)
    return result


async def map_10k_python(ctx: ScenarioContext) -> ScenarioResult:
    """Cancellation: blocks on the requests; the map and the user may be left behind."""
    return await _one_map(ctx, "map_10k_python", PY_ADD, ctx.count(10_000, 1_000))


async def map_10k_node(ctx: ScenarioContext) -> ScenarioResult:
    """Cancellation: blocks on the requests; the map and the user may be left behind."""
    return await _one_map(ctx, "map_10k_node", NODE_ADD, ctx.count(10_000, 1_000))


async def map_100k(ctx: ScenarioContext) -> ScenarioResult:
    """Cancellation: blocks on the requests; the map and the user may be left behind."""
    return await _one_map(ctx, "map_100k", PY_ADD, ctx.count(100_000, 5_000))


async def map_mixed(ctx: ScenarioContext) -> ScenarioResult:
    """Single warm sync calls of one user, idle and behind another user's big map.

    Cancellation: blocks on the requests; the map and the users may be left behind.
    """
    total = ctx.count(100_000, 5_000)
    calls = ctx.count(300, 50)
    result = ScenarioResult(
        "map_mixed", f"{calls} warm sync calls, idle and while a {total:,}-item map runs"
    )
    mapper, caller = ctx.user("map_mixed_a"), ctx.user("map_mixed_b")

    async def call(client: httpx.AsyncClient, index: int) -> bool:
        record = await run_and_wait(client, caller, "add", [index, 1], 10.0)
        return bool(record.get("value") == index + 1)

    async with ctx.client(2) as client:
        for user in (mapper, caller):
            await create_user(client, user)
            await register_function(client, user, "add", PY_ADD)
        await run_and_wait(client, caller, "add", [1, 1], 10.0)
        await run_and_wait(client, mapper, "add", [1, 1], 10.0)
        idle = await drive(client, call, label="idle", total=calls, concurrency=1,
                           time_limit=120, progress=ctx.progress)  # fmt: skip
        group = await _submit_map(client, mapper, "add", total)
        busy = await drive(client, call, label="behind a map", total=calls, concurrency=1,
                           time_limit=120, progress=ctx.progress)  # fmt: skip
        status = envelope(await client.get(f"/g/{group}", timeout=120.0))[1]
        result.samples += [idle, busy]
        for label, sample in (("idle", idle), ("behind map", busy)):
            result.figures[f"{label} p50 ms"] = percentile(sample.latencies_ms, 50)
            result.figures[f"{label} p99 ms"] = percentile(sample.latencies_ms, 99)
        p99_idle, p99_busy = percentile(idle.latencies_ms, 99), percentile(busy.latencies_ms, 99)
        if p99_idle and p99_busy:
            result.figures["p99 behind map / idle"] = p99_busy / p99_idle
        result.figures["map items final during the calls"] = int(status["final"])
        try:
            # Cleanup: cancelling the rest of a big map can take a while on a busy machine;
            # the figures above stand whatever happens here.
            await client.delete(f"/g/{group}", timeout=120.0)
            await client.get(f"/g/{group}?wait=30", timeout=60.0)
            for user in (mapper, caller):
                await delete_user(client, user)
        except httpx.HTTPError as exc:
            result.notes.append(f"cleanup after the figures failed: {type(exc).__name__} {exc}")
    return result
