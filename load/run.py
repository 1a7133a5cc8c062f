"""The load-test kit's command line: ``python -m load.run`` (or ``python load/run.py``).

Without ``--url`` it starts ``python -m faas_trio up`` itself on free ports with a temporary
``FAAS_HOME`` and stops it with SIGTERM at the end; with ``--url`` it loads that platform
(loopback addresses only). ``baseline`` always runs against its own bare app, before the
platform starts, so the two never compete for the CPUs; ``store_burst`` starts its own
platforms (one per store configuration) after that platform is stopped. The report goes to
``load/reports/<UTC timestamp>/`` unless ``--out`` says otherwise. Every scenario is bounded
in count and time, and is also stopped by a hard cap.
"""

# ruff: noqa: E402 (run as a script, the repository root must be on sys.path before imports)
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # ``python load/run.py`` puts load/ first on sys.path; the package needs the repo root.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import trio

from faas_trio.core.settings_workers import default_workers_max
from load.api import SetupError
from load.cpu import component_cpu_seconds, cpu_per_item_ms
from load.generator import check_loopback
from load.machine import describe_machine
from load.processes import RAISED_LIMITS, LaunchError, Platform, running_platform
from load.profiler import profiling
from load.report import write_report
from load.scenarios import OWN_PLATFORMS, SCENARIOS, ScenarioContext, ScenarioResult

__all__ = ["RunOptions", "main", "parse_args", "run_kit"]

#: Hard cap on one scenario, seconds (full run, quick run).
SCENARIO_CAP = (900.0, 60.0)


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for."""

    url: str | None
    scenarios: tuple[str, ...]
    quick: bool
    out: Path
    workers: int
    max_workers: int
    progress: bool
    #: Sent as ``Authorization: Bearer`` to a platform in ``FAAS_AUTH=keys`` mode.
    api_key: str | None = None
    #: Record py-spy profiles of the components during each scenario (a platform it started).
    profile: bool = False

    def platform_settings(self) -> dict[str, str]:
        """The ``FAAS_*`` settings of a platform the kit starts. The queue and call-rate
        limits are raised (unless set in the environment) so that the load is not refused."""
        settings = {k: os.environ.get(k, v) for k, v in RAISED_LIMITS.items()}
        settings["FAAS_WORKERS"] = str(self.workers)
        settings["FAAS_WORKERS_MAX"] = str(self.max_workers)
        return settings

    def max_slots(self) -> int:
        """The most jobs the platform may run at once: workers x slots per worker."""
        return self.max_workers * int(os.environ.get("FAAS_WORKER_CONCURRENCY", "4"))


def _default_out() -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(__file__).resolve().parent / "reports" / stamp


def parse_args(argv: Sequence[str] | None = None) -> RunOptions:
    """The options in ``argv`` (default ``sys.argv[1:]``); exits 2 on a bad option."""
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="load this platform (loopback only) instead of starting one")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run < 60 s")
    parser.add_argument("--out", type=Path, help="report folder (default load/reports/<UTC ts>/)")
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="FAAS_WORKERS of a platform the kit starts (default: nproc)",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        help="FAAS_WORKERS_MAX of a platform the kit starts (default: the platform's own, two "
        "per CPU); with --url, the target's (default 64: deep_queue needs it to hold every "
        "worker busy)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("FAAS_ADMIN_KEY") or None,
        help="bearer key for a platform that requires keys (default: $FAAS_ADMIN_KEY)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no live line on stderr")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profiles of each component per scenario, in <out>/profiles/",
    )
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.scenarios.split(",") if n.strip())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    url = None
    if args.url:
        try:
            url = check_loopback(args.url)
        except ValueError as exc:
            parser.error(str(exc))
    # Keep the catalogue's order whatever order they were given in.
    ordered = tuple(n for n in SCENARIOS if n in names)
    return RunOptions(
        url=url,
        scenarios=ordered,
        quick=args.quick,
        out=args.out or _default_out(),
        workers=max(1, args.workers),
        max_workers=max(1, args.max_workers or (64 if url else default_workers_max("local", 1))),
        progress=not args.no_progress,
        api_key=args.api_key,
        profile=args.profile,
    )


async def _run_one(name: str, ctx: ScenarioContext) -> ScenarioResult:
    """Run scenario ``name`` under its hard cap; a failure becomes the result's ``failure``.

    Cancellation: blocks while the scenario runs; the scenario's own cleanup runs.
    """
    print(f"--- {name}", file=sys.stderr, flush=True)
    cap = SCENARIO_CAP[1] if ctx.quick else SCENARIO_CAP[0]
    try:
        with trio.move_on_after(cap):
            return await SCENARIOS[name](ctx)
    except (SetupError, LaunchError, httpx.HTTPError) as exc:
        result = ScenarioResult(name, "")
        result.failure = f"{type(exc).__name__}: {exc}"
        return result
    result = ScenarioResult(name, "")
    result.failure = f"stopped by the kit's hard cap of {cap:g} s"
    return result


def _load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def _run_measured(
    name: str, ctx: ScenarioContext, platform: Platform, options: RunOptions
) -> ScenarioResult:
    """:func:`_run_one`, with each component's CPU per item (``cpu ms/item <role>``) and the
    machine's load average around it, and py-spy profiles when asked for.

    Cancellation: as :func:`_run_one`; the profilers are stopped first.
    """
    load_before = _load_average()
    cpu_before = component_cpu_seconds(platform.pid)
    if options.profile:
        async with profiling(platform.pid, options.out / "profiles", name) as notes:
            result = await _run_one(name, ctx)
        result.notes += notes
    else:
        result = await _run_one(name, ctx)
    # Requests (or map items) that finished, not those planned: a phase may stop at its limit.
    items = sum(len(sample.finish_offsets) for sample in result.samples)
    for role, ms in cpu_per_item_ms(cpu_before, component_cpu_seconds(platform.pid), items).items():
        result.figures[f"cpu ms/item {role}"] = ms
    result.figures["load average before"] = load_before
    result.figures["load average after"] = _load_average()
    return result


async def _run_platform_scenarios(
    options: RunOptions, names: Sequence[str], results: dict[str, ScenarioResult], run_id: str
) -> None:
    async def run_all(url: str, platform: Platform | None) -> None:
        ctx = ScenarioContext(
            url,
            options.quick,
            options.progress,
            platform,
            run_id,
            options.max_slots(),
            api_key=options.api_key,
        )
        for name in names:
            if platform is None:
                results[name] = await _run_one(name, ctx)
            else:
                results[name] = await _run_measured(name, ctx, platform, options)

    if options.url is not None:
        await run_all(options.url, None)
        return
    with tempfile.TemporaryDirectory(prefix="faas-load-") as home:
        try:
            async with running_platform(
                Path(home), options.out / "platform.log", options.platform_settings()
            ) as platform:
                print(f"--- platform up at {platform.url}", file=sys.stderr, flush=True)
                await run_all(platform.url, platform)
        except LaunchError as exc:
            for name in names:
                if name not in results:
                    results[name] = ScenarioResult(name, "")
                    results[name].failure = f"the platform did not start: {exc}"


def _target_text(options: RunOptions, platform_used: bool) -> str:
    if not platform_used:
        return "baseline app only"
    if options.url is not None:
        return options.url
    settings = options.platform_settings()
    return (
        "platform started by the kit (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"
    )


async def run_kit(options: RunOptions) -> Path:
    """Run the chosen scenarios and write the report; answers the report's path.

    Cancellation: blocks while scenarios run; a platform the kit started is stopped (SIGTERM,
    bounded) before the cancel propagates, and no report is written.
    """
    options.out.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(3)
    started = time.time()
    results: dict[str, ScenarioResult] = {}
    if "baseline" in options.scenarios:
        ctx = ScenarioContext(
            options.url or "http://127.0.0.1", options.quick, options.progress, None, run_id
        )
        results["baseline"] = await _run_one("baseline", ctx)
    platform_names = [n for n in options.scenarios if n not in OWN_PLATFORMS]
    if platform_names:
        await _run_platform_scenarios(options, platform_names, results, run_id)
    if "store_burst" in options.scenarios:
        if options.url is not None:
            results["store_burst"] = ScenarioResult("store_burst", "")
            results["store_burst"].failure = "starts platforms of its own: not run with --url"
        else:
            ctx = ScenarioContext("http://127.0.0.1", options.quick, options.progress, None, run_id)
            results["store_burst"] = await _run_one("store_burst", ctx)
    run_info = {
        "started (UTC)": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "duration": f"{time.time() - started:.1f} s",
        "target": _target_text(options, bool(platform_names)),
        "mode": "quick" if options.quick else "full",
        "scenarios": ", ".join(options.scenarios),
    }
    return write_report(options.out, results, describe_machine(), run_info)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, run the kit, print the report's path; exit 130 on Ctrl-C."""
    options = parse_args(argv)
    try:
        report = trio.run(run_kit, options)
    except KeyboardInterrupt:
        print("\ninterrupted: no report written", file=sys.stderr)
        raise SystemExit(130) from None
    print(report)


if __name__ == "__main__":
    main()
