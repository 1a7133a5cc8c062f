"""What confinement this worker can give its sandboxes, found out once at start.

``FAAS_SANDBOX=strict`` (the default): every sandbox gets fresh namespaces (network, PID, IPC,
mount; a user namespace too when the worker is not root), Landlock, the seccomp filter and
its limits, and a worker that cannot give all of that refuses to start, naming what is
missing. ``FAAS_SANDBOX=off``: functions run with no confinement but rlimits and a minimal
environment, an explicit choice logged at start (and refused by the frontend in keys mode).

The check is a real trial, not a guess from versions: the zygote script, run with
``--probe``, forks a child that sets up a sandbox's namespaces and installs the seccomp filter
(see :func:`.confine.probe`). Cgroups are looked for too (:mod:`.cgroups`); without them the
worker falls back to per-process rlimits and says so, in either mode.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cgroups import CgroupRoot, detect

__all__ = ["SANDBOX_MODES", "Isolation", "assess"]

#: The values of ``FAAS_SANDBOX``.
SANDBOX_MODES = ("strict", "off")
_ZYGOTE = Path(__file__).resolve().parent / "zygote.py"
#: How long the probe may take, seconds.
_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Isolation:
    """The confinement in force for this worker's sandboxes."""

    #: ``root`` (own uid per sandbox), ``rootless`` (a user namespace) or ``off``.
    mode: str
    #: Landlock ABI version (0: none).
    landlock_abi: int = 0
    #: Whether the seccomp filter can be installed.
    seccomp: bool = False
    #: Whether the sandbox namespaces can be made.
    namespaces: bool = False
    #: Where sandbox cgroups go, or None (rlimits only).
    cgroups: CgroupRoot | None = None

    @property
    def confined(self) -> bool:
        return self.mode != "off"

    def missing(self) -> list[str]:
        """What strict confinement needs and this machine does not give."""
        if not self.confined:
            return []
        lacking = []
        if not self.namespaces:
            what = "user namespaces (unprivileged)" if self.mode == "rootless" else "namespaces"
            lacking.append(f"{what}: cannot unshare network, PID, IPC and mount namespaces")
        if self.landlock_abi < 1:
            lacking.append("Landlock (kernel 5.13+ with landlock in the LSM list)")
        if not self.seccomp:
            lacking.append("seccomp filters")
        return lacking

    def describe(self) -> str:
        """One line for the start log."""
        if not self.confined:
            return "FAAS_SANDBOX=off: functions run UNCONFINED (own process, rlimits only)"
        memory = (
            f"cgroup v{self.cgroups.version} (memory and pids per sandbox)"
            if self.cgroups is not None
            else "no writable cgroup: per-process rlimits only (memory per process, processes"
            " per uid)"
        )
        who = "as root, one uid per sandbox" if self.mode == "root" else "rootless, user namespace"
        return (
            f"sandbox confinement: {who}; namespaces net, pid, ipc, mount; Landlock ABI"
            f" {self.landlock_abi}; seccomp {'on' if self.seccomp else 'off'}; {memory}"
        )

    def labels(self) -> dict[str, str]:
        """The same, as metric labels."""
        return {
            "mode": self.mode,
            "landlock_abi": str(self.landlock_abi),
            "seccomp": "1" if self.seccomp else "0",
            "cgroup": f"v{self.cgroups.version}" if self.cgroups is not None else "none",
        }


def assess(setting: str, python: str) -> Isolation:
    """Find out what confinement ``setting`` (``strict`` or ``off``) gets here, running the
    probe with ``python`` (the sandboxes' interpreter).

    Blocking (a short subprocess), meant for start-up.
    """
    if setting == "off":
        return Isolation("off")
    mode = "root" if os.geteuid() == 0 else "rootless"
    try:
        done = subprocess.run(
            [python, "-I", "-S", "-B", str(_ZYGOTE), "--probe", mode],
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            env={"LANG": "C.UTF-8"},
            check=False,
        )
        found = json.loads(done.stdout or b"{}")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        found = {}
    return Isolation(
        mode,
        landlock_abi=int(found.get("landlock_abi", 0)),
        seccomp=found.get("seccomp") is True,
        namespaces=found.get("namespaces") is True,
        cgroups=detect(),
    )
