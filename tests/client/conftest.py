"""The e2e ``platform`` fixture, for tests against a real ``faas-trio up``."""

from __future__ import annotations

from e2e.conftest import (
    Platform,
    StartPlatform,
    platform,  # noqa: F401 (the e2e fixture, made available here)
)

__all__ = ["Platform", "StartPlatform"]
