"""``python -m faas_trio.jqmanager``."""

from __future__ import annotations

from .server import main

main()
