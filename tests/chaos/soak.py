"""The chaos soak: the whole platform under a steady mixed load while a seeded random
schedule kills, stops and restarts its processes; then every promise is checked.

    make chaos                          # 5 minutes
    make chaos ARGS="--minutes 30 --seed 1234 --rate 10"

(or ``cd tests && python -m chaos.soak ...``). It runs ``faas-trio up`` with three workers
on a FAAS_HOME of its own and free ports; :mod:`.mixed_load` calls it ``--rate`` times a
second; :mod:`.faults` injects one fault after the other (``kill -9`` or SIGSTOP/SIGCONT of a
worker, the jqmanager, the dbmanager or the frontend; ``kill -9`` or SIGTERM of ``faas-trio
up`` itself, then a new one on the same FAAS_HOME), each after a random calm once the
platform recovered from the last. Recovery is the time from the fault (the SIGCONT, for a
stop) until a call runs end to end again. The end checks (:mod:`.checks`) then look at every
job, every user's time, what was left behind, and the memory of every long-lived process.

The seed and the schedule are printed first, the report last; the exit code is 0 only when
nothing was found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from e2e.conftest import roles_running

from load.ports import free_ports

from .checks import Sample, check_jobs, check_leftovers, check_rss, rss_kb
from .faults import Up, inject, schedule
from .mixed_load import MixedLoad, probe, register, users_for

#: Bound on a fresh call running end to end after a fault.
RECOVERY_TIMEOUT = 60.0
#: Bound on every accepted job reaching its final state once the load stopped.
SETTLE_TIMEOUT = 120.0
SAMPLE_INTERVAL = 2.0
WORKERS = 3
UID_COUNT = 100


def platform_env(home: Path, uid_base: int) -> tuple[dict[str, str], str]:
    http_port, db_port, jq_port = free_ports(3)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FAAS_") and k not in ("PORT", "DB_URL", "JQ_URL")
    }
    env.update(
        FAAS_HOME=str(home),
        PORT=str(http_port),
        FAAS_DB_PORT=str(db_port),
        FAAS_JQ_PORT=str(jq_port),
        FAAS_WORKERS=str(WORKERS),
        FAAS_WORKERS_MIN=str(WORKERS),
        FAAS_WORKERS_MAX=str(WORKERS),
        FAAS_USER_RATE="1000000",
        FAAS_USER_MAX_ACTIVE="100000",
        FAAS_SANDBOX_UID_BASE=str(uid_base),
        FAAS_SANDBOX_UID_COUNT=str(UID_COUNT),
        PYTHONUNBUFFERED="1",
    )
    return env, f"http://127.0.0.1:{http_port}"


async def _sample(up: Up, samples: list[Sample], workers: set[int]) -> None:
    """Record every role process's RSS each :data:`SAMPLE_INTERVAL` s, forever.

    Cancellation: stops sampling.
    """
    while True:
        now = time.monotonic()
        found = roles_running(up.home)
        if up.proc is not None and up.proc.poll() is None:
            found["up"] = [up.pid]
        workers.update(found.get("worker", []))
        for role, pids in found.items():
            for pid in pids:
                if (kb := rss_kb(pid)) is not None:
                    samples.append(Sample(now, role, pid, kb))
        await trio.sleep(SAMPLE_INTERVAL)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def soak(
    seconds: float, seed: int, rate: float, root: Path, emit: Callable[[str], None] = print
) -> tuple[list[str], dict[str, Any]]:
    """Run the soak in ``root`` (FAAS_HOME and logs); the problems found and the report.

    Cancellation: the platform is stopped (SIGKILL if need be) before ``Cancelled``
    propagates.
    """
    home = root / "home"
    uid_base = 500_000 + (os.getpid() % 1000) * UID_COUNT
    env, url = platform_env(home, uid_base)
    plan = schedule(seed, seconds)
    emit(f"chaos soak: seed {seed}, {seconds:g} s, {rate:g} calls/s, FAAS_HOME {home}")
    emit("schedule (calm before each fault, then the fault): " + "; ".join(map(str, plan)))
    rng = random.Random(seed + 1)
    load = MixedLoad(url, users_for(rate, seconds), rng)
    report: dict[str, Any] = {"seed": seed, "seconds": seconds, "rate": rate}
    problems: list[str] = []
    injected: list[tuple[str, str, float | None]] = []
    samples: list[Sample] = []
    workers: set[int] = set()
    up = Up(home, env, url)
    up.start()
    try:
        await up.ready()
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            await register(http, load.users)
        began = time.monotonic()
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample, up, samples, workers)
            nursery.start_soon(load.run, rate, stop)
            for fault in plan:
                await trio.sleep(fault.calm)
                elapsed = time.monotonic() - began
                if elapsed >= seconds:
                    break
                if fault.kind.endswith("-up") and elapsed > seconds / 2:
                    # Recoveries made the run slower than the schedule's estimate: keep the
                    # second half free of whole-platform restarts, for the leak check.
                    emit(f"[{elapsed:6.1f}s] {fault.kind} skipped: past the first half")
                    continue
                what, since = await inject(up, fault)
                try:
                    recovery: float | None = await probe(url, since, RECOVERY_TIMEOUT)
                except trio.TooSlowError:
                    recovery = None
                    problems.append(f"{what}: no recovery within {RECOVERY_TIMEOUT:g} s")
                kind = fault.kind if not fault.role else f"{fault.kind} {fault.role}"
                injected.append((kind, what, recovery))
                took = "none" if recovery is None else f"{recovery:.2f} s"
                emit(f"[{time.monotonic() - began:6.1f}s] {what}; recovered in {took}")
            stop.set()
            await trio.sleep(SAMPLE_INTERVAL)  # a last sample at the end of the load
            nursery.cancel_scope.cancel()
        report["load"] = {"calls": sum(load.ops.values()), "by kind": dict(load.ops)}
        report["accepted"] = len(load.accepted)
        report["refused"] = dict(load.refused)
        problems += [f"unclear answer: {u}" for u in load.unclear[:20]]
        problems += await check_jobs(url, load, SETTLE_TIMEOUT, report)
    finally:
        with trio.CancelScope(shield=True):
            code = await up.stop()
    if code != 0:
        problems.append(f"the last faas-trio up exited with {code} on SIGTERM")
    await trio.sleep(0.5)  # the kernel reaps what the stop killed
    problems += check_leftovers(home, workers, uid_base, UID_COUNT, report)
    problems += check_rss(samples, min(60.0, seconds / 8), report)
    report["faults injected"] = len(injected)
    recovery_by_kind: dict[str, str] = {}
    for kind in sorted({k for k, _, _ in injected}):
        times = [r for k, _, r in injected if k == kind and r is not None]
        count = sum(1 for k, _, _ in injected if k == kind)
        recovery_by_kind[kind] = (
            f"{count}x, p50 {statistics.median(times):.2f} s, max {max(times):.2f} s"
            if times
            else f"{count}x, never recovered"
        )
    report["recovery by fault"] = recovery_by_kind
    report["problems"] = problems
    (root / "report.json").write_text(json.dumps(report, indent=2, default=str))
    emit("chaos soak report:\n" + json.dumps(report, indent=2, default=str))
    return problems, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--rate", type=float, default=8.0, help="calls a second")
    parser.add_argument("--dir", type=Path, default=None, help="keep state and logs here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    root = args.dir or Path(tempfile.mkdtemp(prefix="faas-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    problems, _ = trio.run(soak, args.minutes * 60, seed, args.rate, root)
    if problems:
        print(f"chaos soak FAILED ({len(problems)} problems); logs in {root}", file=sys.stderr)
        return 1
    print(f"chaos soak passed: nothing lost (seed {seed})")
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
