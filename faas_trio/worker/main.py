"""The worker process: its warm pool and confinement, the job loop (:mod:`.loop`) on them, and
its command-line entry. A cancel of :func:`serve` becomes a drain (see :mod:`.loop`).
"""

from __future__ import annotations

import dataclasses
import logging

import trio

from ..core.config import ConfigError
from ..core.lifecycle import run_component
from ..core.rpc import open_client
from ..core.secrets import lazy_secret_box
from .config import WorkerConfig
from .envs import Environments
from .loop import Worker, new_worker_id
from .pool import WarmPool
from .sandbox.isolation import assess
from .sandbox.spawn import SpawnSettings
from .variables import VariablesFailed

__all__ = ["main", "serve"]

log = logging.getLogger("faas.worker")


async def _set_when_cancelled(event: trio.Event) -> None:
    """Sleep until cancelled, then set ``event``: turns a cancel into a drain request."""
    try:
        await trio.sleep_forever()
    finally:
        event.set()


async def serve(
    config: WorkerConfig, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run a worker against the jqmanager at ``config.jq_url`` until cancelled.

    Calls ``task_status.started(worker_id)`` once its slots are asking for work.

    Cancellation: drains (see :mod:`.loop`): returns within about
    ``drain_timeout + 2`` s plus kill graces, with every child killed and reaped and every
    job either reported or handed back, then ``Cancelled`` propagates.
    """
    worker_id = new_worker_id()
    settings, confinement = await _confinement(config)
    drain_requested = trio.Event()
    async with trio.open_nursery() as watch:
        watch.start_soon(_set_when_cancelled, drain_requested)
        # Shielded, the client too: an outer cancel becomes a drain (via drain_requested)
        # that still talks to the jqmanager, not an abort.
        with trio.CancelScope(shield=True):
            async with (
                open_client(config.jq_url, name="worker", peer="jqmanager") as jq,
                trio.open_nursery() as nursery,
            ):
                envs = Environments(
                    config.envs_dir,
                    config.sandbox_python,
                    config.pip_source,
                    max_bytes=config.envs_max_bytes,
                    install_timeout=config.env_install_timeout,
                )
                pool = WarmPool(
                    nursery,
                    settings,
                    ttl=config.warm_ttl,
                    max_warm=config.warm_max,
                    init_timeout=config.init_timeout,
                    default_memory_mb=config.default_memory_mb,
                    envs=envs,
                    secrets=lazy_secret_box(VariablesFailed),
                    zygotes_max=config.zygotes_max,
                    preload=config.zygote_preload,
                )
                worker = Worker(config, jq, pool, worker_id, confinement)
                try:
                    await nursery.start(pool.reap_idle)
                    nursery.start_soon(worker.heartbeat)
                    for number in range(config.concurrency):
                        nursery.start_soon(worker.slot, number)
                    log.info("worker %s asking %s for work", worker_id, config.jq_url)
                    task_status.started(worker_id)
                    await drain_requested.wait()
                    log.info("worker %s draining", worker_id)
                    await worker.drain()
                finally:
                    worker.stop_all()
                    await pool.aclose()
                    if settings.cgroups is not None:
                        settings.cgroups.remove()
                    nursery.cancel_scope.cancel()
        watch.cancel_scope.cancel()


async def _confinement(config: WorkerConfig) -> tuple[SpawnSettings, str]:
    """The spawn settings with the confinement this machine gives, logged, and that
    confinement as heartbeats carry it; under ``FAAS_SANDBOX=strict`` a machine that cannot
    confine is refused.

    Raises:
        ConfigError: strict, and something confinement needs is missing (named).

    Cancellation: abandons the probe (a short subprocess; it ends by itself).
    """
    isolation = await trio.to_thread.run_sync(assess, config.sandbox, config.sandbox_python)
    missing = isolation.missing()
    if missing:
        if isolation.cgroups is not None:
            isolation.cgroups.remove()
        raise ConfigError(
            f"FAAS_SANDBOX=strict, but sandboxes cannot be confined here ({isolation.mode}):"
            f" missing {'; '.join(missing)}. Run on a kernel that has them, or set"
            " FAAS_SANDBOX=off to run functions unconfined (not with FAAS_AUTH=keys)"
        )
    if isolation.confined:
        log.info("%s", isolation.describe())
        if isolation.cgroups is None:
            log.warning("no writable memory and pids cgroup: falling back to rlimits")
    else:
        log.warning("%s", isolation.describe())
    settings = dataclasses.replace(
        config.spawn_settings, mode=isolation.mode, cgroups=isolation.cgroups
    )
    return settings, ",".join(f"{name}={value}" for name, value in isolation.labels().items())


def main() -> None:
    """The ``worker`` process: settings from the environment, run jobs until SIGTERM/SIGINT
    (then drain: see :func:`serve`)."""
    run_component("worker", WorkerConfig.from_env, serve)
