"""Persistent state behind one small seam; only dbmanager imports this package."""

from .base import Store, WriteOp, WriteResult
from .open import open_store

__all__ = ["Store", "WriteOp", "WriteResult", "open_store"]
