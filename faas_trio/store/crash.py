"""A test hook that kills the store's process at a named point, to show what a crash there
leaves behind (the fault tests use it; nothing sets it in a deployment).

``FAAS_TEST_CRASH=<point>:<marker file>``: the first process to reach ``point`` creates the
marker file and kills itself with SIGKILL; once the marker exists the point does nothing, so
the restarted process goes on. Points: ``finish-before-time``, between a job's final write
and the write adding its time to its user (within one transaction on SQLite).
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "FAAS_TEST_CRASH"


def crash_point(point: str) -> None:
    """Die here (SIGKILL) if :data:`CRASH_ENV` names ``point`` and its marker file does not
    exist yet."""
    hook = os.environ.get(CRASH_ENV)
    if not hook or not hook.startswith(f"{point}:"):
        return
    try:
        with open(hook.partition(":")[2], "x"):
            pass
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
