"""The metrics messages: counters that the frontend's ``/metrics`` gathers from the jqmanager
and the dbmanager. Part of the schema of :mod:`.messages`, which re-exports them."""

from __future__ import annotations

import msgspec

from .records import Histogram
from .request import Request

__all__ = ["GetMetrics", "GetStoreMetrics", "Metrics", "StoreMetrics"]


# ---- frontend -> jqmanager: metrics ---------------------------------------------------------


class Metrics(msgspec.Struct, frozen=True, tag=True):
    """Job counters of the jqmanager, which sees every finish (counted once, whichever
    frontend asks). Durations are in seconds."""

    #: Jobs that reached each final state, by state value.
    jobs_total: dict[str, int]
    #: How long finished jobs ran.
    job_duration: Histogram
    #: How long finished jobs waited from submission to their (last) start.
    queue_wait: Histogram
    queued: int
    running: int
    workers: int
    cold_starts_total: int = 0
    #: The scaler's last decision; None when no scaler reported within three of its intervals.
    desired_workers: int | None = None
    #: Workers alive, by the confinement their sandboxes get (see ``Heartbeat.confinement``).
    confinement: dict[str, int] = {}


class GetMetrics(Request[Metrics], frozen=True, tag=True):
    """The jqmanager's job counters since it started. -> Metrics."""


# ---- frontend -> dbmanager: store metrics ---------------------------------------------------


class StoreMetrics(msgspec.Struct, frozen=True, tag=True):
    """What the dbmanager's store sent to its database: commands (each one a round trip)
    by store operation (``write`` for a batch of writes, else the read's name), and how long
    each round trip took, in seconds."""

    commands_total: dict[str, int]
    roundtrip: Histogram


class GetStoreMetrics(Request[StoreMetrics], frozen=True, tag=True):
    """The dbmanager's store counters since it started. -> StoreMetrics."""
