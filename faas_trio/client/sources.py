"""Reading what a deploy names: source text or a file, requirement lines or a file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["read_requirements", "read_source"]


def read_source(source_or_path: str | Path) -> str:
    """``source_or_path`` itself when it is source text, the file's text when it is a path
    (a ``Path``, or a one-line string naming an existing file)."""
    if isinstance(source_or_path, Path):
        return source_or_path.read_text()
    if "\n" not in source_or_path and os.path.isfile(source_or_path):
        return Path(source_or_path).read_text()
    return source_or_path


def read_requirements(requirements: Sequence[str] | str | Path | None) -> list[str] | None:
    """Requirement lines, from a list, a requirements file (a path), or its text.

    Blank lines and ``#`` comments are dropped; the platform checks the rest.
    """
    if requirements is None:
        return None
    if isinstance(requirements, Path) or (
        isinstance(requirements, str) and "\n" not in requirements and os.path.isfile(requirements)
    ):
        requirements = Path(requirements).read_text()
    lines = requirements.splitlines() if isinstance(requirements, str) else list(requirements)
    kept = [line.split(" #", 1)[0].strip() for line in lines]
    return [line for line in kept if line and not line.startswith("#")]
