"""The frontend: the HTTP REST API, answering through dbmanager and jqmanager."""

from __future__ import annotations

from .app import create_app
from .config import FrontendConfig
from .server import main, serve

__all__ = ["FrontendConfig", "create_app", "main", "serve"]
