from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from load.run import parse_args, run_kit
from load.scenarios import SCENARIOS, ScenarioContext, ScenarioResult


def test_options_are_validated_and_ordered(tmp_path: Path) -> None:
    options = parse_args(["--scenarios", "deep_queue,baseline", "--out", str(tmp_path)])
    assert options.scenarios == ("baseline", "deep_queue")
    cpus = len(os.sched_getaffinity(0))
    assert options.url is None and options.max_workers == 2 * cpus  # the platform's default
    assert options.platform_settings()["FAAS_WORKERS_MAX"] == str(2 * cpus)
    assert parse_args(["--url", "http://127.0.0.1:8080"]).max_workers == 64
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", "nope"])
    with pytest.raises(SystemExit):
        parse_args(["--url", "http://192.168.1.1:8080"])


async def test_a_run_against_a_url_reports_every_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def fake(ctx: ScenarioContext) -> ScenarioResult:
        seen.append(ctx.url)
        return ScenarioResult("warm_sync_c1", "fake")

    async def broken(ctx: ScenarioContext) -> ScenarioResult:
        from load.api import SetupError

        raise SetupError("POST /u/x: HTTP 500")

    monkeypatch.setitem(SCENARIOS, "warm_sync_c1", fake)
    monkeypatch.setitem(SCENARIOS, "cold_python", broken)
    options = parse_args(
        [
            "--url",
            "http://127.0.0.1:9",
            "--scenarios",
            "warm_sync_c1,cold_python",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    report = await run_kit(options)
    assert seen == ["http://127.0.0.1:9"]
    raw = json.loads((tmp_path / "report.json").read_text())
    failures = {s["name"]: s["failure"] for s in raw["scenarios"]}
    assert failures == {"warm_sync_c1": None, "cold_python": "SetupError: POST /u/x: HTTP 500"}
    assert "http://127.0.0.1:9" in report.read_text()


async def test_the_baseline_scenario_runs_for_real(tmp_path: Path) -> None:
    options = parse_args(
        ["--scenarios", "baseline", "--quick", "--out", str(tmp_path), "--no-progress"]
    )
    await run_kit(options)
    raw = json.loads((tmp_path / "report.json").read_text())
    (baseline,) = raw["scenarios"]
    assert [s["label"] for s in baseline["samples"]] == ["c1", "c16"]
    assert all(s["errors"] == 0 and s["requests"] > 0 for s in baseline["samples"])
    assert baseline["figures"]["throughput_c16"] > 0
