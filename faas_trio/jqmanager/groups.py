"""The groups (maps) whose items this jqmanager holds unfinished, and who watches them.

Per group: how many of its items are still queued, running or finishing here, and the log
of the items that finished since this jqmanager started holding the group (their indices,
in finish order, 4 bytes each). A watcher (a streaming or waiting HTTP request) reads the log
from its cursor and is woken when it grows. A group is dropped once its last item is final:
a later watcher is told the jqmanager holds none of it, and reads the store instead, where
every final state is before it is announced.

The log's positions are meaningful only within one life of the jqmanager: :attr:`epoch`
changes at each start, so a watcher whose cursor is from another life starts over.
"""

from __future__ import annotations

import secrets
from array import array
from dataclasses import dataclass, field

import trio

from ..core.messages import GroupProgress

__all__ = ["GroupTracker"]


@dataclass(slots=True)
class _Group:
    remaining: int = 0
    finished: array[int] = field(default_factory=lambda: array("I"))
    grew: trio.Event = field(default_factory=trio.Event)

    def wake(self) -> None:
        self.grew.set()
        self.grew = trio.Event()


class GroupTracker:
    """Unfinished items and finish logs of the groups held here."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(6)
        self._groups: dict[str, _Group] = {}

    def add(self, group_id: str, count: int) -> None:
        """``count`` more items of ``group_id`` are held here unfinished."""
        if count > 0:
            self._groups.setdefault(group_id, _Group()).remaining += count

    def finished(self, group_id: str, index: int) -> None:
        """Item ``index`` of ``group_id`` reached its final state (and it is stored)."""
        group = self._groups.get(group_id)
        if group is None:
            return
        group.finished.append(index)
        group.remaining -= 1
        if group.remaining <= 0:
            del self._groups[group_id]
        group.wake()

    def remaining(self, group_id: str) -> int | None:
        """Items of ``group_id`` not final yet, or None when none are held here."""
        group = self._groups.get(group_id)
        return None if group is None else group.remaining

    def __len__(self) -> int:
        return len(self._groups)

    async def watch(
        self, group_id: str, after: int, wait: float, *, until_done: bool
    ) -> GroupProgress:
        """The items of ``group_id`` that finished past position ``after`` of its log: at once
        if there are some (or the group is not held here), else when some finish within
        ``wait`` seconds. With ``until_done``, wait until every item is final instead.

        Cancellation: only waits; nothing changes.
        """
        group = self._groups.get(group_id)
        if group is not None:
            with trio.move_on_after(max(0.0, wait)):
                while group.remaining > 0 and (until_done or len(group.finished) <= after):
                    await group.grew.wait()
        if group is None:
            return GroupProgress(self.epoch, 0, [], None)
        end = len(group.finished)
        start = min(max(0, after), end)
        return GroupProgress(self.epoch, end, group.finished[start:end].tolist(), group.remaining)
