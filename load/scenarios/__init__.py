"""The scenarios, by name, in the order a full run takes them.

Each is ``async def scenario(ctx: ScenarioContext) -> ScenarioResult``. ``deep_queue`` comes
last of those on the shared platform because it leaves it busiest; ``store_burst`` starts
platforms of its own, after the shared one is stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .autoscale import mixed_autoscale
from .burst import async_burst
from .cold import cold_node, cold_python
from .context import Figure, ScenarioContext, ScenarioResult
from .deep_queue import deep_queue
from .maps import map_10k_node, map_10k_python, map_100k, map_mixed
from .store_burst import store_burst
from .sync import baseline, warm_sync_c1, warm_sync_c16

__all__ = ["OWN_PLATFORMS", "SCENARIOS", "Figure", "Scenario", "ScenarioContext", "ScenarioResult"]

Scenario = Callable[[ScenarioContext], Awaitable[ScenarioResult]]

SCENARIOS: dict[str, Scenario] = {
    "baseline": baseline,
    "warm_sync_c1": warm_sync_c1,
    "warm_sync_c16": warm_sync_c16,
    "cold_python": cold_python,
    "cold_node": cold_node,
    "async_burst": async_burst,
    "mixed_autoscale": mixed_autoscale,
    "map_10k_python": map_10k_python,
    "map_10k_node": map_10k_node,
    "map_100k": map_100k,
    "map_mixed": map_mixed,
    "deep_queue": deep_queue,
    "store_burst": store_burst,
}

#: Scenarios that start the platforms they load themselves (never run with ``--url``).
OWN_PLATFORMS = ("baseline", "store_burst")
