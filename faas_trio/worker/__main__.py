"""``python -m faas_trio.worker``: run a worker configured from the environment."""

from __future__ import annotations

from .main import main

main()
