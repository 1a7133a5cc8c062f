"""One control group per sandbox: its memory and process count bounded as a whole.

A sandbox's processes (the runner and all it starts), its memfds, SysV shared memory and
tmpfs scratch are charged to its memory cgroup, so ``memory_mb`` bounds the sandbox, not one
process; going over it gets the sandbox OOM-killed and the call fails with an "out of memory"
error. Its pids cgroup bounds how many processes and threads it has at once, per sandbox
rather than per uid.

Where: cgroup v2 when this process's cgroup is delegated to it (``memory`` and ``pids`` in its
``cgroup.controllers``, and writable); else cgroup v1's ``memory`` and ``pids`` hierarchies when
mounted and writable (as root). Sandbox cgroups are made under the worker's own cgroup (in a
``faas-trio-<pid>`` folder removed at close, or by the next worker to start if this one was
killed), so whatever bounds the worker bounds them too.
When neither exists, :func:`detect` returns None and the runner's rlimits are all there is
(the worker says so at start).

The worker makes the cgroup and sets its limits before the spawn; the runner joins it itself
(writing to the ``cgroup.procs`` files it is given) before anything else, so the keeper stays
outside it and every process of the sandbox inside.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupRoot", "SandboxCgroup", "detect"]

_COUNTER = itertools.count(1)
#: A worker's folder is this and its pid.
_PREFIX = "faas-trio-"


def _own_cgroups() -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    owned: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            owned[controller] = path
    return owned


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, the part of the hierarchy mounted there, fstype, super options) of the
    cgroup mounts, from mountinfo."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[4], fields[3].rstrip("/"), tail[0], set(tail[2].split(","))))
    return found


def _folder(point: str, root: str, path: str) -> Path:
    """The folder of cgroup ``path`` on a mount of the hierarchy's ``root`` at ``point``."""
    if root and path.startswith(root):
        path = path[len(root) :]
    return Path(point + path.rstrip("/"))


def _sweep_stale(parent: Path) -> None:
    """Remove the folders that workers no longer running left in ``parent`` (a worker killed
    outright cannot remove its own): their sandbox cgroups, then the folder. A cgroup that
    still holds a process cannot be removed, and stays."""
    try:
        folders = [entry for entry in parent.iterdir() if entry.name.startswith(_PREFIX)]
    except OSError:
        return
    for folder in folders:
        owner = folder.name[len(_PREFIX) :]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        with contextlib.suppress(OSError):
            for sandbox in folder.iterdir():
                if sandbox.is_dir():
                    with contextlib.suppress(OSError):
                        sandbox.rmdir()
            folder.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _writable_dir(path: Path) -> bool:
    """Create ``path`` (a cgroup folder) if needed, first sweeping what dead workers left
    beside it; whether it exists and we may write there."""
    _sweep_stale(path.parent)
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


@dataclass(frozen=True)
class CgroupRoot:
    """Where this worker makes its sandboxes' cgroups."""

    #: 1 or 2.
    version: int
    #: The folder of the memory cgroups (v2: of both).
    memory: Path
    #: The folder of the pids cgroups (v2: the same as ``memory``).
    pids: Path

    def create(self, memory_bytes: int, max_pids: int) -> SandboxCgroup:
        """A new, empty cgroup with these limits.

        Raises:
            OSError: it could not be made (nothing is left behind).
        """
        name = f"sbx-{next(_COUNTER)}"
        folders = (self.memory / name,) if self.version == 2 else (self.memory / name,
                                                                   self.pids / name)  # fmt: skip
        made: list[Path] = []
        try:
            for folder in folders:
                folder.mkdir()
                made.append(folder)
            cgroup = SandboxCgroup(self.version, folders)
            cgroup.limit(memory_bytes, max_pids)
        except OSError:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        return cgroup

    def remove(self) -> None:
        """Remove this worker's folders (once every sandbox cgroup is gone); best effort."""
        for folder in {self.memory, self.pids}:
            with contextlib.suppress(OSError):
                folder.rmdir()


class SandboxCgroup:
    """One sandbox's cgroup (one folder in v2, a memory and a pids folder in v1)."""

    def __init__(self, version: int, folders: tuple[Path, ...]) -> None:
        self.version = version
        self.folders = folders
        events = "memory.events" if version == 2 else "memory.oom_control"
        self._events = str(folders[0] / events)

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files the runner writes itself into."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def limit(self, memory_bytes: int, max_pids: int) -> None:
        """Set the limits (swap included: a sandbox may not swap its way past them)."""
        memory, pids = self.folders[0], self.folders[-1]
        if self.version == 2:
            (memory / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(FileNotFoundError):
                (memory / "memory.swap.max").write_text("0")
        else:
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(FileNotFoundError, PermissionError):
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (pids / "pids.max").write_text(str(max_pids))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the sandbox for going over its memory.
        Asked after every call of a map: three system calls, no more."""
        try:
            fd = os.open(self._events, os.O_RDONLY)
        except OSError:
            return False
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        finally:
            os.close(fd)
        for line in data.splitlines():
            if line.startswith(b"oom_kill "):
                return line[9:].strip() not in (b"0", b"")
        return False

    def pids(self) -> list[int]:
        """The processes in it now (as this process's PID namespace numbers them)."""
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(pid) for pid in Path(procs).read_text().split())
        return sorted(found)

    def kill(self) -> list[int]:
        """SIGKILL every process in it; the ones that were there."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def remove(self) -> bool:
        """Remove it; False if a process is still in it (then it stays)."""
        removed = True
        for folder in self.folders:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


def detect(worker_pid: int | None = None) -> CgroupRoot | None:
    """Where this worker can make sandbox cgroups with both the memory and pids controllers
    (see the module docstring), creating its folder(s); None when it cannot."""
    folder_name = f"{_PREFIX}{worker_pid or os.getpid()}"
    try:
        owned, mounts = _own_cgroups(), _mounts()
    except (OSError, ValueError):
        return None
    for point, root, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in owned:
            own = _folder(point, root, owned[""])
            # Its own cgroup when it may have children with limits (the root), else its
            # parent's (systemd's Delegate= with DelegateSubgroup=: the service's cgroup is
            # delegated, the worker runs in a leaf of it).
            for parent in (own, own.parent):
                if _v2_delegated(parent):
                    base = parent / folder_name
                    if _writable_dir(base) and _enable_v2(base):
                        return CgroupRoot(2, base, base)
                    break
    v1: dict[str, Path] = {}
    for point, root, fstype, options in mounts:
        for controller in ("memory", "pids"):
            if fstype == "cgroup" and controller in options and controller in owned:
                base = _folder(point, root, owned[controller]) / folder_name
                if _writable_dir(base):
                    v1[controller] = base
    if len(v1) == 2:
        return CgroupRoot(1, v1["memory"], v1["pids"])
    for base in v1.values():
        with contextlib.suppress(OSError):
            base.rmdir()
    return None


def _v2_delegated(folder: Path) -> bool:
    """Whether ``folder``'s children get memory and pids limits and we may make them."""
    try:
        enabled = set((folder / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False
    return {"memory", "pids"} <= enabled and os.access(folder, os.W_OK)


def _enable_v2(base: Path) -> bool:
    """Let ``base``'s children have memory and pids limits (it holds no process itself)."""
    try:
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        with contextlib.suppress(OSError):
            base.rmdir()
        return False
    return True
