"""The jqmanager process: its RPC server, its background tasks, and its command-line entry."""

from __future__ import annotations

import logging
from functools import partial

import trio

from ..core.errors import BadRequest
from ..core.lifecycle import run_component
from ..core.messages import (
    CancelJob,
    GetMetrics,
    GetStats,
    Heartbeat,
    Message,
    NextJob,
    Ping,
    Pong,
    Report,
    Submit,
    WaitJob,
)
from ..core.rpc import open_client, serve_rpc
from .client_requests import handle_cancel, handle_submit, handle_wait
from .config import JqManagerConfig
from .manager import JobManager
from .worker_requests import (
    handle_heartbeat,
    handle_next_job,
    handle_report,
    take_back_undelivered,
)

__all__ = ["handle", "main", "serve"]

log = logging.getLogger("faas.jqmanager")


async def handle(manager: JobManager, request: Message) -> Message:
    """Answer one request. Errors are raised as :class:`~faas_trio.core.errors.FaasError`
    (the RPC server turns them into error replies).

    Raises:
        BadRequest: a message the jqmanager does not serve.

    Cancellation: as the handler of the request's type.
    """
    match request:
        case NextJob():
            return await handle_next_job(manager, request)
        case Heartbeat():
            return await handle_heartbeat(manager, request)
        case Report():
            return await handle_report(manager, request)
        case Submit():
            return await handle_submit(manager, request)
        case WaitJob():
            return await handle_wait(manager, request)
        case CancelJob():
            return await handle_cancel(manager, request)
        case GetStats():
            manager.metrics.observe_scaler(request, trio.current_time())
            return manager.stats()
        case GetMetrics():
            return manager.metrics.snapshot(manager.stats(), now=trio.current_time())
        case Ping():
            return Pong("jqmanager")
        case _:
            raise BadRequest(f"jqmanager does not serve {type(request).__name__}")


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
    async with open_client(config.db_url, name="jqmanager-db") as db:
        async with trio.open_nursery() as nursery:
            manager = JobManager(config, db, nursery)
            endpoint: str = await nursery.start(
                partial(
                    serve_rpc,
                    config.bind,
                    partial(handle, manager),
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
