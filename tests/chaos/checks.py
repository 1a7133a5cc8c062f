"""The soak's end checks: jobs, accounting, leftovers, memory.

Each check returns a list of problems (empty: it holds) and adds its figures to a report
dict, so that the soak prints everything it found rather than stopping at the first failure.
"""

from __future__ import annotations

import fcntl
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio
from e2e.conftest import processes_of

from .mixed_load import CANCEL_USER, MixedLoad, wrong_outcome

#: The uid lock directory of :mod:`faas_trio.worker.sandbox.uids` when running as root.
UID_LOCK_DIR = Path("/run/faas-trio-uids")


async def _final(http: httpx.AsyncClient, job: str, bound: float) -> dict[str, Any] | None:
    """The final record of ``job`` (None: it does not exist), waiting up to ``bound`` s.

    Raises:
        trio.TooSlowError: still not final.

    Cancellation: stops waiting.
    """
    with trio.fail_after(bound):
        while True:
            try:
                reply = await http.get(f"/j/{job}/record?wait=5")
            except httpx.TransportError:
                await trio.sleep(0.5)
                continue
            if reply.status_code == 404:
                return None
            if reply.status_code == 200:
                record: dict[str, Any] = reply.json()["res"]
                if record["state"] not in ("queued", "running"):
                    return record
            else:
                await trio.sleep(0.5)


async def check_jobs(url: str, load: MixedLoad, bound: float, report: dict[str, Any]) -> list[str]:
    """Every accepted job and every job in a load user's list is final with its right
    outcome; a cancel answered 200 left no job; each load user's time is the sum of its
    jobs' durations.

    Cancellation: stops checking.
    """
    problems: list[str] = []
    records: dict[str, dict[str, Any] | None] = {}
    limiter = trio.CapacityLimiter(16)
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:

        async def settle(job: str) -> None:
            async with limiter:
                try:
                    records[job] = await _final(http, job, bound)
                except trio.TooSlowError:
                    problems.append(f"job {job}: not final {bound:g} s after the load ended")

        listed: dict[str, list[str]] = {}
        for user in [*load.users, CANCEL_USER]:
            jobs = (await http.get(f"/u/{user}/jobs?limit=1000")).json()["res"]
            listed[user] = [j["id"] for j in jobs]
        everything = set(load.accepted).union(*listed.values())
        async with trio.open_nursery() as nursery:
            for job in everything:
                nursery.start_soon(settle, job)
        lost = [
            j for j in load.accepted
            if records.get(j) is None and load.accepted[j] != CANCEL_USER and j in records
        ]  # fmt: skip
        problems += [f"job {j}: accepted, then gone" for j in lost]
        # A deleted job must be gone from the store. (A ``?wait`` read may still answer its
        # record from the jqmanager's cache of recent completions: counted, not failed.)
        stale = 0
        for job in load.cancelled:
            if (await http.get(f"/j/{job}/record")).status_code != 404:
                problems.append(f"job {job}: cancelled and deleted (200), still stored")
            elif records.get(job) is not None:
                stale += 1
            records.pop(job, None)
        report["deleted jobs still answered by a ?wait read"] = stale
        outcomes: dict[str, int] = {}
        for job, record in records.items():
            if record is None:
                continue
            outcomes[record["state"]] = outcomes.get(record["state"], 0) + 1
            if (why := wrong_outcome(record)) is not None:
                problems.append(f"job {job} ({record['function']}{record['args']}): {why}")
        worker_lost = sum(
            1 for r in records.values() if r is not None and "worker lost" in (r["error"] or "")
        )
        for user in load.users:
            spent = (await http.get(f"/u/{user}/time")).json()["res"]
            durations = sum((records[j] or {}).get("duration_ms") or 0.0 for j in listed[user])
            if not math.isclose(spent, durations, rel_tol=1e-6, abs_tol=1e-3):
                problems.append(
                    f"user {user}: time {spent:.3f} ms != sum of its jobs' {durations:.3f} ms"
                )
    report["jobs checked"] = sum(1 for r in records.values() if r is not None)
    report["final states"] = outcomes
    report["failed after losing every attempt's worker"] = worker_lost
    report["accepted then lost"] = len(lost)
    report["rerun after a lost worker"] = sum(
        1 for r in records.values() if r is not None and r["attempts"] > 1
    )
    return problems


def _sandbox_processes(uid_base: int, uid_count: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if uid_base <= int(line.split()[1]) < uid_base + uid_count:
                    found.append(int(entry.name))
                break
    return found


def _zygotes_of(workers: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"zygote.py") for a in argv) and b"--parent" in argv:
            parent = argv[argv.index(b"--parent") + 1]
            if parent.isdigit() and int(parent) in workers:
                found.append(int(entry.name))
    return found


def _held_uid_claims(uid_base: int, uid_count: int) -> list[int]:
    held = []
    for uid in range(uid_base, uid_base + uid_count):
        path = UID_LOCK_DIR / str(uid)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(uid)
        finally:
            os.close(fd)
    return held


def check_leftovers(
    home: Path, workers: set[int], uid_base: int, uid_count: int, report: dict[str, Any]
) -> list[str]:
    """Once the platform stopped: no process of it, no zygote of any of its workers, no
    sandbox process or uid claim in its uid range, no scratch directory, no cgroup of it."""
    problems = []
    if pids := processes_of(home):
        problems.append(f"processes left: {pids}")
    if pids := _zygotes_of(workers):
        problems.append(f"zygotes left: {pids}")
    if pids := _sandbox_processes(uid_base, uid_count):
        problems.append(f"sandbox processes left: {pids}")
    if uids := _held_uid_claims(uid_base, uid_count):
        problems.append(f"uid claims still held: {uids}")
    scratch = home / "scratch"
    if scratch.exists() and (dirs := sorted(p.name for p in scratch.iterdir())):
        problems.append(f"scratch dirs left: {dirs[:10]}")
    cgroups = [p for p in Path("/sys/fs/cgroup").glob("**/*faas*") if str(home) in _owner(p)]
    if cgroups:
        problems.append(f"cgroups left: {cgroups[:5]}")
    report["leftovers"] = "none" if not problems else problems
    return problems


def _owner(cgroup: Path) -> str:
    """What a cgroup says about who made it: the environment of its first process, if any."""
    try:
        pid = (cgroup / "cgroup.procs").read_text().split()[0]
        return Path(f"/proc/{pid}/environ").read_text(errors="replace")
    except (OSError, IndexError):
        return ""


@dataclass(frozen=True)
class Sample:
    at: float
    role: str
    pid: int
    rss_kb: int


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


#: A process's RSS may grow this much between its first and last window and count as flat.
RSS_SLACK_RATIO = 0.25
RSS_SLACK_KB = 12 * 1024
#: Samples of a process's first seconds are left out: imports and warm-up.
RSS_WARMUP = 15.0


def check_rss(samples: list[Sample], window: float, report: dict[str, Any]) -> list[str]:
    """Every long-lived process's RSS over its last ``window`` seconds is within the slack of
    its first ``window`` (after the warm-up); processes that did not live long enough for two
    windows are not judged."""
    problems = []
    by_process: dict[tuple[str, int], list[Sample]] = {}
    for s in samples:
        by_process.setdefault((s.role, s.pid), []).append(s)
    judged = []
    for (role, pid), series in sorted(by_process.items()):
        born = series[0].at + RSS_WARMUP
        end = series[-1].at
        if end - born < 2 * window:
            continue
        first = statistics.median(s.rss_kb for s in series if born <= s.at < born + window)
        last = statistics.median(s.rss_kb for s in series if s.at > end - window)
        judged.append(f"{role} {first / 1024:.0f}->{last / 1024:.0f} MiB")
        if last > first * (1 + RSS_SLACK_RATIO) + RSS_SLACK_KB:
            problems.append(
                f"{role} (pid {pid}) grew from {first / 1024:.1f} to {last / 1024:.1f} MiB"
            )
    report["RSS first->last window"] = judged or "no process lived long enough to judge"
    return problems
