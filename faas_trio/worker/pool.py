"""Warm runner children, kept per function version and reused for its next calls.

A child is bound to one ``(user, function name, version)`` for its whole life: it is never
shared between functions or users, and a new version gets new children (idle children of the
other versions of that function are killed when it arrives). A child serves one call at a
time; concurrent calls of one function get a child each.

Idle children are killed after ``ttl`` seconds unused, and at most ``max_warm`` children live
at once: a cold start over the limit first kills the least recently used idle child, and a
child released while the pool is over the limit is killed instead of kept.

Children are forked by a zygote (:mod:`.sandbox.zygote`): the stdlib one, or the one of the
function's package environment (:mod:`.zygotes`), installed on this host first if needed
(:mod:`.envs`). A child starts with the function's env and secrets as environment variables
(:mod:`.variables`), and is reused only for calls with the same ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import trio

from ..core.records import Function
from ..core.secrets import SecretBox
from .envs import Environment, EnvironmentFailed, Environments
from .sandbox.process import Sandbox, SandboxTimeout, start_sandbox
from .sandbox.protocol import LoadRequest, Reply
from .sandbox.scratch import ScratchTrash
from .sandbox.spawn import SpawnSettings
from .variables import VariablesFailed, sandbox_variables, variables_digest
from .zygotes import ZygoteKey, ZygoteSet

__all__ = ["Checkout", "LoadFailed", "WarmPool"]

#: (user, function name, version, digest of its variables)
Key = tuple[str, str, int, str]

#: Extra seconds the worker waits past a runner's own deadline, so that the runner can report
#: the timeout itself (with the logs so far) before being killed.
RUNNER_SLACK = 0.5


class LoadFailed(Exception):
    """The function's source did not load (syntax error, top-level exception, no function)."""

    def __init__(self, error: str, message: str, logs: str) -> None:
        super().__init__(error)
        self.error = error
        self.message = message
        self.logs = logs


@dataclass(frozen=True)
class Checkout:
    """A child checked out for one call. Give it back with :meth:`WarmPool.release`."""

    sandbox: Sandbox
    key: Key
    #: Whether this call started the child.
    cold: bool
    #: Time to start the child and load the function, ms (0 when warm).
    init_ms: float
    #: Output of loading the function (cold starts only).
    load_logs: str
    #: The zygote it was forked by.
    zygote: ZygoteKey = ("", ())


@dataclass
class _Idle:
    sandbox: Sandbox
    key: Key
    since: float
    zygote: ZygoteKey


def _no_secrets() -> SecretBox:
    raise VariablesFailed("this worker has no secrets key")


class WarmPool:
    """The worker's runner children. Its stderr drains run in ``nursery``; run
    :meth:`reap_idle` in a nursery too, and :meth:`aclose` when done."""

    def __init__(
        self,
        nursery: trio.Nursery,
        settings: SpawnSettings,
        *,
        ttl: float,
        max_warm: int,
        init_timeout: float,
        default_memory_mb: int,
        envs: Environments | None = None,
        secrets: Callable[[], SecretBox] = _no_secrets,
        zygotes_max: int = 4,
        preload: bool = True,
    ) -> None:
        self._nursery = nursery
        self._settings = settings
        self._ttl = ttl
        self._max_warm = max(1, max_warm)
        self._init_timeout = init_timeout
        self._default_memory_mb = default_memory_mb
        #: Least recently used first.
        self._idle: OrderedDict[int, _Idle] = OrderedDict()
        self._busy: set[int] = set()
        self._idle_added = trio.Event()
        self._closed = False
        self._envs = envs
        self._secrets = secrets
        self._zygotes = ZygoteSet(settings.python, max_env=zygotes_max, preload=preload)
        #: Live children (idle or in use) by the zygote that forked them.
        self._children: dict[ZygoteKey, set[int]] = {}
        self._trash = ScratchTrash(settings.scratch_root, nursery)

    @property
    def idle_pids(self) -> list[int]:
        """Pids of the idle children, least recently used first."""
        return list(self._idle)

    @property
    def size(self) -> int:
        """Children alive: idle plus in use."""
        return len(self._idle) + len(self._busy)

    async def acquire(self, function: Function) -> Checkout:
        """A child with ``function`` loaded: a warm one if one is idle, else a new one.

        Raises:
            LoadFailed: the source did not load (the new child was killed), or its package
                environment or a secret it names cannot be had.
            SandboxTimeout: loading took longer than the init timeout (child killed).
            SandboxError: the child could not start or crashed while loading.

        Cancellation: a child being started is killed and reaped before it propagates.
        """
        key: Key = (function.user, function.name, function.version, variables_digest(function))
        await self._kill_idle(
            lambda entry: (
                (entry.key[:2] == key[:2] and entry.key != key)
                or not (entry.sandbox.alive and entry.sandbox.quiet)
            )
        )
        for pid in reversed(self._idle):
            entry = self._idle[pid]
            if entry.key == key:
                del self._idle[pid]
                self._busy.add(pid)
                return Checkout(entry.sandbox, key, False, 0.0, "", entry.zygote)
        while self._idle and self.size >= self._max_warm:
            _, lru = self._idle.popitem(last=False)
            self._children.get(lru.zygote, set()).discard(lru.sandbox.pid)
            await lru.sandbox.kill()
        return await self._start(function, key)

    async def _environment(self, function: Function) -> Environment | None:
        """The function's installed package environment, or None (the standard library).

        Raises:
            LoadFailed: it cannot be installed or used here.

        Cancellation: an install in progress is stopped and removed.
        """
        if function.build is None:
            return None
        if self._envs is None:
            raise LoadFailed("EnvironmentFailed: packages are off", "packages are off", "")
        try:
            return await self._envs.ensure(function.build)
        except EnvironmentFailed as exc:
            message = f"the function's package environment is not available: {exc}"
            raise LoadFailed(f"EnvironmentFailed: {message}", message, "") from None
        except OSError as exc:
            message = f"the function's package environment cannot be installed: {exc}"
            raise LoadFailed(f"EnvironmentFailed: {message}", message, "") from None

    def _busy_zygote(self, zygote: ZygoteKey) -> bool:
        return any(pid in self._busy for pid in self._children.get(zygote, ()))

    async def _start(self, function: Function, key: Key) -> Checkout:
        """Start a child and load ``function`` into it, within the init timeout.

        Cancellation: the child is killed and reaped before ``Cancelled`` propagates.
        """
        started = trio.current_time()
        try:
            variables = sandbox_variables(function, self._secrets)
        except VariablesFailed as exc:
            raise LoadFailed(f"SecretMissing: {exc}", str(exc), "") from None
        env = await self._environment(function)
        zkey, zygote, evicted = self._zygotes.get(env, function.preload, self._busy_zygote)
        envs = self._envs
        if envs is not None:
            # Before any await: from here the new zygote's environment is in use, and those
            # of the zygotes being stopped stay claimed until they are.
            envs.in_use = self._zygotes.env_ids()
            for old_key, _ in evicted:
                envs.claim(old_key[0])
            if env is not None:
                envs.release(env.id)
        try:
            for old_key, old in evicted:
                await self._kill_idle(lambda entry, k=old_key: entry.zygote == k)  # type: ignore[misc]
                self._children.pop(old_key, None)
                await old.aclose()
        finally:
            for old_key, _ in evicted if envs is not None else ():
                envs.release(old_key[0])  # type: ignore[union-attr]
        memory_mb = function.memory_mb if function.memory_mb > 0 else self._default_memory_mb
        sandbox = await start_sandbox(
            self._nursery, function.runtime, memory_mb, self._settings, zygote, self._trash,
            variables=variables, readable=() if env is None else (str(env.path),),
        )  # fmt: skip
        self._children.setdefault(zkey, set()).add(sandbox.pid)
        self._busy.add(sandbox.pid)
        load = LoadRequest(function.name, function.source, self._init_timeout)
        reply = Reply(ok=False, error="TimeoutError", timeout=True)
        try:
            with trio.move_on_after(self._init_timeout + RUNNER_SLACK):
                reply = await sandbox.request(load)
        except BaseException:
            self._busy.discard(sandbox.pid)
            self._children[zkey].discard(sandbox.pid)
            await sandbox.kill()
            raise
        logs = reply.logs + sandbox.take_stderr()
        if not reply.ok:
            self._busy.discard(sandbox.pid)
            self._children[zkey].discard(sandbox.pid)
            await sandbox.kill()
            if reply.timeout:
                raise SandboxTimeout(self._init_timeout)
            error = reply.error or "Error: the function did not load"
            raise LoadFailed(error, reply.message or error, logs)
        init_ms = (trio.current_time() - started) * 1000.0
        return Checkout(sandbox, key, True, init_ms, logs, zkey)

    async def release(self, checkout: Checkout, *, reusable: bool) -> None:
        """Give a child back: kept warm if ``reusable`` and there is room, else killed.

        Cancellation: a kill is shielded and bounded (see :meth:`Sandbox.kill`).
        """
        sandbox = checkout.sandbox
        self._busy.discard(sandbox.pid)
        keep = (
            reusable
            and not self._closed
            and sandbox.alive
            and sandbox.quiet
            and self.size < self._max_warm
        )
        if not keep:
            self._children.get(checkout.zygote, set()).discard(sandbox.pid)
            await sandbox.kill()
            return
        self._idle[sandbox.pid] = _Idle(sandbox, checkout.key, trio.current_time(), checkout.zygote)
        self._idle_added.set()

    async def reap_idle(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Kill children idle for ``ttl`` seconds, until cancelled.

        Cancellation: blocks between reaps; a kill in progress completes (shielded, bounded).
        """
        task_status.started()
        while True:
            self._idle_added = trio.Event()
            await self._kill_idle(partial(_idle_since, trio.current_time() - self._ttl))
            if self._idle:
                # Entries are in release order, so the first one expires first.
                first = next(iter(self._idle.values()))
                await trio.sleep_until(first.since + self._ttl)
            else:
                await self._idle_added.wait()

    async def aclose(self) -> None:
        """Kill every idle child, then the zygote, which takes any child still in use with
        it (each is also killed when released), then empty the scratch trash as far as a
        small budget allows; no child starts after this. Idempotent.

        Cancellation: the kills and the last sweep are shielded and bounded.
        """
        self._closed = True
        await self._kill_idle(lambda entry: True)
        for zygote in self._zygotes.all():
            await zygote.aclose()
        await self._trash.empty()

    async def _kill_idle(self, doomed: Callable[[_Idle], bool]) -> None:
        """Cancellation: each kill is shielded and bounded, so all of them complete."""
        # Taken out of the pool before the first await, so no one acquires them meanwhile.
        victims = [self._idle.pop(pid) for pid, e in list(self._idle.items()) if doomed(e)]
        for entry in victims:
            self._children.get(entry.zygote, set()).discard(entry.sandbox.pid)
            await entry.sandbox.kill()


def _idle_since(cutoff: float, entry: _Idle) -> bool:
    return entry.since <= cutoff
