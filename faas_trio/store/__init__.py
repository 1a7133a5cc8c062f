"""Persistent state behind one small seam; only dbmanager imports this package."""

from .base import Store, WriteOp, WriteResult
from .open import check_store_url, open_store

__all__ = ["Store", "WriteOp", "WriteResult", "check_store_url", "open_store"]
