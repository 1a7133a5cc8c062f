"""Sampling profiles of a platform's components while a scenario runs, with py-spy.

``py-spy record --format raw --nonblocking`` is attached to every component process (not to
sandboxes) for the length of a scenario and stopped with SIGINT, which makes it write its
folded stacks. :func:`summarize` turns those into a short text: per component, the functions
with the most *own* time (the leaf of a sample), which is where the CPU actually goes. Idle
samples are not recorded, so the shares are shares of the time the process was on a CPU.
py-spy is in the ``load`` extra; without it (or without ptrace rights) profiling is skipped
with a note.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from .cpu import component_pids

__all__ = ["profiling", "summarize"]

#: Samples per second per process; modest, so the profiler itself costs little CPU.
RATE = 200
#: Functions listed per component.
TOP = 20
#: ``name (path/to/file.py:123)``: a frame of py-spy's raw output.
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    """A frame without its line number, and the file shortened to its package path."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "faas_trio/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1] if marker != "faas_trio/" else "faas_trio/" + (
                file.split(marker, 1)[1]
            )
            break
    return f"{match['name']} ({file})"


def summarize(raw: str, top: int = TOP) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """From py-spy's raw (folded) output: the samples, the ``top`` functions by own samples,
    and the ``top`` faas_trio functions by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            if "faas_trio/" in name:
                inclusive[name] += count
    return total, own.most_common(top), inclusive.most_common(top)


def _render(role: str, pid: int, raw: str) -> str:
    total, own, inclusive = summarize(raw)
    lines = [f"## {role} (pid {pid}): {total} samples on CPU at {RATE}/s", "", "own time:"]
    lines += [f"  {100.0 * n / max(total, 1):5.1f}%  {name}" for name, n in own]
    lines += ["", "inclusive, faas_trio code:"]
    lines += [f"  {100.0 * n / max(total, 1):5.1f}%  {name}" for name, n in inclusive]
    return "\n".join(lines) + "\n"


@asynccontextmanager
async def profiling(supervisor: int, out: Path, label: str) -> AsyncIterator[list[str]]:
    """Record every component below ``supervisor`` while the body runs, then write
    ``out/<label>.txt`` (the summaries) and ``out/<label>-<role>-<pid>.raw``. Yields a list the
    caller may read notes from (why nothing was recorded).

    Cancellation: the py-spy processes are stopped (SIGINT, then killed) before it propagates.
    """
    notes: list[str] = []
    tool = _py_spy()
    if tool is None:
        notes.append("py-spy not installed (pip install -e '.[load]'): no profile")
        yield notes
        return
    await trio.Path(out).mkdir(parents=True, exist_ok=True)
    recorders: list[tuple[str, int, Path, trio.Process]] = []
    try:
        for pid, role in sorted(component_pids(supervisor).items(), key=lambda kv: kv[1]):
            raw = out / f"{label}-{role}-{pid}.raw"
            argv = [tool, "record", "--format", "raw", "--nonblocking", "-r", str(RATE),
                    "-p", str(pid), "-o", str(raw)]  # fmt: skip
            process = await trio.lowlevel.open_process(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            recorders.append((role, pid, raw, process))
        await trio.sleep(0.5)  # let each attach before the load starts
        yield notes
    finally:
        with trio.CancelScope(shield=True):
            for *_, process in recorders:
                if process.returncode is None:
                    process.send_signal(signal.SIGINT)
            for *_, process in recorders:
                with trio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    _write_summary(out / f"{label}.txt", label, [(r, p, raw) for r, p, raw, _ in recorders])


def _write_summary(path: Path, label: str, recorded: list[tuple[str, int, Path]]) -> None:
    parts = [f"# profile: {label}\n"]
    for role, pid, raw in recorded:
        text = raw.read_text(errors="replace") if raw.exists() else ""
        parts.append(_render(role, pid, text) if text else f"## {role} (pid {pid}): no samples\n")
    path.write_text("\n".join(parts))
