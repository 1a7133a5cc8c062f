"""Unprivileged uids for sandboxes: each live sandbox holds one that no other sandbox has.

A uid is claimed by holding an exclusive ``flock`` on a file named after it in a root-only
directory, so claims are shared by every worker on the machine (or in the container) and are
released by the kernel if a worker dies. A sandbox keeps its uid from spawn until it was
reaped with its whole PID namespace, so two sandboxes never run as the same uid at once:
they cannot signal, trace or read each other, and ``RLIMIT_NPROC`` (counted per uid) bounds
each one separately.

A uid goes back to the pool only when no process runs as it: :meth:`UidClaim.release` looks,
kills what it finds, and keeps the claim until a later claim finds it empty, so a process that
slipped out of its sandbox never meets the next tenant of its uid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import stat
import tempfile
from pathlib import Path

__all__ = ["UidClaim", "UidsExhausted", "claim_uid", "default_lock_dir", "processes_of_uid"]

log = logging.getLogger("faas.worker.sandbox")

#: Claims whose uid still had processes when released: kept until they are gone.
_held_back: list[UidClaim] = []


class UidsExhausted(Exception):
    """Every uid of the range is held by a live sandbox."""


def default_lock_dir() -> Path:
    """``/run/faas-trio-uids`` when ``/run`` is writable, else the same under the temp dir."""
    run = Path("/run")
    base = run if os.access(run, os.W_OK) else Path(tempfile.gettempdir())
    return base / "faas-trio-uids"


class UidClaim:
    """One claimed uid (also used as the gid). :meth:`release` gives it back; idempotent."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the uid back, or, if a process still runs as it, kill that process and keep
        the claim until a later :func:`claim_uid` sees it gone."""
        if self._fd is None:
            return
        survivors = processes_of_uid(self.uid)
        if survivors:
            log.error("processes %s outlived their sandbox as uid %d: killed", survivors, self.uid)
            for pid in survivors:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _held_back.append(self)
            return
        fd, self._fd = self._fd, None
        os.close(fd)


def processes_of_uid(uid: int) -> list[int]:
    """Pids of the processes whose effective uid is ``uid`` (zombies too: a zombie holds its
    uid's process count until reaped)."""
    found = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                try:
                    if entry.stat(follow_symlinks=False).st_uid == uid:
                        found.append(int(entry.name))
                except OSError:
                    continue  # gone meanwhile
    return found


def _retry_held_back() -> None:
    for claim in list(_held_back):
        if not processes_of_uid(claim.uid):
            _held_back.remove(claim)
            claim.release()


def _ensure_private_dir(path: Path) -> None:
    """Create ``path`` as a 0700 directory of ours, or check an existing one is exactly that:
    a directory others could write would let them steal or fake claims."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} must be a directory of uid {os.geteuid()} with mode 0700")


def claim_uid(base: int, count: int, lock_dir: Path) -> UidClaim:
    """Claim the lowest free uid in ``[base, base + count)``.

    Raises:
        UidsExhausted: all of them are in use.
        PermissionError: ``lock_dir`` is not a private directory of this user.
    """
    _ensure_private_dir(lock_dir)
    if _held_back:
        _retry_held_back()
    for uid in range(base, base + count):
        fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidClaim(uid, fd)
    raise UidsExhausted(f"all {count} sandbox uids from {base} are in use")
