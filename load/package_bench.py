"""Cold start of a function that imports a heavy package, three ways, and the memory of warm
sandboxes: ``python -m load.package_bench [--package sympy] [--cold N]``.

The package's environment is resolved by the dbmanager's builder and installed by the
worker's :class:`~faas_trio.worker.envs.Environments`, from the index this machine reaches
(``FAAS_PIP_INDEX_URL`` / ``FAAS_PIP_FIND_LINKS``, else pip's own settings); with no index
reachable it says so and stops. Then, p50/p99 over ``--cold`` starts each of:

- *fresh interpreter*: a new ``python3 -I -S`` that imports the package and exits (what a
  platform without zygotes pays per cold start);
- *stdlib zygote, import per sandbox*: a sandbox forked from a zygote that has only the
  standard library loaded, whose function imports the package as it loads;
- *environment zygote, pre-imported*: a sandbox forked from the environment's zygote, which
  imported the package once, before it forked anything.

Each cold start is a new function version (a new sandbox), timed from the acquire to the end
of the first call, and killed after. Then the memory of 10 warm sandboxes of one function,
held at once: the sum of their runners' PSS (shared pages split between sharers) and each
one's USS (pages only it has). It prints figures; it checks nothing. Run it as root to
measure confined sandboxes, as the platform runs them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import trio

from faas_trio.core.messages import SetBuild
from faas_trio.core.packages import PipSource
from faas_trio.core.records import Build, BuildState, Function, Runtime
from faas_trio.dbmanager.builds import Builder, BuildSettings
from faas_trio.worker.envs import Environments
from faas_trio.worker.pool import Checkout, WarmPool
from faas_trio.worker.sandbox.protocol import CallRequest
from faas_trio.worker.sandbox.spawn import SpawnSettings

from .stats import percentile

__all__ = ["main"]

_WARM_SANDBOXES = 10


async def _resolve(python: str, package: str) -> Build:
    """The ready build of ``package`` for ``python``, as the dbmanager makes it.

    Cancellation: the build (pip) is killed.
    """
    builds: list[Build] = []

    async def record(op: SetBuild) -> bool:
        builds.append(op.build)
        return True

    function = _function(package, 0, "", requirements=[package], build=Build())
    async with trio.open_nursery() as nursery:
        builder = Builder(nursery, BuildSettings(python, PipSource.from_env()), record)
        builder.start(function)
    return builds[-1]


def _function(package: str, version: int, source: str, **fields: object) -> Function:
    return Function(
        user="bench", name="heavy", source=source, runtime=Runtime.PYTHON, timeout=60.0,
        memory_mb=1024, version=version, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _fresh(python: str, env: Path, package: str) -> float:
    """Milliseconds for a new interpreter to start, import ``package`` and exit."""
    code = f"import sys; sys.path.insert(0, {str(env)!r}); import {package}"
    started = time.perf_counter()
    subprocess.run([python, "-I", "-S", "-c", code], check=True)
    return (time.perf_counter() - started) * 1000.0


async def _cold(pool: WarmPool, function: Function) -> float:
    """Milliseconds for acquire (a new sandbox, the source loaded) plus the first call.

    Cancellation: the sandbox is killed and reaped.
    """
    started = time.perf_counter()
    checkout = await pool.acquire(function)
    try:
        call = CallRequest(args="[4, 7]", timeout=60.0, result_cap=1 << 20)
        reply = await checkout.sandbox.request(call)
        elapsed = (time.perf_counter() - started) * 1000.0
        if reply.text != "11":
            raise RuntimeError(f"unexpected reply {reply!r}")
    finally:
        await pool.release(checkout, reusable=False)
    return elapsed


def _memory_kib(keeper: int) -> tuple[int, int]:
    """(PSS, USS) in KiB of the runner(s) under the sandbox's keeper."""
    pss = uss = 0
    children = Path(f"/proc/{keeper}/task/{keeper}/children").read_text().split()
    for pid in children:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            field, _, rest = line.partition(":")
            if field == "Pss":
                pss += int(rest.split()[0])
            elif field in ("Private_Clean", "Private_Dirty"):
                uss += int(rest.split()[0])
    return pss, uss


async def _measure(
    settings: SpawnSettings, envs: Environments, build: Build, package: str, cold: int, *,
    preload: bool,
) -> tuple[list[float], tuple[int, list[int]]]:  # fmt: skip
    """Cold starts, then (PSS total, USS each) of 10 warm sandboxes.

    Cancellation: every sandbox is killed and reaped.
    """
    source = f"import {package}\n\ndef heavy(a, b):\n    return a + b\n"
    async with trio.open_nursery() as nursery:
        pool = WarmPool(
            nursery, settings, ttl=600.0, max_warm=_WARM_SANDBOXES + 2, init_timeout=60.0,
            default_memory_mb=1024, envs=envs, preload=preload,
        )  # fmt: skip
        try:

            def version(n: int) -> Function:
                return _function(package, n, source, requirements=[package], build=build)

            await _cold(pool, version(0))  # one-time costs: the zygote's start
            times = [await _cold(pool, version(n)) for n in range(1, cold + 1)]
            held: list[Checkout] = [
                await pool.acquire(version(cold + 1)) for _ in range(_WARM_SANDBOXES)
            ]
            memory = [_memory_kib(checkout.sandbox.pid) for checkout in held]
            for checkout in held:
                await pool.release(checkout, reusable=False)
        finally:
            await pool.aclose()
        nursery.cancel_scope.cancel()
    return times, (sum(p for p, _ in memory), [u for _, u in memory])


def _line(label: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    assert p50 is not None and p99 is not None
    return f"{label:38} n={len(values):4}  p50={p50:8.1f} ms  p99={p99:8.1f} ms"


async def _run(python: str, package: str, cold: int, home: Path) -> None:
    """Cancellation: stops between measurements; every sandbox is killed and reaped."""
    build = await _resolve(python, package)
    if build.state is not BuildState.READY:
        print(f"skipped: {package} cannot be resolved from this machine's index: {build.error}")
        return
    envs = Environments(
        home / "envs", python, PipSource.from_env(), max_bytes=10 << 30, install_timeout=600
    )
    env = await envs.ensure(build)
    settings = SpawnSettings(python=python, node=None, scratch_root=home / "scratch", log_cap=4096)
    print(f"confined: {settings.confined}  python: {python}  package: {package}")
    print(f"environment {env.id}: {', '.join(line.split()[0] for line in build.resolved)}")
    fresh = [await trio.to_thread.run_sync(_fresh, python, env.path, package) for _ in range(cold)]
    print(_line("fresh interpreter (start + import)", fresh))
    stdlib, stdlib_memory = await _measure(settings, envs, build, package, cold, preload=False)
    print(_line("stdlib zygote, import per sandbox", stdlib))
    warm, warm_memory = await _measure(settings, envs, build, package, cold, preload=True)
    print(_line("environment zygote, pre-imported", warm))
    for label, (pss, uss) in (
        ("import per sandbox", stdlib_memory), ("pre-imported", warm_memory),
    ):  # fmt: skip
        print(
            f"{_WARM_SANDBOXES} warm sandboxes, {label:18}: PSS {pss / 1024:7.1f} MiB in all,"
            f" USS {sum(uss) / len(uss) / 1024:6.1f} MiB each"
        )


def main() -> None:
    """Parse the options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="sympy", help="the heavy package to import")
    parser.add_argument("--cold", type=int, default=30, help="cold starts per way")
    parser.add_argument("--python", default="/usr/bin/python3", help="the sandboxes' python")
    args = parser.parse_args()
    # Sandbox uids must reach the environment: a folder of its own under /tmp, mode 0755.
    home = Path(tempfile.mkdtemp(prefix="package-bench-"))
    os.chmod(home, 0o755)
    try:
        trio.run(_run, args.python, args.package, args.cold, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
