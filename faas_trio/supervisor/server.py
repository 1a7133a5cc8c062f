"""``faas-trio up``: run the whole platform in the foreground until SIGINT or SIGTERM.

:func:`serve` binds the supervisor's RPC endpoint (``SetWorkers``, ``Ping``), starts the
process tree and announces the platform's URL once the frontend answers ``/healthz``.
:func:`main` runs it until a signal and exits with code 0 once every child is gone.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import partial

import trio

from ..core import curve
from ..core.lifecycle import run_component
from ..core.rpc import serve_rpc
from .children import Emit, write_stdout
from .config import SupervisorConfig
from .tree import ProcessTree

__all__ = ["Supervisor", "main", "serve"]

log = logging.getLogger("faas.supervisor")

#: How long the frontend may take to answer ``/healthz`` before we say so.
_READY_TIMEOUT = 30.0
_READY_POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class Supervisor:
    """What :func:`serve` hands to ``task_status.started`` once every child is spawned."""

    #: The frontend's base URL.
    url: str
    #: The supervisor's RPC endpoint (``tcp://127.0.0.1:port``).
    rpc_endpoint: str
    tree: ProcessTree


async def serve(
    config: SupervisorConfig,
    *,
    emit: Emit = write_stdout,
    task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the platform until cancelled. ``emit`` receives the children's prefixed output
    lines and the ``faas-trio up: <url>`` line.

    Cancellation: runs until cancelled; then every child gets SIGTERM at once, and SIGKILL
    (to its whole process group) if it has not exited ``shutdown_grace`` seconds later,
    including workers that were already draining. Every child is reaped before
    ``Cancelled`` propagates, within ``shutdown_grace`` + 0.6 s.
    """
    config.home.mkdir(parents=True, exist_ok=True)
    await sweep_scratch(config)
    url = f"http://127.0.0.1:{config.http_port}"
    async with trio.open_nursery() as nursery:
        tree = ProcessTree(config, nursery, emit=emit)
        endpoint: str = await nursery.start(
            partial(serve_rpc, "tcp://127.0.0.1:*", tree.handle, name="supervisor")
        )
        try:
            await tree.start(endpoint)
            nursery.start_soon(_announce_when_ready, config.http_port, url, emit)
            task_status.started(Supervisor(url=url, rpc_endpoint=endpoint, tree=tree))
            await trio.sleep_forever()
        finally:
            # Children already draining must not outlast the shutdown grace either.
            tree.hurry(trio.current_time() + config.shutdown_grace)


async def sweep_scratch(config: SupervisorConfig) -> None:
    """Remove every sandbox scratch directory in ``FAAS_HOME/scratch``. Called only while
    no worker of this platform runs (before the first starts, after the last stopped): a
    worker removes the directories of the sandboxes it reaps, but one killed outright
    (``kill -9``, the OOM killer, a killed supervisor) leaves those of its sandboxes behind.

    Cancellation: runs in a worker thread; a cancel abandons the sweep part-way (the next
    one finishes it).
    """
    scratch = config.home / "scratch"

    def sweep() -> int:
        if not scratch.is_dir():
            return 0
        entries = list(scratch.iterdir())
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return len(entries)

    swept = await trio.to_thread.run_sync(sweep, abandon_on_cancel=True)
    if swept:
        log.info("removed %d scratch directories left by killed workers", swept)


async def _announce_when_ready(port: int, url: str, emit: Emit) -> None:
    """Print ``faas-trio up: <url>`` once the frontend answers ``/healthz``.

    Cancellation: stops polling; nothing to clean up.
    """
    with trio.move_on_after(_READY_TIMEOUT):
        while True:
            if await _healthy(port):
                emit([f"faas-trio up: {url}"])
                return
            await trio.sleep(_READY_POLL_INTERVAL)
    log.warning("the frontend did not answer %s/healthz within %.0f s", url, _READY_TIMEOUT)


async def _healthy(port: int) -> bool:
    """Whether ``GET /healthz`` on ``127.0.0.1:port`` answers 200 within a second.

    Cancellation: closes the connection.
    """
    request = b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with trio.move_on_after(1.0):
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            return False
        async with stream:
            try:
                await stream.send_all(request)
                head = b""
                while b"\r\n" not in head and len(head) < 1024:
                    chunk = await stream.receive_some(1024)
                    if not chunk:
                        break
                    head += chunk
            except trio.BrokenResourceError:
                return False
        status = head.split(b"\r\n", 1)[0].split()
        return len(status) >= 2 and status[1] == b"200"
    return False


async def _stop_in_order(supervisor: Supervisor) -> None:
    """Stop the children in order (:meth:`ProcessTree.stop`: frontend, scaler and workers,
    then jqmanager, then dbmanager), so that results finished during the workers' drain still
    reach the store; all within ``shutdown_grace`` seconds.

    Cancellation: bounded anyway: past the deadline every child is SIGKILLed and reaped.
    """
    deadline = trio.current_time() + supervisor.tree.config.shutdown_grace
    with trio.move_on_at(deadline + 1.0):
        await supervisor.tree.stop(deadline)
        await sweep_scratch(supervisor.tree.config)


def main() -> None:
    """The ``faas-trio up`` command: runs until SIGINT/SIGTERM, exits 0 once every child is
    gone, 2 on a bad setting. Makes the CurveZMQ keys of every role first when they are
    missing (``faas-trio keys``), so that a first run needs no step from the user."""
    if curve.wants_key_files():
        made = curve.ensure_keys(curve.keys_dir())
        if made:
            log.info("made CurveZMQ keys in %s for %s", curve.keys_dir(), ", ".join(made))
    run_component("supervisor", SupervisorConfig.from_env, serve, before_stop=_stop_in_order)
