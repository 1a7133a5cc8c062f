"""Unprivileged uids for sandboxes: each live sandbox holds one that no other sandbox has.

A uid is claimed by holding an exclusive ``flock`` on a file named after it in a root-only
directory, so claims are shared by every worker on the machine (or in the container) and are
released by the kernel if a worker dies. A sandbox keeps its uid from spawn until it was
reaped with its whole PID namespace, so two sandboxes never run as the same uid at once:
they cannot signal, trace or read each other, and ``RLIMIT_NPROC`` (counted per uid) bounds
each one separately.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["UidClaim", "UidsExhausted", "claim_uid", "default_lock_dir"]


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
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


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
    for uid in range(base, base + count):
        fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidClaim(uid, fd)
    raise UidsExhausted(f"all {count} sandbox uids from {base} are in use")
