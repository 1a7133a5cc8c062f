"""CPU time each component of a platform the kit started spends, read from ``/proc``.

Wall-clock latencies depend on how busy the machine is; the CPU a component burns per job
much less so, which makes it the figure to compare runs on a shared machine by. A component
is a direct child of the ``faas_trio up`` supervisor; every process below it (a worker's
zygote and sandboxes) counts as that component's. Processes that end between two readings
are missed, so the figures are a floor (a warm platform forks almost nothing).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from .processes import descendants

__all__ = [
    "component_cpu_seconds", "component_pids", "cpu_per_item_ms", "process_cpu_seconds",
]  # fmt: skip

#: Clock ticks per second, the unit of ``utime``/``stime`` in ``/proc/<pid>/stat``.
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return stat.rsplit(")", 1)[1].split()


def _role(pid: int) -> str | None:
    """``frontend`` for a process run as ``python -m faas_trio frontend``, else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv if a]
    for first, second in zip(words, words[1:], strict=False):
        if first == "faas_trio" or first.endswith("/faas-trio"):
            return second
    return None


def component_pids(supervisor: int) -> dict[int, str]:
    """The supervisor's direct children and their roles (``worker`` for each worker)."""
    found: dict[int, str] = {}
    for pid in descendants(supervisor):
        fields = _stat_fields(pid)
        if fields is not None and int(fields[1]) == supervisor:
            role = _role(pid)
            if role is not None:
                found[pid] = role
    return found


def component_cpu_seconds(supervisor: int) -> dict[str, float]:
    """User + system CPU seconds so far per role (workers summed), each process below a
    component counted as the component's; ``supervisor`` is counted as ``supervisor``."""
    tops = component_pids(supervisor)
    totals: dict[str, float] = defaultdict(float)
    for top, role in tops.items():
        for pid in {top, *descendants(top)}:
            fields = _stat_fields(pid)
            if fields is not None:
                # utime and stime are fields 14 and 15 (index 11, 12 after the name).
                totals[role] += (int(fields[11]) + int(fields[12])) / _TICKS
    own = _stat_fields(supervisor)
    if own is not None:
        totals["supervisor"] += (int(own[11]) + int(own[12])) / _TICKS
    return dict(totals)


def process_cpu_seconds(pid: int, *, below: bool = False) -> float:
    """User + system CPU seconds of ``pid`` so far, or (``below``) of the live processes
    below it only."""
    pids = descendants(pid) if below else {pid}
    total = 0.0
    for each in pids:
        fields = _stat_fields(each)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def cpu_per_item_ms(
    before: dict[str, float], after: dict[str, float], items: int
) -> dict[str, float]:
    """Milliseconds of CPU per item by role between two readings, plus ``all``."""
    if items <= 0:
        return {}
    spent = {role: after[role] - before.get(role, 0.0) for role in after}
    figures = {role: seconds * 1000.0 / items for role, seconds in sorted(spent.items())}
    figures["all"] = sum(spent.values()) * 1000.0 / items
    return figures
