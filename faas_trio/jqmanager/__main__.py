"""``python -m faas_trio.jqmanager``."""

from __future__ import annotations

from .main import main

main()
