"""The whole local platform as a tree of supervised processes, and its RPC face.

One :class:`Child` per role: the dbmanager, the jqmanager, the frontend, the scaler, and a
variable number of workers (``worker.1``, ``worker.2``…). The scaler resizes the worker set
through the ``SetWorkers`` request, which :meth:`ProcessTree.handle` answers.
"""

from __future__ import annotations

import logging
import os

import trio

from ..core.errors import BadRequest, Conflict
from ..core.messages import Done, Message, Ping, Pong, SetWorkers
from .children import SUPERVISOR_PID_VAR, Child, Emit, RestartDelays, write_stdout
from .config import ROLES, SET_FOR_CHILDREN, SupervisorConfig

__all__ = ["STOP_ORDER", "ProcessTree", "role_env"]

log = logging.getLogger("faas.supervisor")

#: The order of an orderly stop, a group at a time: first what takes in work (the frontend),
#: the scaler and the workers, which drain and hand their jobs back to the jqmanager that is
#: still up; then the jqmanager; then the dbmanager it stores through.
STOP_ORDER = (("frontend", "scaler", "worker"), ("jqmanager",), ("dbmanager",))



def role_env(config: SupervisorConfig, role: str, supervisor_url: str) -> dict[str, str]:
    """The environment ``role`` runs with: the supervisor's own, plus the role's addresses."""
    db_url = f"tcp://127.0.0.1:{config.db_port}"
    jq_url = f"tcp://127.0.0.1:{config.jq_port}"
    own: dict[str, str] = {
        "dbmanager": {"PORT": str(config.db_port), "DB_URL": config.store_url},
        "jqmanager": {"PORT": str(config.jq_port), "DB_URL": db_url},
        "frontend": {"PORT": str(config.http_port), "DB_URL": db_url, "JQ_URL": jq_url},
        "worker": {"JQ_URL": jq_url},
        "scaler": {
            "JQ_URL": jq_url,
            "FAAS_SUPERVISOR_URL": supervisor_url,
            "FAAS_SCALER_ACTUATOR": "local",
        },
    }[role]
    # A value the user meant for one role (PORT, DB_URL) never reaches another one.
    env = {k: v for k, v in config.base_env.items() if k not in SET_FOR_CHILDREN}
    env.update(own)
    env["FAAS_HOME"] = str(config.home)
    env["FAAS_SUPERVISED"] = "1"
    env[SUPERVISOR_PID_VAR] = str(os.getpid())
    return env


class ProcessTree:
    """The supervised children of one ``faas-trio up``, all running in ``nursery``.

    Every child task lives in ``nursery`` (owned by the supervisor's ``serve``), so
    cancelling it stops every child as :meth:`Child.run` promises.
    """

    def __init__(
        self, config: SupervisorConfig, nursery: trio.Nursery, *, emit: Emit = write_stdout
    ) -> None:
        self.config = config
        self._nursery = nursery
        self._emit = emit
        self._supervisor_url = ""
        self._started = False
        self._stopping = False
        self._singletons: dict[str, Child] = {}
        #: Workers that count towards the worker count, by index.
        self._workers: dict[int, Child] = {}
        #: Retired workers whose process is still stopping, by index. A new worker takes the
        #: lowest index in neither dict, so names stay unique among live processes.
        self._draining: dict[int, Child] = {}
        # Serialises resizes, so that the last SetWorkers to arrive is the one that holds.
        self._resize_lock = trio.Lock()

    @property
    def worker_count(self) -> int:
        """Workers wanted right now (draining ones excluded)."""
        return len(self._workers)

    @property
    def draining(self) -> list[str]:
        """Names of retired workers whose process is still stopping."""
        return [child.name for child in self._draining.values()]

    def children(self) -> dict[str, Child]:
        """Every child that counts, by name (draining workers excluded)."""
        named = dict(self._singletons)
        named.update({child.name: child for child in self._workers.values()})
        return named

    async def start(self, supervisor_url: str) -> None:
        """Start every role in order: dbmanager, jqmanager, frontend, scaler, then the
        initial workers. Returns once each has been spawned (not once it is ready).

        Cancellation: each spawn is quick; a cancel leaves the tree partly started, and the
        nursery's cancel stops what was started.
        """
        self._supervisor_url = supervisor_url
        for role in ROLES:
            if role != "worker":
                child = self._child(role, role, self.config.shutdown_grace)
                self._singletons[role] = child
                await self._nursery.start(child.run)
        self._started = True
        for _ in range(self.config.initial_workers):
            await self._add_worker()
        log.info("started %s", ", ".join(self.children()))

    def hurry(self, deadline: float) -> None:
        """Make every child, draining workers included, stop by ``deadline`` (trio time)."""
        for child in self._all_live():
            child.hurry(deadline)

    async def stop(self, deadline: float) -> None:
        """Stop every child in :data:`STOP_ORDER`, a group after the other, each child by
        ``deadline`` (trio time) at the latest; returns once every child is reaped. Workers
        get their drain timeout (+1 s), the others the shutdown grace, both capped by
        ``deadline``; a group that used up the time leaves the next ones an immediate SIGKILL.

        Cancellation: stops waiting; the children told to stop go on stopping, and a cancel
        of the tree's nursery stops the others as :meth:`Child.run` promises.
        """
        self._stopping = True
        self.hurry(deadline)
        for roles in STOP_ORDER:
            group = [c for c in self._all_live() if c.name.split(".")[0] in roles]
            for child in group:
                is_worker = child.name.startswith("worker")
                child.retire(
                    self.config.drain_timeout + 1.0 if is_worker else self.config.shutdown_grace
                )
            for child in group:
                await child.stopped.wait()

    async def set_workers(self, count: int) -> int:
        """Start or retire workers until ``count`` (clamped to the configured min and max)
        are running; returns the count applied. A retired worker gets SIGTERM and
        ``drain_timeout`` + 1 s before SIGKILL; this does not wait for it.

        Raises:
            BadRequest: ``count`` is negative.
            Conflict: the tree is still starting, or stopping.

        Cancellation: returns after spawning, which is quick; a cancel may leave fewer
        workers than asked.
        """
        if count < 0:
            raise BadRequest(f"SetWorkers({count}): need a count >= 0")
        if not self._started:
            raise Conflict("the supervisor is still starting its children")
        if self._stopping:
            raise Conflict("the supervisor is stopping its children")
        async with self._resize_lock:
            return await self._resize(count)

    async def _resize(self, count: int) -> int:
        wanted = self.config.clamp_workers(count)
        if wanted != count:
            log.info("SetWorkers(%d): clamped to %d", count, wanted)
        if wanted != len(self._workers):
            log.info("workers: %d -> %d", len(self._workers), wanted)
        while len(self._workers) > wanted:
            index = max(self._workers)
            child = self._workers.pop(index)
            self._draining[index] = child
            child.retire(self.config.drain_timeout + 1.0)
        while len(self._workers) < wanted:
            await self._add_worker()
        return wanted

    async def handle(self, request: Message) -> Message:
        """The supervisor's RPC handler: ``Ping`` and ``SetWorkers``."""
        if isinstance(request, Ping):
            return Pong(component="supervisor")
        if isinstance(request, SetWorkers):
            await self.set_workers(request.count)
            return Done()
        raise BadRequest(f"the supervisor does not handle {type(request).__name__}")

    def _child(self, role: str, name: str, grace: float) -> Child:
        config = self.config
        return Child(
            name,
            config.command(role),
            role_env(config, role, self._supervisor_url),
            backoff=RestartDelays(
                config.restart_delay, config.restart_max_delay, config.stable_after
            ),
            grace=grace,
            emit=self._emit,
        )

    async def _add_worker(self) -> None:
        index = 1
        while index in self._workers or index in self._draining:
            index += 1
        child = self._child("worker", f"worker.{index}", self.config.shutdown_grace)
        self._workers[index] = child
        await self._nursery.start(self._run_worker, index, child)

    async def _run_worker(
        self, index: int, child: Child, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Run one worker until it is retired; its index is free again once it is gone.

        Cancellation: as :meth:`Child.run`.
        """
        try:
            await child.run(task_status=task_status)
        finally:
            self._draining.pop(index, None)

    def _all_live(self) -> list[Child]:
        return [*self._singletons.values(), *self._workers.values(), *self._draining.values()]
