"""Actuators: what changes the number of workers (the local supervisor, or Kumori)."""

from __future__ import annotations

from .base import Actuator, ActuatorError
from .kumori import KumoriActuator, open_kumori_actuator
from .local import LocalActuator, open_local_actuator

__all__ = [
    "Actuator",
    "ActuatorError",
    "KumoriActuator",
    "LocalActuator",
    "open_kumori_actuator",
    "open_local_actuator",
]
