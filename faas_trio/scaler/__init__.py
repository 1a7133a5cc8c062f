"""The scaler: keeps the number of workers in step with the job queue.

A pure :mod:`policy <faas_trio.scaler.policy>` turns the queue's stats into a worker count;
an :mod:`actuator <faas_trio.scaler.actuators>` applies it (the local supervisor, or Kumori).
"""

from __future__ import annotations

from .config import ScalerConfig
from .loop import ScalerStatus, main, serve

__all__ = ["ScalerConfig", "ScalerStatus", "main", "serve"]
