"""One log format for every component: plain lines on stderr, which the supervisor prefixes."""

from __future__ import annotations

import logging
import os

__all__ = ["setup_logging"]


def setup_logging(component: str) -> logging.Logger:
    """Configure the root logger once (level from ``FAAS_LOG_LEVEL``, default INFO) and
    return the component's logger, ``faas.<component>``."""
    level = os.environ.get("FAAS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return logging.getLogger(f"faas.{component}")
