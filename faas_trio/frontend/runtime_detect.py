"""Telling a function's language from its source, for registrations that do not say.

The old API took JavaScript only and had no way to name a runtime, so old clients send bare
JavaScript; new clients may send Python, or say ``?runtime=`` outright.
"""

from __future__ import annotations

import re

from ..core.records import Runtime

__all__ = ["detect_runtime"]

# A top-level ``def``/``async def`` is what a Python function must have.
_PYTHON = re.compile(r"^(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(", re.MULTILINE)
_JAVASCRIPT = re.compile(r"\bfunction\b|=>|\bconst\b|\blet\b|\bvar\b")


def detect_runtime(source: str) -> Runtime | None:
    """The runtime ``source`` is written in, or None when it cannot be told.

    Python wins when the source has a ``def`` at the start of a line (a Python body may well
    contain ``=>`` in a string); otherwise JavaScript keywords or an arrow mean Node.js.
    """
    if _PYTHON.search(source):
        return Runtime.PYTHON
    if _JAVASCRIPT.search(source):
        return Runtime.NODE
    return None
