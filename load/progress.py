"""The live progress line on stderr: done/total, rate per second and errors, redrawn in place."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import trio

__all__ = ["Progress"]


class Progress:
    """Counts of one phase, drawn as a single updating line while :meth:`draw_until_cancelled`
    runs. Counting is cheap and needs no task; drawing does nothing when ``enabled`` is False.
    """

    def __init__(
        self, label: str, total: int, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.errors = 0
        self.enabled = enabled
        self._stream = sys.stderr if stream is None else stream
        self._started = time.perf_counter()

    def add(self, *, ok: bool) -> None:
        """Count one finished request."""
        self.done += 1
        if not ok:
            self.errors += 1

    def line(self) -> str:
        """The text of the progress line as it stands."""
        elapsed = time.perf_counter() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return (
            f"[{self.label}] {self.done}/{self.total} "
            f"{rate:,.0f}/s errors {self.errors} ({elapsed:.1f}s)"
        )

    def _draw(self, *, final: bool = False) -> None:
        if not self.enabled:
            return
        # \r plus "erase to end of line" redraws the same terminal line.
        self._stream.write("\r\x1b[K" + self.line() + ("\n" if final else ""))
        self._stream.flush()

    async def draw_until_cancelled(self, interval: float = 0.25) -> None:
        """Redraw every ``interval`` seconds (every 2 s when stderr is not a terminal) until
        cancelled, then draw the final line once.

        Cancellation: the only way it ends; the final line is drawn on the way out.
        """
        if not self._stream.isatty():
            interval = max(interval, 2.0)
        try:
            while True:
                self._draw()
                await trio.sleep(interval)
        finally:
            self._draw(final=True)
