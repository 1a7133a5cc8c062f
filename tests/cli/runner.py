"""Running ``faas-trio`` as a user does: a subprocess, its output piped or on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Bound on one command (a call waits for its job, a map for its group).
COMMAND_TIMEOUT = 60.0


_SGR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def screen(self) -> str:
        """``out`` without colours and bold (what a person reads on the terminal)."""
        return _SGR.sub("", self.out).replace("\r\n", "\n")


class Cli:
    """``faas-trio`` with its own HOME (so its own profile) and target variables."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FAAS_") and k not in ("XDG_CONFIG_HOME", "COLUMNS")
        }
        self.env.update(HOME=str(home), PYTHONUNBUFFERED="1", **env)

    def __call__(self, *argv: str, stdin: str | None = None, **env: str) -> Ran:
        """Run with stdout and stderr piped (not a terminal)."""
        done = subprocess.run(
            [sys.executable, "-m", "faas_trio", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.home,
            timeout=COMMAND_TIMEOUT,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def on_terminal(self, *argv: str, columns: int = 120) -> Ran:
        """Run with stdout and stderr on a pseudo-terminal; ``out`` is all it drew there."""
        with Terminal(self, argv, columns) as term:
            term.read_until(None)
            return Ran(term.wait(), term.text, "")

    def terminal(self, *argv: str, columns: int = 120) -> Terminal:
        """Start a command on a pseudo-terminal, to read as it draws and interrupt."""
        return Terminal(self, argv, columns)


class Terminal:
    """A command running on a pseudo-terminal; use as a context manager (kills it at exit)."""

    def __init__(self, cli: Cli, argv: tuple[str, ...], columns: int) -> None:
        master, slave = pty.openpty()
        env = {**cli.env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faas_trio", *argv],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cli.home,
        )
        os.close(slave)
        self.master = master
        self.chunks: list[bytes] = []
        self.closed = False

    @property
    def text(self) -> str:
        """Everything drawn so far, as the bytes came (escape sequences included)."""
        return b"".join(self.chunks).decode("utf-8", "replace")

    def read_until(self, wanted: str | None, timeout: float = COMMAND_TIMEOUT) -> str:
        """Read until ``wanted`` (escapes removed) was drawn, or, with None, until the end.

        Raises:
            TimeoutError: not drawn within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted is not None and wanted in _SGR.sub("", self.text):
                return self.text
            if self.closed:
                break
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the terminal closed: the command ended
                    data = b""
                if not data:
                    self.closed = True
                self.chunks.append(data)
            elif self.proc.poll() is not None:
                self.closed = True
        if wanted is None and self.closed:
            return self.text
        raise TimeoutError(f"{wanted!r} not drawn in {timeout} s; drawn:\n{self.text}")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the command."""
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = COMMAND_TIMEOUT) -> int:
        """The exit code, once the command ended."""
        return self.proc.wait(timeout)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)
