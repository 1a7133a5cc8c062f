"""``python -m faas_trio.scaler``: the same as ``faas-trio scaler``."""

from __future__ import annotations

from .loop import main

main()
