"""The scaler process: every interval, read the queue's stats, decide, and apply.

One round: ``GetStats`` to jqmanager; the actuator's current count; the policy's decision
(logged with its inputs); ``apply`` when the count changes. A round that cannot read the
stats or the current count is skipped; a failed apply is retried by the next round, which
decides again from fresh stats. The rounds keep a fixed rhythm: a slow round delays the next
one, never the ones after it.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import trio

from ..core.config import ConfigError
from ..core.errors import FaasError
from ..core.lifecycle import run_component
from ..core.messages import GetStats, Stats
from ..core.rpc import Client, open_client
from .actuators import Actuator, open_kumori_actuator, open_local_actuator
from .config import ScalerConfig
from .policy import DoublePolicy, Load, Policy, PolicyState, TargetTracking

__all__ = ["ScalerStatus", "main", "make_policy", "run_rounds", "scale_once", "serve"]

log = logging.getLogger("faas.scaler")


@dataclass
class ScalerStatus:
    """What the scaler last saw and decided; ``serve`` hands it to its starter."""

    #: The last stats jqmanager reported (None before the first answer).
    stats: Stats | None = None
    #: The worker count the actuator reported in the last complete round.
    current: int | None = None
    #: The count the policy asked for in the last complete round.
    desired: int | None = None
    #: Rounds that ran to a decision.
    rounds: int = 0

    def observed_workers(self) -> int | None:
        """The worker count jqmanager last reported."""
        return None if self.stats is None else self.stats.workers


def make_policy(config: ScalerConfig) -> Policy:
    """The policy ``config.policy`` names, with the configured bounds."""
    if config.policy == "double":
        return DoublePolicy(minimum=config.workers_min, maximum=config.workers_max)
    return TargetTracking(
        minimum=config.workers_min,
        maximum=config.workers_max,
        concurrency=config.worker_concurrency,
        down_delay=config.scale_down_delay,
    )


async def scale_once(
    jq: Client,
    actuator: Actuator,
    policy: Policy,
    state: PolicyState,
    status: ScalerStatus,
    *,
    stats_timeout: float,
    interval: float | None = None,
) -> PolicyState:
    """Run one round and return the policy state for the next.

    The ``GetStats`` request carries the previous round's decision (``status.desired``) and
    ``interval``, the time to the next round, so jqmanager can export the decision in
    ``/metrics`` and drop it once the scaler falls silent.

    Never raises ``FaasError``: an unanswered ``GetStats`` or an actuator failure is logged
    and the round ends early, keeping ``state`` so the next round decides again.

    Cancellation: blocks on ``GetStats`` (at most ``stats_timeout``) and on the actuator
    (bounded by the actuator's own timeouts); a cancel leaves ``status`` as the last complete
    round left it.
    """
    try:
        request = GetStats(desired_workers=status.desired, interval=interval)
        reply = await jq.call(request, timeout=stats_timeout)
    except FaasError as exc:
        log.warning("no stats from jqmanager, skipping this round: %s", exc)
        return state
    status.stats = reply
    try:
        current = await actuator.current()
    except FaasError as exc:
        log.warning("cannot read the worker count, skipping this round: %s", exc)
        return state
    decision = policy.decide(Load(reply.queued, reply.running), current, trio.current_time(), state)
    level = logging.INFO if decision.count != current else logging.DEBUG
    log.log(
        level,
        "queued=%d running=%d workers=%d slots=%d current=%d desired=%d: %s",
        reply.queued, reply.running, reply.workers, reply.slots,
        current, decision.count, decision.reason,
    )
    if decision.count != current:
        try:
            await actuator.apply(decision.count)
        except FaasError as exc:
            log.warning("could not apply %d workers, will retry: %s", decision.count, exc)
            return state
    status.current = current
    status.desired = decision.count
    status.rounds += 1
    return decision.state


async def run_rounds(
    jq: Client, actuator: Actuator, policy: Policy, status: ScalerStatus, config: ScalerConfig
) -> NoReturn:
    """Call :func:`scale_once` every ``config.interval`` seconds, forever.

    Cancellation: runs until cancelled; a cancel mid-round behaves as in :func:`scale_once`.
    """
    state = PolicyState()
    next_round = trio.current_time()
    while True:
        state = await scale_once(
            jq, actuator, policy, state, status,
            stats_timeout=config.stats_timeout, interval=config.interval,
        )  # fmt: skip
        next_round = max(next_round + config.interval, trio.current_time())
        await trio.sleep_until(next_round)


def _open_actuator(
    config: ScalerConfig, status: ScalerStatus
) -> AbstractAsyncContextManager[Actuator]:
    if config.actuator == "kumori":
        return open_kumori_actuator(
            Path(config.kumori_credentials),
            deployment=config.kumori_deployment,
            manifests=Path(config.kumori_manifests),
            kumorictl=config.kumorictl,
            command_timeout=config.kumorictl_timeout,
        )
    if config.supervisor_url is None:
        raise ConfigError("FAAS_SUPERVISOR_URL is unset: the local actuator needs `faas-trio up`")
    return open_local_actuator(
        config.supervisor_url, status.observed_workers, call_timeout=config.supervisor_timeout
    )


async def serve(
    config: ScalerConfig,
    *,
    actuator: Actuator | None = None,
    task_status: trio.TaskStatus[ScalerStatus] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Connect to jqmanager, report started with the live :class:`ScalerStatus`, open the
    actuator and scale until cancelled.

    ``actuator`` replaces the one ``config.actuator`` names (the caller keeps ownership of
    it). The Kumori actuator first waits for its credentials file, after ``started``.

    Cancellation: runs until cancelled; the jqmanager connection and the actuator are closed
    on the way out.
    """
    status = ScalerStatus()
    policy = make_policy(config)
    async with open_client(config.jq_url, name="scaler-jq", peer="jqmanager") as jq:
        task_status.started(status)
        log.info(
            "scaling workers in %d..%d every %g s with the %s policy and the %s actuator",
            config.workers_min, config.workers_max, config.interval, config.policy,
            "given" if actuator is not None else config.actuator,
        )
        opened = nullcontext(actuator) if actuator is not None else _open_actuator(config, status)
        async with opened as active:
            await run_rounds(jq, active, policy, status, config)


def main() -> None:
    """The ``scaler`` process: settings from the environment, scale until SIGTERM/SIGINT."""
    run_component("scaler", ScalerConfig.from_env, serve)
