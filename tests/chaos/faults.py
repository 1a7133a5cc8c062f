"""The soak's faults: a seeded random schedule, and the platform they are done to.

:func:`schedule` draws the whole sequence from the seed before the run starts, so a failing
run is replayed with the same seed (the timing of each fault still depends on how fast the
platform recovered from the previous one). :class:`Up` is one ``faas-trio up`` on a FAAS_HOME
that outlives it: a fault may kill it outright and start it again on the same home.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio
from e2e.conftest import processes_of, roles_running

#: Fault kind -> weight. ``kill``: SIGKILL one process of a role; ``stop``: SIGSTOP it for
#: a while, then SIGCONT; ``kill-up``: SIGKILL ``faas-trio up`` itself (its children must
#: die with it), then start it again on the same FAAS_HOME; ``restart-up``: SIGTERM it,
#: then start it again.
KINDS = {"kill": 9, "stop": 4, "kill-up": 1, "restart-up": 1}
ROLES = ("worker", "worker", "worker", "jqmanager", "dbmanager", "frontend")
#: Bound on the supervisor's children dying once it was SIGKILLed.
ORPHAN_TIMEOUT = 3.0
#: Bound on ``faas-trio up`` exiting after SIGTERM (it promises 5 s).
STOP_TIMEOUT = 6.0
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Fault:
    #: Seconds of calm before it, counted from the platform's recovery from the last fault.
    calm: float
    kind: str
    #: The role it is done to (``kill``, ``stop``); empty for the whole platform.
    role: str = ""
    #: Which process of the role, as an index into its pids in order.
    pick: int = 0
    #: How long a ``stop`` lasts, seconds.
    pause: float = 0.0

    def __str__(self) -> str:
        if self.kind == "stop":
            return f"+{self.calm:.1f}s stop {self.role}[{self.pick}] {self.pause:.1f}s"
        if self.role:
            return f"+{self.calm:.1f}s {self.kind} {self.role}[{self.pick}]"
        return f"+{self.calm:.1f}s {self.kind}"


def schedule(seed: int, seconds: float) -> list[Fault]:
    """More faults than a run of ``seconds`` can use (the run stops when its time is up).
    Whole-platform restarts fall in the first half only, so the leak check of the second
    half sees processes that lived through it."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    elapsed = 0.0
    while elapsed < seconds:
        calm = round(rng.uniform(2.0, 7.0), 1)
        kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
        if kind.endswith("-up") and elapsed > seconds / 2:
            kind = "kill"
        role = rng.choice(ROLES) if kind in ("kill", "stop") else ""
        pause = round(rng.uniform(0.5, 5.0), 1) if kind == "stop" else 0.0
        faults.append(Fault(calm, kind, role, rng.randrange(8), pause))
        elapsed += calm + 1.0  # a fault and its recovery take at least about a second
    return faults


class Up:
    """``faas-trio up`` with ``env`` on ``home``; output appended to ``home/../up.log``."""

    def __init__(self, home: Path, env: dict[str, str], url: str) -> None:
        self.home = home
        self.env = env
        self.url = url
        self.log = home.parent / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int | None] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faas_trio", "up"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def ready(self) -> None:
        """Wait until ``/readyz`` answers 200.

        Raises:
            RuntimeError: it exited, or was not ready within :data:`START_TIMEOUT`.

        Cancellation: stops waiting.
        """
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            with trio.move_on_after(START_TIMEOUT):
                while True:
                    assert self.proc is not None
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"faas-trio up exited with {self.proc.returncode}")
                    try:
                        if (await http.get("/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.1)
        raise RuntimeError(f"faas-trio up not ready within {START_TIMEOUT:g} s")

    async def stop(self) -> int | None:
        """SIGTERM; its exit code, or None when it had to be killed after
        :data:`STOP_TIMEOUT`.

        Cancellation: not meant to be cancelled; the process is killed if it is.
        """
        assert self.proc is not None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            with trio.move_on_after(STOP_TIMEOUT):
                while proc.poll() is None:  # noqa: ASYNC110 (a Popen has no event)
                    await trio.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.exits.append(None)
            else:
                self.exits.append(proc.returncode)
        return self.exits[-1]

    async def kill(self) -> float | None:
        """SIGKILL it; the seconds its children took to die with it (None: some outlived
        the bound, and were killed).

        Cancellation: stops waiting; children may outlive it then.
        """
        assert self.proc is not None
        began = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.exits.append(-signal.SIGKILL)
        with trio.move_on_after(ORPHAN_TIMEOUT):
            while processes_of(self.home):  # noqa: ASYNC110 (no event for the process table)
                await trio.sleep(0.02)
            return time.monotonic() - began
        for pid in processes_of(self.home):
            os.kill(pid, signal.SIGKILL)
        return None


def pid_for(up: Up, fault: Fault) -> int | None:
    pids = sorted(roles_running(up.home).get(fault.role, []))
    return pids[fault.pick % len(pids)] if pids else None


async def inject(up: Up, fault: Fault) -> tuple[str, float]:
    """Do ``fault``; what was done, and the instant (``time.monotonic()``) from which the
    platform's recovery counts: the kill, the SIGCONT, or the supervisor's kill or SIGTERM.

    Cancellation: a stopped process is continued before ``Cancelled`` propagates.
    """
    if fault.kind == "kill-up":
        at = time.monotonic()
        orphans_gone = await up.kill()
        up.start()
        gone = "not within 3 s" if orphans_gone is None else f"{orphans_gone:.2f} s"
        return f"kill -9 faas-trio up (children gone: {gone}), started again", at
    if fault.kind == "restart-up":
        at = time.monotonic()
        code = await up.stop()
        up.start()
        return f"faas-trio up stopped (exit {code}) and started again", at
    pid = pid_for(up, fault)
    if pid is None:
        return f"{fault.role}: none running, nothing done", time.monotonic()
    if fault.kind == "kill":
        os.kill(pid, signal.SIGKILL)
        return f"kill -9 {fault.role} (pid {pid})", time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        await trio.sleep(fault.pause)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return f"SIGSTOP {fault.role} (pid {pid}) for {fault.pause:.1f} s", time.monotonic()
