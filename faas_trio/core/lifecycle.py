"""Running one component as a process: settings from the environment, serve until a signal.

Every component's ``main()`` is :func:`run_component` with its own ``from_env`` and ``serve``,
so all of them log, stop and exit the same way:

====  =============================================================================
code  when
====  =============================================================================
0     stopped by SIGTERM or SIGINT (after its ``serve`` cleaned up)
1     it could not run: a port in use, a store that cannot be opened…
2     a setting in the environment is malformed (the message names the variable)
====  =============================================================================
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import trio

from . import curve
from .config import ConfigError, value
from .errors import FaasError
from .logs import setup_logging

__all__ = ["end_process", "run_component"]

ConfigT = TypeVar("ConfigT")

#: ``serve(config, *, task_status)``: runs until cancelled, cleaning up before it returns.
Serve = Callable[..., Awaitable[object]]
#: Called with what ``serve`` passed to ``task_status.started`` when a signal arrives, before
#: ``serve`` is cancelled; must bound its own duration.
BeforeStop = Callable[[Any], Awaitable[None]]


def run_component(
    component: str,
    from_env: Callable[[], ConfigT],
    serve: Serve,
    *,
    before_stop: BeforeStop | None = None,
) -> None:
    """Configure logging, read the settings, run ``serve`` until SIGTERM or SIGINT, and exit
    with the code in the table above. Returns only on a clean stop (code 0)."""
    log = setup_logging(component)
    try:
        logging.getLogger().setLevel(value("FAAS_LOG_LEVEL").upper())
        config = from_env()
        if component in curve.ROLES:
            # Who this process is on the component links (CurveZMQ keys), before any socket.
            curve.install(curve.identity_from_env(component))
            if curve.installed() is None:
                log.warning("FAAS_CURVE=off: component links are not encrypted or checked")
    except ConfigError as exc:
        log.error("%s: bad setting: %s", component, exc)
        raise SystemExit(2) from None
    try:
        trio.run(_serve_until_signalled, log, serve, config, before_stop)
    except* (FaasError, OSError, ConfigError) as group:
        for error in _leaves(group):
            # A port in use or a bad setting is said in one line; anything else failed inside
            # a running task, and only its traceback says which one.
            expected = isinstance(error, (OSError, ConfigError))
            log.error("%s cannot run: %s", component, error, exc_info=None if expected else error)
        raise SystemExit(1) from None


def end_process(code: int) -> NoReturn:
    """End this process with ``code`` once its component stopped (:func:`run_component`
    returned): exit handlers run (logging is flushed) and so are stdout and stderr, but the
    interpreter is not torn down object by object. That teardown frees nothing a component
    still needs (its ``serve`` closed what it owns) and was most of a stop: 0.2 to 0.9 s of
    CPU per process on a busy machine, paid one component after another within the
    supervisor's shutdown grace."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or its reader is gone: nothing to keep
            pass
    os._exit(code)


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions in ``error``, nested groups flattened (a nursery inside a nursery
    wraps its failure twice)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for each in error.exceptions for leaf in _leaves(each)]
    return [error]


async def _serve_until_signalled(
    log: logging.Logger, serve: Serve, config: object, before_stop: BeforeStop | None
) -> None:
    """Run ``serve`` until a signal (or until it returns by itself).

    Cancellation: the signal cancels ``serve``, which cleans up (children reaped, sockets
    closed) before this returns.
    """
    # Opened before serving starts, so that a signal during start-up is not lost.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            started: list[object] = []

            async def serve_then_stop(task_status: trio.TaskStatus[object]) -> None:
                await serve(config, task_status=task_status)
                nursery.cancel_scope.cancel()  # it returned by itself: nothing left to wait for

            async def start() -> None:
                started.append(await nursery.start(serve_then_stop))

            nursery.start_soon(start)
            async for signum in signals:
                log.info("%s received, stopping", signal.Signals(signum).name)
                if before_stop is not None and started:
                    await before_stop(started[0])
                nursery.cancel_scope.cancel()
                break
