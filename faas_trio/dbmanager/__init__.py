"""The dbmanager component: all persistent state, served over RPC with group commit."""

from .config import DbManagerConfig
from .server import main, serve

__all__ = ["DbManagerConfig", "main", "serve"]
