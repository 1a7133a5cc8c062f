"""What every scenario gets (:class:`ScenarioContext`) and gives back (:class:`ScenarioResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from ..generator import Sample, open_client
from ..metrics_probe import MetricsSeries
from ..processes import Platform

__all__ = ["Figure", "ScenarioContext", "ScenarioResult"]

#: A named figure in a report: a number, a text, or None when it could not be measured.
Figure = float | int | str | None


@dataclass(frozen=True)
class ScenarioContext:
    """The target and the run's settings."""

    #: The platform's URL (loopback only).
    url: str
    #: Smaller counts and shorter phases, for a smoke run.
    quick: bool
    #: Draw the progress line on stderr.
    progress: bool
    #: Set when the kit started the platform itself (its processes can then be inspected).
    platform: Platform | None
    #: Makes user names unique to this run, so runs never share state.
    run_id: str
    #: The most jobs the platform may run at once (workers at most x slots per worker).
    max_slots: int = 64 * 4
    #: Sent as ``Authorization: Bearer`` on every request, when set.
    api_key: str | None = None
    #: Replaces the network for the platform's requests (tests use ``httpx.MockTransport``).
    transport: httpx.AsyncBaseTransport | None = None

    def count(self, full: int, quick: int) -> int:
        """``quick`` on a quick run, else ``full`` (also used for durations in seconds)."""
        return quick if self.quick else full

    def client(self, concurrency: int) -> httpx.AsyncClient:
        """A client for the platform with a pool of ``concurrency`` connections."""
        return open_client(self.url, concurrency, self.transport, api_key=self.api_key)

    def user(self, scenario: str) -> str:
        """The user a scenario works as."""
        return f"load_{self.run_id}_{scenario}"


@dataclass
class ScenarioResult:
    """What one scenario measured. Each sample is one table row in the report."""

    name: str
    description: str
    samples: list[Sample] = field(default_factory=list)
    #: Derived figures (throughputs, ratios, memory), by name.
    figures: dict[str, Figure] = field(default_factory=dict)
    #: Queue length and worker count over time, when ``/metrics`` was sampled.
    metrics: MetricsSeries | None = None
    #: Other series to plot: name -> (x values, y values, x label, y label).
    series: dict[str, tuple[list[float], list[float], str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Why the scenario could not run (or stopped), when it did not finish.
    failure: str | None = None

    def sample(self, label: str) -> Sample | None:
        """The sample named ``label``, if the scenario got that far."""
        return next((s for s in self.samples if s.label == label), None)
