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

    __slots__ = ("dispatch", "event", "max_jobs", "worker")

    def __init__(self, worker: str, max_jobs: int = 1) -> None:
        self.worker = worker
        #: How many jobs (of one function) the slot takes at once.
        self.max_jobs = max_jobs
        self.event = trio.Event()
        #: The job handed to this slot, once it was given one.
        self.dispatch: Dispatch | None = None


class ReadySlots:
    """Open slots, oldest first."""

    def __init__(self) -> None:
        self._slots: OrderedDict[Slot, None] = OrderedDict()

    def open(self, worker: str, max_jobs: int = 1) -> Slot:
        """A new slot for ``worker`` taking up to ``max_jobs`` jobs, last in line."""
        slot = Slot(worker, max_jobs)
        self._slots[slot] = None
        return slot

    def close(self, slot: Slot) -> None:
        """Take ``slot`` out of line (idempotent) and wake its request."""
        self._slots.pop(slot, None)
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
