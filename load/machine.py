"""A description of the machine a run was measured on (Linux ``/proc``)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

__all__ = ["describe_machine"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def describe_machine() -> dict[str, str]:
    """CPUs (all, and those this process may use), CPU model, memory, OS and Python."""
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpus": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "memory": _memory_total(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }
