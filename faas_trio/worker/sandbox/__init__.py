"""Runner children: the scripts that run user code (``python_runner.py``, ``node_runner.js``),
the root-side launcher that confines them (``confine.py``: own uid, namespaces, Landlock),
how one is started (``spawn``, with a uid from ``uids``), and the worker-side handle that
drives one (``process``).

The scripts are run as programs by path, never imported by the worker.
"""

from __future__ import annotations

from .logbuffer import LogBuffer
from .process import Sandbox, SandboxError, SandboxTimeout, start_sandbox
from .spawn import SpawnSettings, build_command

__all__ = [
    "LogBuffer",
    "Sandbox",
    "SandboxError",
    "SandboxTimeout",
    "SpawnSettings",
    "build_command",
    "start_sandbox",
]
