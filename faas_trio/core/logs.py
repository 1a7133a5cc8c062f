"""One log format for every component: plain lines on stderr, which the supervisor prefixes."""

from __future__ import annotations

import logging

__all__ = ["setup_logging"]


def setup_logging(component: str, level: str = "info") -> logging.Logger:
    """Configure the root logger once (``level`` is ``FAAS_LOG_LEVEL``'s value) and return the
    component's logger, ``faas.<component>``."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return logging.getLogger(f"faas.{component}")
