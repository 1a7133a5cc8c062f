"""Free worker slots waiting for a job: held ``NextJob`` requests, served first come first served.

A held request is a :class:`Slot`. Whoever queues a job hands it to the oldest open slot and
sets its event, so the waiting request answers at once; nothing polls. A slot is closed when its
request stops waiting (timeout, cancel) or its worker dies or drains; closed slots are never
given a job.
"""

from __future__ import annotations

from collections import OrderedDict

import trio

from ..core.messages import Dispatch

__all__ = ["ReadySlots", "Slot"]


class Slot:
    """One held request for work from ``worker``."""

    __slots__ = ("dispatch", "event", "max_jobs", "number", "worker")

    def __init__(self, worker: str, max_jobs: int = 1) -> None:
        self.worker = worker
        #: How many jobs (of one function) the slot takes at once.
        self.max_jobs = max_jobs
        #: The worker's number for this slot, if it says one.
        self.number: int | None = None
        self.event = trio.Event()
        #: The job handed to this slot, once it was given one.
        self.dispatch: Dispatch | None = None


class ReadySlots:
    """Open slots, oldest first."""

    def __init__(self) -> None:
        self._slots: OrderedDict[Slot, None] = OrderedDict()
        #: The open slot of each (worker, slot number) that says its number.
        self._numbered: dict[tuple[str, int], Slot] = {}

    def open(self, worker: str, max_jobs: int = 1, number: int | None = None) -> Slot:
        """A new slot for ``worker`` taking up to ``max_jobs`` jobs, last in line. A slot
        that says its ``number`` replaces the worker's open slot of that number: the worker
        gave up waiting for that one (its request timed out, or it asked again after losing
        touch), so a job handed to it would never arrive."""
        if number is not None:
            stale = self._numbered.pop((worker, number), None)
            if stale is not None:
                self.close(stale)
        slot = Slot(worker, max_jobs)
        self._slots[slot] = None
        if number is not None:
            self._numbered[(worker, number)] = slot
            slot.number = number
        return slot

    def close(self, slot: Slot) -> None:
        """Take ``slot`` out of line (idempotent) and wake its request."""
        self._slots.pop(slot, None)
        if slot.number is not None and self._numbered.get((slot.worker, slot.number)) is slot:
            del self._numbered[(slot.worker, slot.number)]
        slot.event.set()

    def fill(self, slot: Slot, dispatch: Dispatch) -> None:
        """Give ``dispatch`` to ``slot`` (which leaves the line) and wake its request."""
        slot.dispatch = dispatch
        self.close(slot)

    def first(self) -> Slot | None:
        """The oldest open slot, still in line, or None."""
        return next(iter(self._slots), None)

    def close_worker(self, worker: str) -> int:
        """Close every slot of ``worker`` (dead or draining); how many were open."""
        mine = [slot for slot in self._slots if slot.worker == worker]
        for slot in mine:
            self.close(slot)
        return len(mine)

    def __len__(self) -> int:
        return len(self._slots)
