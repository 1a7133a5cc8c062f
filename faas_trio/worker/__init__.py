"""The worker component: runs jobs from the jqmanager in warm, sandboxed runner children.

``main`` is the process, ``loop`` talks to the jqmanager, ``execution`` runs one job, ``pool``
keeps warm children, ``sandbox`` spawns and drives one child.
"""

from __future__ import annotations

from .config import WorkerConfig
from .loop import new_worker_id
from .main import main, serve

__all__ = ["WorkerConfig", "main", "new_worker_id", "serve"]
