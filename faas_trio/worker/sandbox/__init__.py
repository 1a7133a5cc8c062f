"""Runner children: the scripts that run user code (``python_runner.py``, ``node_runner.js``),
the zygote that forks every sandbox (``zygote.py``, driven by ``zygote_client``), the keeper
and confinement each forked child sets up (``confine.py``: own uid or user namespace,
namespaces, tmpfs scratch, keyrings; with ``landlock.py`` and ``syscall_filter.py``), what
confinement this machine gives (``isolation``), how one is started (``spawn``, with a uid from
``uids`` and a cgroup from ``cgroups``), the worker-side handle that drives one
(``process``, over the pipes of ``channel``), and the messages between them (``protocol``,
reading untrusted JSON with ``strict_json``).

The scripts (``zygote.py`` with ``confine.py``, ``landlock.py`` and ``syscall_filter.py``, and
the runners) are run as programs by path, never imported by the worker.
"""

from __future__ import annotations

from .logbuffer import LogBuffer
from .process import Sandbox, SandboxError, SandboxTimeout, start_sandbox
from .spawn import SpawnSettings, build_request
from .zygote_client import Zygote

__all__ = [
    "LogBuffer",
    "Sandbox",
    "SandboxError",
    "SandboxTimeout",
    "SpawnSettings",
    "Zygote",
    "build_request",
    "start_sandbox",
]
