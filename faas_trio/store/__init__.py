"""Persistent state behind one small seam; only dbmanager imports this package."""

from .base import Store, WriteOp, WriteResult

__all__ = ["Store", "WriteOp", "WriteResult"]
