"""Running ``faas-trio`` as a user does: a subprocess, its output piped or on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
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
        master, slave = pty.openpty()
        env = {**self.env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "40"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "faas_trio", *argv],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=self.home,
        )
        os.close(slave)
        chunks: list[bytes] = []
        deadline = time.monotonic() + COMMAND_TIMEOUT
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # the terminal closed: the command ended
                        break
                    if not data:
                        break
                    chunks.append(data)
                elif proc.poll() is not None:
                    break
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        return Ran(code, b"".join(chunks).decode("utf-8", "replace"), "")
