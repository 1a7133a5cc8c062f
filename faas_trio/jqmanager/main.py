"""The jqmanager process: its RPC server, its background tasks, and its command-line entry."""

from __future__ import annotations

import logging
from functools import partial

import trio

from ..core.lifecycle import run_component
from ..core.rpc import open_client, serve_rpc
from .config import JqManagerConfig
from .handlers import handle_with, take_back_undelivered
from .manager import JobManager
from .maps import MapManager

__all__ = ["main", "serve"]

log = logging.getLogger("faas.jqmanager")


async def serve(
    config: JqManagerConfig, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Bind the jqmanager's ROUTER and run until cancelled.

    Calls ``task_status.started(endpoint)`` with the bound ``tcp://host:port`` as soon as it
    listens; requests that need the job table (submissions, work, reports, cancels) wait until
    the unfinished jobs are loaded from the dbmanager, which is retried until it answers.

    Cancellation: runs until cancelled; then held requests and background writes are
    cancelled (writes not yet stored are redone from the store's state at the next start).
    """
    async with open_client(config.db_url, name="jqmanager-db", peer="dbmanager") as db:
        async with trio.open_nursery() as nursery:
            manager = JobManager(config, db, nursery)
            endpoint: str = await nursery.start(
                partial(
                    serve_rpc,
                    config.bind,
                    partial(handle_with, manager, MapManager(manager)),
                    name="jqmanager",
                    on_undelivered=partial(take_back_undelivered, manager),
                )
            )
            log.info("jqmanager listening on %s, dbmanager at %s", endpoint, config.db_url)
            nursery.start_soon(manager.load)
            nursery.start_soon(manager.watch_leases)
            task_status.started(endpoint)


def main() -> None:
    """The ``jqmanager`` process: settings from the environment, serve until SIGTERM/SIGINT."""
    run_component("jqmanager", JqManagerConfig.from_env, serve)
