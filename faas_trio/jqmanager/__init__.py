"""The jqmanager: the job lifecycle (queue, dispatch to workers, leases, retries, completions).

Run it with :func:`main`, or start it in a nursery with :func:`serve`.
"""

from __future__ import annotations

from .config import JqManagerConfig
from .main import main, serve

__all__ = ["JqManagerConfig", "main", "serve"]
