"""The whole platform as the user runs it: ``faas-trio up`` in a subprocess.

The ``platform`` fixture is a factory: ``up = await platform()`` starts ``python -m faas_trio
up`` with its own FAAS_HOME (under ``tmp_path``) and free ports, and returns once the
frontend answers ``/healthz`` and ``/readyz``. At teardown every platform started gets
SIGTERM and must exit 0 within 6 s, leaving no process behind: none may still carry its
FAAS_HOME in its environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from .unprivileged import owned_home, run_as

#: Bound on the platform answering /healthz and /readyz after start. Generous: no promise is
#: checked here, and on a busy machine importing each component's modules alone has taken 12 s.
START_TIMEOUT = 60.0
#: Bound on ``faas-trio up`` exiting after SIGTERM (it promises 5 s).
STOP_TIMEOUT = 6.0
#: Bound on the kernel finishing off processes that were sent SIGKILL.
KILL_SETTLE_TIMEOUT = 2.0


def _log_path(home: Path) -> Path:
    return home.parent / f"{home.name}.log"


@dataclass
class Platform:
    """One running ``faas-trio up``."""

    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def output(self) -> str:
        """Everything the supervisor and its children printed so far."""
        return _log_path(self.home).read_text(errors="replace")

    async def stop(self) -> None:
        """Stop it now with the teardown's checks (exit 0 in time, nothing left); idempotent."""
        await _stop(self)


def _spawn_up(
    env: dict[str, str], home: Path, cwd: Path, python: Sequence[str] = (sys.executable,)
) -> subprocess.Popen[bytes]:
    """Start ``python -m faas_trio up``, its output going to a log file beside ``home``."""
    with _log_path(home).open("wb") as log:
        # A file, not a pipe: a pipe nobody reads would block the supervisor once full.
        return subprocess.Popen(
            [*python, "-m", "faas_trio", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )


StartPlatform = Callable[..., Awaitable[Platform]]


def processes_of(home: Path) -> list[int]:
    """Live processes (zombies excluded) whose environment holds ``FAAS_HOME=home``."""
    marker = b"FAAS_HOME=" + os.fsencode(home)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state not in ("Z", "X") and marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def roles_running(home: Path) -> dict[str, list[int]]:
    """Pids of the platform's role processes, by the role their command line names."""
    found: dict[str, list[int]] = {}
    for pid in processes_of(home):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 4 and argv[1:3] == [b"-m", b"faas_trio"]:
            found.setdefault(argv[3].decode(), []).append(pid)
    return found


async def _wait_ready(up: Platform) -> None:
    """Wait until the frontend answers /healthz and then /readyz with 200.

    Cancellation: stops polling; the platform keeps running (teardown stops it).
    """
    async with httpx.AsyncClient(base_url=up.url, timeout=2.0) as http:
        for path in ("/healthz", "/readyz"):
            while True:
                if up.proc.poll() is not None:
                    raise RuntimeError(f"faas-trio up exited with {up.proc.returncode}")
                try:
                    if (await http.get(path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def _stop(up: Platform) -> None:
    """SIGTERM the supervisor; check it exits 0 in time and leaves no process behind.

    Cancellation: not meant to be cancelled (fixture teardown); leftovers are SIGKILLed.
    """
    if up.proc.poll() is None:
        up.proc.send_signal(signal.SIGTERM)
    with trio.move_on_after(STOP_TIMEOUT):
        while up.proc.poll() is None:  # noqa: ASYNC110 (a Popen has no event to wait on)
            await trio.sleep(0.05)
    exited = up.proc.poll()
    if exited is None:
        os.killpg(up.proc.pid, signal.SIGKILL)
        up.proc.wait()
    leftovers = processes_of(up.home)
    with trio.move_on_after(KILL_SETTLE_TIMEOUT):
        while leftovers:  # noqa: ASYNC110 (the process table has no event to wait on)
            await trio.sleep(0.05)
            leftovers = processes_of(up.home)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    tail = "\n".join(up.output().splitlines()[-40:])
    assert exited is not None, f"faas-trio up did not exit within {STOP_TIMEOUT} s:\n{tail}"
    assert exited == 0, f"faas-trio up exited with {exited}:\n{tail}"
    assert not leftovers, f"processes left behind: {leftovers}\n{tail}"


@pytest.fixture
async def platform(
    tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> AsyncIterator[StartPlatform]:
    """A factory: ``await platform(home=None, **env)`` starts one platform on ``home`` (a
    fresh folder if None; an earlier, stopped platform's is fine) and returns once it is ready;
    keyword arguments are environment variables (``FAAS_WORKERS="2"``…). With
    ``as_user=uid`` the whole platform runs as that unprivileged uid (:mod:`.unprivileged`),
    on a fresh ``FAAS_HOME`` it owns."""
    started: list[Platform] = []
    homes: list[Path] = []

    async def start(
        home: Path | None = None, *, as_user: int | None = None, **env: str
    ) -> Platform:
        index = len(started)
        python: Sequence[str] = (sys.executable,)
        extra: dict[str, str] = {}
        if as_user is not None:
            python, extra = await trio.to_thread.run_sync(run_as, as_user)
            home = home or owned_home(as_user)
            homes.append(home)
            extra = {**extra, "HOME": str(home)}
        home = home or tmp_path / f"home{index}"
        log = _log_path(home)
        if log.exists():  # an earlier platform ran on this home: keep its log beside
            log.rename(log.with_suffix(f".log.{index}"))
        http_port, db_port, jq_port = free_ports(3)
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FAAS_") and k not in ("PORT", "DB_URL", "JQ_URL")
        }
        full_env.update(
            FAAS_HOME=str(home),
            PORT=str(http_port),
            FAAS_DB_PORT=str(db_port),
            FAAS_JQ_PORT=str(jq_port),
            PYTHONUNBUFFERED="1",
        )
        full_env.update(extra, **env)
        cwd = tmp_path if as_user is None else home
        up = Platform(
            f"http://127.0.0.1:{http_port}", home, _spawn_up(full_env, home, cwd, python),
            full_env,
        )  # fmt: skip
        started.append(up)
        try:
            with trio.fail_after(START_TIMEOUT):
                await _wait_ready(up)
        except (trio.TooSlowError, RuntimeError) as exc:
            tail = "\n".join(up.output().splitlines()[-60:])
            raise RuntimeError(f"the platform did not come up ({exc!r}):\n{tail}") from exc
        return up

    try:
        yield start
    finally:
        with trio.CancelScope(shield=True):
            # Newest first: a later platform may run on an earlier one's FAAS_HOME.
            for up in reversed(started):
                await _stop(up)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
            _log_path(home).unlink(missing_ok=True)
