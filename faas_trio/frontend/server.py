"""Running the frontend: the HTTP server on hypercorn, and the process entry point."""

from __future__ import annotations

import logging
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..core.lifecycle import run_component
from ..core.rpc import open_client
from .app import create_app
from .config import FrontendConfig
from .peers import Peers

__all__ = ["main", "serve"]

_log = logging.getLogger("faas.frontend")

#: Seconds hypercorn lets open connections finish when it shuts down on its own.
_GRACEFUL_TIMEOUT = 5.0


def _hypercorn_config(config: FrontendConfig) -> HypercornConfig:
    hconfig = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hconfig.bind = [f"{host}:{config.port}"]
    hconfig.accesslog = None
    hconfig.errorlog = logging.getLogger("faas.frontend.http")
    hconfig.graceful_timeout = _GRACEFUL_TIMEOUT
    return hconfig


def _port_of(bind: str) -> int:
    """The port in a hypercorn bind such as ``http://127.0.0.1:8080``."""
    return int(bind.rsplit(":", 1)[1])


async def serve(
    config: FrontendConfig, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Connect to dbmanager and jqmanager, listen for HTTP, and serve until cancelled.

    Calls ``task_status.started(port)`` with the bound TCP port once connections are
    accepted (useful with ``config.port == 0``).

    Cancellation: runs until cancelled; then stops listening, cuts open requests (jobs they
    submitted stay submitted), stops telling the jqmanager of changes it missed
    (:meth:`Peers.keep_telling`) and closes both RPC clients before returning.
    """
    async with (
        open_client(config.db_url, name="frontend->dbmanager", peer="dbmanager") as db,
        open_client(config.jq_url, name="frontend->jqmanager", peer="jqmanager") as jq,
    ):
        peers = Peers(db=db, jq=jq, rpc_timeout=config.rpc_timeout)
        app = create_app(config, peers)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peers.keep_telling)
            binds: list[str] = await nursery.start(
                partial(hypercorn_serve, app, _hypercorn_config(config))
            )
            port = _port_of(binds[0])
            _log.info(
                "frontend on http://%s:%d (dbmanager %s, jqmanager %s)",
                config.host,
                port,
                config.db_url,
                config.jq_url,
            )
            task_status.started(port)


def main() -> None:
    """The ``frontend`` process: settings from the environment, serve until SIGTERM/SIGINT."""
    run_component("frontend", FrontendConfig.from_env, serve)
