"""Captured output with a size cap, as it goes into a job's logs."""

from __future__ import annotations

__all__ = ["TRUNCATED_NOTE", "LogBuffer"]

#: Appended once when output was cut at the cap.
TRUNCATED_NOTE = "\n[… output truncated]\n"


class LogBuffer:
    """Text kept up to ``cap`` bytes; anything past the cap is dropped and noted once."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0
        self._truncated = False

    def add(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        room = self._cap - self._size
        if len(data) > room:
            self._truncated = True
            data = data[: max(room, 0)]
        if data:
            self._parts.append(data)
            self._size += len(data)

    def take(self) -> str:
        """The text so far (with the truncation note if any), and start afresh."""
        text = b"".join(self._parts).decode("utf-8", "replace")
        if self._truncated:
            text += TRUNCATED_NOTE
        self._parts, self._size, self._truncated = [], 0, False
        return text
