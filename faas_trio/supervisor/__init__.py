"""The local supervisor, ``faas-trio up``: the whole platform as one tree of OS processes."""

from __future__ import annotations

from .config import SupervisorConfig
from .server import Supervisor, main, serve

__all__ = ["Supervisor", "SupervisorConfig", "main", "serve"]
