"""The dbmanager: the store served over RPC, writes group-committed, old jobs swept.

Writes (``PutUser``, ``CreateJob``, ``FinishJob``…) go through one
:class:`~faas_trio.dbmanager.committer.GroupCommitter`; reads go straight to the store.
A request the dbmanager does not handle is answered ``BadRequest``; a store failure is
answered with the store's error (``PeerUnavailable`` when the database cannot be used).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from functools import partial

import trio

from ..core.errors import BadRequest, FaasError, InternalError, NotFound
from ..core.lifecycle import run_component
from ..core.messages import (
    Changed,
    ChangedMany,
    CreateGroup,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteSecret,
    DeleteUser,
    FinishJob,
    FinishJobs,
    FunctionReply,
    FunctionsReply,
    GetFunction,
    GetGroup,
    GetJob,
    GetLogs,
    GetStoreMetrics,
    GetUser,
    GroupItems,
    GroupReply,
    GroupsReply,
    JobCreated,
    JobReply,
    JobsReply,
    ListFunctions,
    ListGroups,
    ListJobs,
    ListSecrets,
    LogsReply,
    Message,
    Ping,
    Pong,
    PutFunction,
    PutSecret,
    PutUser,
    RequeueJob,
    SecretsReply,
    SetBuild,
    StartJob,
    UnfinishedJobs,
    UnfinishedReply,
    UserReply,
    WaitBuild,
)
from ..core.records import Function
from ..core.rpc import Handler, serve_rpc
from ..store import Store, WriteResult, open_store
from ..store.base import stored_size, text_size
from .admission import admitted
from .builds import Builder
from .committer import GroupCommitter
from .config import DbManagerConfig
from .stored_bytes import StoredBytesCap

__all__ = ["MAX_LIST_LIMIT", "main", "make_handler", "serve", "serve_store", "sweep_periodically"]

#: The most jobs one ``ListJobs`` may ask for.
MAX_LIST_LIMIT = 1000
#: The longest a ``WaitBuild`` is held, seconds (callers ask again).
MAX_BUILD_WAIT = 600.0
#: The most items one ``GroupItems`` may ask for.
MAX_GROUP_PAGE = 10_000

log = logging.getLogger("faas.dbmanager")


def _applied(results: list[WriteResult]) -> list[bool | None]:
    """Each ``FinishJob`` result of a ``FinishJobs`` as ``ChangedMany`` says it.

    Raises:
        FaasError: a write failed for another reason than its job being gone (the first).
    """
    out: list[bool | None] = []
    for result in results:
        if isinstance(result, Changed):
            out.append(result.applied)
        elif isinstance(result, NotFound):
            out.append(None)
        elif isinstance(result, FaasError):
            raise result
        else:
            raise InternalError(f"a FinishJob answered {type(result).__name__}")
    return out


def make_handler(
    store: Store,
    committer: GroupCommitter,
    builder: Builder | None = None,
    cap: StoredBytesCap | None = None,
) -> Handler:
    """The RPC handler: each request to its committer write or store read. A function
    registered with requirements has its environment built by ``builder`` (none: its build
    stays pending); submissions are checked against ``cap`` (none: no cap)."""
    count = cap or StoredBytesCap(store, sys.maxsize)

    async def get_function(user: str, name: str) -> Function:
        function = await store.get_function(user, name)
        if function is None:
            raise NotFound(f"function '{name}' not found for user '{user}'")
        return function

    async def handle(request: Message) -> Message:
        match request:
            case Ping():
                return Pong(component="dbmanager")
            case PutFunction():
                reply = await committer.write(request)
                if builder is not None and isinstance(reply, FunctionReply):
                    builder.start(reply.function)
                return reply
            case WaitBuild(user=user_name, name=name, version=version, wait=wait):
                function = await get_function(user_name, name)
                build = function.build
                if builder is None or function.version != version or build is None:
                    return FunctionReply(function=function)
                if not build.is_final:
                    await builder.wait(function, max(0.0, min(wait, MAX_BUILD_WAIT)))
                    function = await get_function(user_name, name)
                return FunctionReply(function=function)
            case ListSecrets(user=user_name):
                names = await store.list_secrets(user_name)
                if names is None:
                    raise NotFound(f"user '{user_name}' not found")
                return SecretsReply(names=names)
            case CreateJob(submission=submission):
                checked = admitted(request)
                size = text_size(submission.args)
                await count.check(submission.user, size)
                reply = await committer.write(checked)
                if isinstance(reply, JobCreated) and not reply.existing:
                    count.added(submission.user, size)
                return reply
            case FinishJob():
                reply = await committer.write(admitted(request))
                if isinstance(reply, Changed) and reply.applied:
                    count.added(request.job.user, _finish_size(request))
                return reply
            case PutUser(name=name) | DeleteUser(name=name):
                count.forget(name)
                return await committer.write(request)
            case DeleteJob():
                count.forget()  # whose bytes were freed is not known here
                return await committer.write(request)
            case (
                DeleteFunction() | StartJob() | RequeueJob() | SetBuild() | PutSecret()
                | DeleteSecret()
            ):  # fmt: skip
                return await committer.write(admitted(request))
            case GetUser(name=name):
                user = await store.get_user(name)
                if user is None:
                    raise NotFound(f"user '{name}' not found")
                return UserReply(user=user)
            case GetFunction(user=user_name, name=name):
                function = await get_function(user_name, name)
                if builder is not None:
                    builder.start(function)  # resumes a build a restart left unfinished
                return FunctionReply(function=function)
            case ListFunctions(user=user_name):
                functions = await store.list_functions(user_name)
                if not functions and await store.get_user(user_name) is None:
                    raise NotFound(f"user '{user_name}' not found")
                return FunctionsReply(functions=functions)
            case GetJob(id=job_id):
                job = await store.get_job(job_id)
                if job is None:
                    raise NotFound(f"job '{job_id}' not found")
                return JobReply(job=job)
            case GetLogs(id=job_id):
                logs = await store.get_logs(job_id)
                if logs is None:
                    raise NotFound(f"job '{job_id}' not found")
                return LogsReply(logs=logs)
            case ListJobs(user=user_name, state=state, limit=limit):
                if not 1 <= limit <= MAX_LIST_LIMIT:
                    raise BadRequest(f"limit must be from 1 to {MAX_LIST_LIMIT}, not {limit}")
                return JobsReply(jobs=await store.list_jobs(user_name, state, limit))
            case GetStoreMetrics():
                return store.metrics()
            case UnfinishedJobs():
                jobs, functions = await store.unfinished_jobs()
                return UnfinishedReply(jobs=jobs, functions=functions)
            case FinishJobs(finishes=finishes):
                applied = _applied(await committer.write_many(list(finishes)))
                for finish, done in zip(finishes, applied, strict=True):
                    if done:
                        count.added(finish.job.user, _finish_size(finish))
                return ChangedMany(applied)
            case CreateGroup(group=group, args=args):
                size = sum(text_size(each) for each in args)
                await count.check(group.user, size)
                created = await store.create_group(group, args)
                if not created.existing:
                    count.added(group.user, size)
                return created
            case GetGroup(id=group_id):
                found = await store.get_group(group_id)
                if found is None:
                    raise NotFound(f"group '{group_id}' not found")
                return GroupReply(*found)
            case GroupItems(id=group_id, offset=offset, limit=limit, indices=indices):
                if indices is None and not 0 <= limit <= MAX_GROUP_PAGE:
                    raise BadRequest(f"limit must be from 0 to {MAX_GROUP_PAGE}, not {limit}")
                if indices is not None and len(indices) > MAX_GROUP_PAGE:
                    raise BadRequest(f"at most {MAX_GROUP_PAGE} indices at once")
                return JobsReply(
                    await store.group_items(group_id, offset, limit, indices, request.final_only)
                )
            case ListGroups(user=user_name, limit=limit):
                if not 1 <= limit <= MAX_LIST_LIMIT:
                    raise BadRequest(f"limit must be from 1 to {MAX_LIST_LIMIT}, not {limit}")
                return GroupsReply(await store.list_groups(user_name, limit))
        raise BadRequest(f"dbmanager does not handle {type(request).__name__}")

    return handle


def _finish_size(finish: FinishJob) -> int:
    """The bytes an applied ``finish`` added to its user's (its arguments were counted)."""
    return stored_size(finish.job, finish.logs) - text_size(finish.job.args)


async def sweep_periodically(
    store: Store,
    retention: float,
    interval: float,
    *,
    now: Callable[[], float] = time.time,
    swept: Callable[[], None] = lambda: None,
) -> None:
    """Every ``interval`` seconds, starting at once, delete the final jobs that finished more
    than ``retention`` seconds before ``now()``, then call ``swept()`` if any were. A failed
    sweep is logged and tried again at the next interval.

    Cancellation: runs until cancelled; a sweep in progress finishes its transaction first.
    """
    while True:
        try:
            removed = await store.sweep(now() - retention)
        except FaasError as exc:
            log.warning("sweeping finished jobs failed: %s", exc)
        else:
            if removed:
                swept()
                log.info("swept %d jobs finished over %g s ago", removed, retention)
        await trio.sleep(interval)


async def serve_store(
    store: Store,
    config: DbManagerConfig,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``store`` (opened and closed by the caller) on ``config.bind`` until cancelled.

    Calls ``task_status.started(endpoint)`` with the bound ``tcp://host:port`` once ready.

    Cancellation: stops taking requests, cancels those in flight (a write already queued may
    still commit), and returns once the committer and the sweeper have stopped.
    """
    committer = GroupCommitter(store)
    cap = StoredBytesCap(store, config.max_stored_bytes)

    async def set_build(op: SetBuild) -> bool:
        reply = await committer.write(op)
        return isinstance(reply, Changed) and reply.applied

    async with trio.open_nursery() as nursery:
        await nursery.start(committer.run)
        nursery.start_soon(
            partial(sweep_periodically, swept=cap.forget),
            store, config.retention, config.sweep_interval,
        )  # fmt: skip
        builder = Builder(nursery, config.builds, set_build)
        handler = make_handler(store, committer, builder, cap)
        bound: str = await nursery.start(partial(serve_rpc, name="dbmanager"), config.bind, handler)
        log.info("serving on %s", bound)
        task_status.started(bound)


async def serve(
    config: DbManagerConfig, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Open the store at ``config.store_url`` and serve it until cancelled.

    Calls ``task_status.started(endpoint)`` with the bound ``tcp://host:port`` once ready.

    Raises:
        ValueError: ``config.store_url`` names no supported backend.
        PeerUnavailable: the store cannot be opened.

    Cancellation: as :func:`serve_store`; then the store is closed (shielded, bounded).
    """
    async with open_store(
        config.store_url, retention=config.retention, sqlite_sync=config.sqlite_sync
    ) as store:
        log.info("opened the store %s", _without_password(config.store_url))
        await serve_store(store, config, task_status=task_status)


def _without_password(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def main() -> None:
    """The ``dbmanager`` process: settings from the environment, serve until SIGTERM/SIGINT."""
    run_component("dbmanager", DbManagerConfig.from_env, serve)
