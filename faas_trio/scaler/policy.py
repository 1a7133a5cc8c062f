"""Scaling policies: from the queue's load and the current worker count to a desired count.

A policy is pure: no I/O and no clock reads. Time comes in as ``now`` and whatever a policy
must remember between rounds travels in a :class:`PolicyState` that it returns with each
:class:`Decision`, so a load trace can be replayed against it in a plain loop.

Two policies:

- :class:`TargetTracking` (the default): enough workers for the jobs queued and running at
  ``concurrency`` jobs per worker; up at once, down slowly.
- :class:`DoublePolicy`: the old system's rule; doubles on a long queue, halves on a short one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

__all__ = ["Decision", "DoublePolicy", "Load", "Policy", "PolicyState", "TargetTracking"]


@dataclass(frozen=True)
class Load:
    """What the job queue reported this round (the fields of ``Stats`` a policy reads)."""

    queued: int
    running: int


@dataclass(frozen=True)
class PolicyState:
    """What a policy remembers between rounds. Start with ``PolicyState()``."""

    #: When demand first fell below the current count (None: it is not below).
    low_since: float | None = None
    #: The highest demand seen since ``low_since``; a scale-down never goes under it.
    low_peak: int = 0


@dataclass(frozen=True)
class Decision:
    """A policy's answer: run ``count`` workers. ``reason`` is one short phrase for the log."""

    count: int
    reason: str
    state: PolicyState


class Policy(Protocol):
    """Decides a worker count. Implementations are pure and keep their state in ``state``."""

    def decide(self, load: Load, current: int, now: float, state: PolicyState) -> Decision:
        """The count to run given ``load`` and ``current`` workers at time ``now`` (seconds,
        any monotonic origin). The count is always within the policy's bounds."""
        ...


def _clamp(count: int, low: int, high: int) -> int:
    return max(low, min(high, count))


@dataclass(frozen=True)
class TargetTracking:
    """Track ``ceil((queued + running) / concurrency)`` workers within ``[minimum, maximum]``.

    Guarantees:

    - A count outside the bounds is brought inside them at once.
    - Demand above the current count is met in one step.
    - A scale-down happens only after demand stayed below the current count for
      ``down_delay`` seconds without interruption, keeps at least half of the workers, and
      never goes below the highest demand seen during that time. After a step the delay
      starts again, so reaching a much lower count takes several delays.
    """

    minimum: int = 1
    maximum: int = 64
    concurrency: int = 4
    down_delay: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"need 0 <= minimum <= maximum, got {self.minimum}..{self.maximum}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")

    def demand(self, load: Load) -> int:
        """The worker count ``load`` needs, within the bounds."""
        jobs = max(0, load.queued) + max(0, load.running)
        return _clamp(math.ceil(jobs / self.concurrency), self.minimum, self.maximum)

    def decide(self, load: Load, current: int, now: float, state: PolicyState) -> Decision:
        target = self.demand(load)
        if current < self.minimum or current > self.maximum:
            count = _clamp(current, self.minimum, self.maximum)
            return Decision(max(count, target), "outside bounds", PolicyState())
        if target > current:
            return Decision(target, "demand above workers", PolicyState())
        if target == current:
            return Decision(current, "steady", PolicyState())
        if state.low_since is None:
            return Decision(current, "demand below workers", PolicyState(now, target))
        peak = max(state.low_peak, target)
        if now - state.low_since < self.down_delay:
            return Decision(current, "waiting to scale down", replace(state, low_peak=peak))
        # Keep at least half (rounded up); a single worker may go when the minimum is 0.
        half = (current + 1) // 2 if current > 1 else 0
        count = max(peak, half, self.minimum)
        # The next step needs another full delay of low demand below the new count.
        next_state = PolicyState(now, target) if target < count else PolicyState()
        return Decision(count, "scale down", next_state)


@dataclass(frozen=True)
class DoublePolicy:
    """The old scaler's rule, on the number of queued jobs only.

    More than ``queue_high`` queued and below ``maximum``: double (capped at ``maximum``).
    Fewer than ``queue_low`` queued and above ``minimum``: halve (floored at ``minimum``).
    Otherwise keep the count. A count outside the bounds is brought inside them.
    """

    minimum: int = 1
    maximum: int = 64
    queue_high: int = 32
    queue_low: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"need 0 <= minimum <= maximum, got {self.minimum}..{self.maximum}")

    def decide(self, load: Load, current: int, now: float, state: PolicyState) -> Decision:
        if current < self.minimum or current > self.maximum:
            return Decision(_clamp(current, self.minimum, self.maximum), "outside bounds", state)
        if load.queued > self.queue_high and current < self.maximum:
            return Decision(min(max(1, current * 2), self.maximum), "queue long: double", state)
        if load.queued < self.queue_low and current > self.minimum:
            return Decision(max(current // 2, self.minimum), "queue short: halve", state)
        return Decision(current, "steady", state)
