"""Removing what a sandbox leaves in its scratch directory, whatever that is.

A function may leave anything there: a tree thousands of directories deep (deeper than
``PATH_MAX`` and than any recursion), symbolic links to what it must not touch, directories
without permissions, more entries than one pass should take. :func:`remove_tree` removes such
a tree without recursion and without following a link or leaving the file system, holding at
most :data:`MAX_OPEN_DIRS` directories open, within a budget of entries; what it cannot remove
it leaves, and says so. It never raises for what is in the tree.

:class:`ScratchTrash` is how the worker uses it: an ended sandbox's directory is moved (one
``rename``) into the scratch root's ``.trash``, and a task in the pool's nursery empties the
trash in a worker thread, so no cleanup blocks the event loop or a kill; a leftover is logged
and retried later, never fatal. The trash is shared by the workers of one ``FAAS_HOME``, so
what a worker that died left there is removed by the next one.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

__all__ = ["MAX_OPEN_DIRS", "ScratchTrash", "remove_tree"]

log = logging.getLogger("faas.worker.sandbox")

#: Directories held open at once; deeper ones are moved up to the top of the tree first.
MAX_OPEN_DIRS = 32
#: Entries one call of :func:`remove_tree` removes at most.
DEFAULT_BUDGET = 200_000
#: Entries removed per directory by the last sweep of a stopping worker.
_CLOSING_BUDGET = 20_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Seconds between tries at a leftover, first and at most.
_RETRY_FIRST, _RETRY_MOST = 5.0, 300.0


class _Entries(Iterator[os.DirEntry[str]], Protocol):
    """What :func:`os.scandir` returns."""

    def close(self) -> None: ...


@dataclass
class _Frame:
    fd: int
    #: Its name in the directory below it on the stack (None for the top).
    name: str | None
    entries: _Entries


def remove_tree(path: Path, *, budget: int = DEFAULT_BUDGET) -> bool:
    """Remove ``path`` and everything under it; True once it is gone (or was never there),
    False when something is left (over ``budget`` entries, a mount point, an entry that
    refuses removal): call again later. A ``path`` that is a link or a file is unlinked, not
    followed."""
    try:
        top = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return True
    except OSError:
        return _unlink(path)
    try:
        cleared = _clear(top, os.fstat(top).st_dev, budget)
    except OSError as exc:
        log.debug("cannot clear %s: %s", path, exc)
        cleared = False
    finally:
        os.close(top)
    if not cleared:
        return False
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _clear(top: int, device: int, budget: int) -> bool:
    """Empty the directory open as ``top``, depth first over at most ``MAX_OPEN_DIRS``
    levels; a deeper directory is renamed into ``top`` and taken by a later pass. True once a
    pass finds ``top`` empty."""
    while True:
        seen, stuck = 0, False
        frames = [_Frame(top, None, os.scandir(top))]
        try:
            while frames:
                frame = frames[-1]
                entry = next(frame.entries, None)
                if entry is None:
                    frames.pop().entries.close()
                    if frame.name is not None:
                        os.close(frame.fd)
                        stuck |= not _gone(os.rmdir, frame.name, frames[-1].fd)
                    continue
                seen += 1
                if seen > budget:
                    return False
                if not _is_directory(entry):
                    stuck |= not _gone(os.unlink, entry.name, frame.fd)
                elif len(frames) >= MAX_OPEN_DIRS:
                    stuck |= not _move_up(entry.name, frame.fd, top)
                else:
                    child = _open_directory(entry.name, frame.fd, device)
                    if child is None:
                        stuck = True
                    else:
                        frames.append(_Frame(child, entry.name, os.scandir(child)))
        finally:
            for frame in frames:
                frame.entries.close()
                if frame.name is not None:
                    os.close(frame.fd)
        budget -= seen
        if stuck:
            return False
        if seen == 0:
            return True


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _gone(remove: Callable[..., None], name: str, dir_fd: int) -> bool:
    """Whether ``remove(name, dir_fd=dir_fd)`` (unlink or rmdir) left nothing."""
    try:
        remove(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _move_up(name: str, dir_fd: int, top: int) -> bool:
    try:
        os.rename(name, f".deep-{secrets.token_hex(8)}", src_dir_fd=dir_fd, dst_dir_fd=top)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _open_directory(name: str, dir_fd: int, device: int) -> int | None:
    """The directory ``name`` open, writable by us if we own it; None if it cannot be opened
    or is on another file system (a mount point: left alone)."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        # Unprivileged, a directory left without permissions must first be given some.
        try:
            os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError:
            return None
    except OSError:
        return None
    try:
        status = os.fstat(fd)
        if status.st_dev != device:
            os.close(fd)
            return None
        if status.st_mode & 0o700 != 0o700 and status.st_uid == os.geteuid():
            os.fchmod(fd, 0o700)
    except OSError:
        pass
    return fd


class ScratchTrash:
    """Where ended sandboxes' scratch directories go to be removed (see the module
    docstring). Its sweeping task is started in ``nursery`` on first use."""

    def __init__(self, scratch_root: Path, nursery: trio.Nursery) -> None:
        self._folder = scratch_root / ".trash"
        self._nursery = nursery
        self._added = trio.Event()
        self._started = False
        #: Directories that could not be moved into the trash, removed where they are.
        self._stragglers: set[Path] = set()

    def discard(self, home: Path) -> None:
        """Move ``home`` into the trash at once (or leave it where it is if it cannot be
        moved: it is then removed from there), and have it removed soon. Never raises."""
        target = self._folder / f"{home.name}-{secrets.token_hex(4)}"
        for _ in range(2):  # another worker may remove the emptied trash folder meanwhile
            try:
                self._folder.mkdir(mode=0o700, exist_ok=True)
                os.rename(home, target)
                break
            except FileNotFoundError:
                if not home.exists():
                    return
            except OSError as exc:
                log.warning(
                    "cannot move scratch %s to the trash (%s): removing it there", home, exc
                )
                target = home
                break
        else:
            target = home
        if not target.is_relative_to(self._folder):
            self._stragglers.add(home)
        self._added.set()
        if not self._started:
            self._started = True
            self._nursery.start_soon(self.sweep)

    async def empty(self) -> None:
        """Remove what is in the trash now, within a small budget, and the trash folder once
        it is empty; for a worker that stops (what is left waits for the next one).

        Cancellation: shielded and bounded by its budget (the removal runs in a thread).
        """
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._sweep_once, _CLOSING_BUDGET)
        try:
            self._folder.rmdir()
        except OSError:
            pass  # not empty, or already gone

    async def sweep(self) -> None:
        """Empty the trash whenever something is added, and retry leftovers with a growing
        delay, until cancelled.

        Cancellation: stops between removals; a removal running in its thread finishes
        first (it is bounded by its budget).
        """
        retry = _RETRY_FIRST
        while True:
            self._added = trio.Event()
            left = await trio.to_thread.run_sync(self._sweep_once)
            if not left:
                retry = _RETRY_FIRST
                await self._added.wait()
                continue
            log.warning(
                "scratch directories not removed yet (retrying in %gs): %s",
                retry, ", ".join(str(p) for p in left[:5]),
            )  # fmt: skip
            with trio.move_on_after(retry):
                await self._added.wait()
            retry = min(retry * 2, _RETRY_MOST)

    def _sweep_once(self, budget: int = DEFAULT_BUDGET) -> list[Path]:
        """Remove what is in the trash and the stragglers (each within ``budget`` entries);
        what is left."""
        try:
            trashed = [self._folder / name for name in os.listdir(self._folder)]
        except OSError:
            trashed = []
        left = []
        for path in [*trashed, *list(self._stragglers)]:
            if remove_tree(path, budget=budget):
                self._stragglers.discard(path)
            else:
                left.append(path)
        return left
