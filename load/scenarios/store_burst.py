"""``store_burst``: the old-API burst on each store configuration, each on a platform of its own.

The burst is the old system's benchmark: 1,000 calls of ``add(4, 7)`` (quick: 200, and three
configurations only) submitted
with the old API (the answer is the job id) at concurrency 16, then waited for. It runs on
platforms the scenario starts itself, one per configuration:

- SQLite with ``FAAS_SQLITE_SYNC=full`` (the default: a commit survives a power loss) and
  ``normal``;
- the MongoDB-protocol test server (``tests/mongo_server.py``, in-memory) with 1 worker, with
  4 workers, and with 1 worker of 1 slot;
- the same server behind :mod:`load.latency_proxy`, which adds 1 ms to every round trip
  between the dbmanager and the database, as a network would.

Per configuration it reports end-to-end jobs/s (succeeded jobs over the time from the first
submission to the last finish), submissions/s, and from the dbmanager's
``faas_store_commands_total{op="write"}`` the store's write round trips per job (submission to
final state). The MongoDB configurations need ``.venv-mongo`` (``make mongo-venv``); without
it they are reported as not run. With ``--url`` the kit does not run this scenario (it
starts platforms of its own).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from ..api import create_user, delete_user, register_function, submit
from ..functions import NODE_ADD, PY_ADD
from ..generator import MAX_CONCURRENCY, drive
from ..processes import RAISED_LIMITS, REPO_ROOT, LaunchError, running_platform
from .context import ScenarioContext, ScenarioResult
from .tracking import await_jobs, sample_from_records

__all__ = ["CONFIGURATIONS", "StoreConfig", "store_burst"]

MONGO_PYTHON = REPO_ROOT / ".venv-mongo" / "bin" / "python"
MONGO_SERVER = REPO_ROOT / "tests" / "mongo_server.py"
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class StoreConfig:
    """One platform to burst: its store, workers, slots per worker, added round-trip delay."""

    label: str
    store: str  # "sqlite" or "mongo"
    workers: int
    slots: int = 4
    delay_ms: float = 0.0
    sqlite_sync: str = "full"


CONFIGURATIONS = (
    StoreConfig("sqlite full, 1 worker", "sqlite", 1),
    StoreConfig("sqlite normal, 1 worker", "sqlite", 1, sqlite_sync="normal"),
    StoreConfig("mongo, 1 worker", "mongo", 1),
    StoreConfig("mongo, 4 workers", "mongo", 4),
    StoreConfig("mongo, 1 worker of 1 slot", "mongo", 1, slots=1),
    StoreConfig("mongo +1 ms, 1 worker", "mongo", 1, delay_ms=1.0),
    StoreConfig("mongo +1 ms, 4 workers", "mongo", 4, delay_ms=1.0),
)
#: A smoke run's: one of each kind.
QUICK_CONFIGURATIONS = (CONFIGURATIONS[0], CONFIGURATIONS[2], CONFIGURATIONS[5])


async def _read_line(process: trio.Process, prefix: str) -> str:
    """The rest of the first line ``process`` prints that starts with ``prefix``.

    Cancellation: stops reading; the caller stops the process.
    """
    assert process.stdout is not None
    buffer = b""
    with trio.move_on_after(_START_TIMEOUT):
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(prefix.encode()):
                    return line.decode().removeprefix(prefix).strip()
            chunk = await process.stdout.receive_some(4096)
            if not chunk:
                break
            buffer += chunk
    raise LaunchError(f"{process.args!r} printed no {prefix} line")


@contextlib.asynccontextmanager
async def _started(argv: list[str], prefix: str) -> AsyncIterator[str]:
    """Run ``argv`` until the block ends; yield what it printed after ``prefix``.

    Cancellation: the process is terminated (shielded, bounded) before the cancel propagates.
    """
    process = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, cwd=str(REPO_ROOT))
    try:
        yield await _read_line(process, prefix)
    finally:
        with trio.CancelScope(shield=True):
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def _database(config: StoreConfig, home: Path) -> AsyncIterator[str]:
    """The ``DB_URL`` of ``config``'s store, served until the block ends."""
    if config.store == "sqlite":
        yield f"sqlite://{home}/faas.db"
        return
    async with _started([str(MONGO_PYTHON), str(MONGO_SERVER), "0"], "MONGO_URI=") as uri:
        if not config.delay_ms:
            yield uri
            return
        target = uri.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0]
        argv = [sys.executable, "-m", "load.latency_proxy", target]
        async with _started([*argv, "--delay-ms", str(config.delay_ms)], "PROXY=") as proxy:
            yield uri.replace(target, proxy, 1)


def _store_commands(text: str) -> tuple[float, float]:
    """``faas_store_commands_total`` with ``op="write"``, and over every op, in a
    ``/metrics`` text (0 if absent)."""
    writes = total = 0.0
    for line in text.splitlines():
        if line.startswith("faas_store_commands_total{"):
            total += float(line.split()[-1])
            if line.startswith('faas_store_commands_total{op="write"}'):
                writes += float(line.split()[-1])
    return writes, total


async def _burst(
    ctx: ScenarioContext, config: StoreConfig, total: int, result: ScenarioResult
) -> None:
    """Run the burst on the platform at ``ctx.url`` and add its figures to ``result``.

    Cancellation: blocks on the requests; the user may be left behind.
    """
    user = ctx.user("store_burst")
    job_ids: list[str] = []
    node = shutil.which("node") is not None

    async def submit_one(client: httpx.AsyncClient, index: int) -> bool:
        job_ids.append(await submit(client, user, "add", [4, 7]))
        return True

    async with ctx.client(MAX_CONCURRENCY) as client:
        await create_user(client, user)
        await register_function(client, user, "add", NODE_ADD if node else PY_ADD)
        writes_before, commands_before = _store_commands((await client.get("/metrics")).text)
        started = time.time()
        submitted = await drive(
            client,
            submit_one,
            label=f"{config.label}: submit",
            total=total,
            concurrency=MAX_CONCURRENCY,
            time_limit=ctx.count(120, 30),
            progress=ctx.progress,
        )
        completion = await await_jobs(
            ctx, client, job_ids, label="complete", time_limit=ctx.count(180, 30)
        )
        after_text = (await client.get("/metrics")).text
        e2e = sample_from_records(
            f"{config.label}: end to end", completion.records, completion.missing, started
        )
        result.samples += [submitted, e2e]
        jobs = len(e2e.latencies_ms)
        result.figures[f"{config.label}: e2e jobs/s"] = jobs / e2e.elapsed_s if jobs else None
        result.figures[f"{config.label}: submit/s"] = submitted.summary().throughput
        if config.store == "mongo" and jobs:
            writes, commands = _store_commands(after_text)
            per_job = (writes - writes_before) / jobs
            result.figures[f"{config.label}: write round trips/job"] = round(per_job, 3)
            # Reads too: the waits for the jobs' ends, as the old API's clients poll.
            per_job = (commands - commands_before) / jobs
            result.figures[f"{config.label}: commands/job, reads included"] = round(per_job, 3)
        await delete_user(client, user)


async def store_burst(ctx: ScenarioContext) -> ScenarioResult:
    """The burst on every configuration of :data:`CONFIGURATIONS`.

    Cancellation: blocks on the platforms and requests; every process started is stopped.
    """
    result = ScenarioResult(
        "store_burst",
        f"old-API burst of {ctx.count(1000, 200):,} add(4, 7) at concurrency 16 on each store "
        "configuration (a platform each)",
    )
    for config in CONFIGURATIONS if not ctx.quick else QUICK_CONFIGURATIONS:
        if config.store == "mongo" and not MONGO_PYTHON.exists():
            missing = f"{MONGO_PYTHON} missing: make mongo-venv"
            result.notes.append(f"{config.label}: not run ({missing})")
            continue
        with tempfile.TemporaryDirectory(prefix="faas-store-") as tmp:
            home = Path(tmp)
            async with _database(config, home) as db_url:
                settings = {
                    "DB_URL": db_url,
                    "FAAS_SQLITE_SYNC": config.sqlite_sync,
                    "FAAS_WORKERS": str(config.workers),
                    "FAAS_WORKERS_MIN": str(config.workers),
                    "FAAS_WORKERS_MAX": str(config.workers),
                    "FAAS_WORKER_CONCURRENCY": str(config.slots),
                    **RAISED_LIMITS,
                }
                log = home / "platform.log"
                async with running_platform(home / "home", log, settings) as platform:
                    on_it = dataclasses.replace(ctx, url=platform.url, platform=platform)
                    await _burst(on_it, config, ctx.count(1000, 200), result)
    return result
