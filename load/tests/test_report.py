from __future__ import annotations

import json
from pathlib import Path

from load.checks import evaluate, ratios
from load.generator import Sample
from load.report import write_report
from load.scenarios import ScenarioResult


def sample(label: str, latencies: list[float], errors: int = 0) -> Sample:
    s = Sample(label=label, total=len(latencies) + errors, concurrency=1)
    s.latencies_ms = latencies
    s.finish_offsets = [i * 0.01 for i in range(len(latencies))]
    s.errors = errors
    s.elapsed_s = 1.0
    return s


def results() -> dict[str, ScenarioResult]:
    base = ScenarioResult("baseline", "b", figures={"throughput_c1": 1000, "throughput_c16": 4000})
    c1 = ScenarioResult("warm_sync_c1", "w", [sample("c1", [1.0] * 98 + [50.0, 50.0])])
    c1.figures["throughput"] = 500
    c16 = ScenarioResult("warm_sync_c16", "w", [sample("c16", [5.0] * 90, errors=10)])
    c16.figures["throughput"] = 2000
    cold = ScenarioResult("cold_python", "c", [sample("first call", [15.0] * 10)])
    deep = ScenarioResult("deep_queue", "d", [sample("enqueue", [2.0] * 10)])
    deep.figures.update({"jqmanager bytes per queued job": 1500, "enqueue p50 last/first": 1.5})
    deep.series["rss"] = ([0.0, 10.0], [30.0, 31.0], "queued jobs", "RSS (MB)")
    return {r.name: r for r in (base, c1, c16, cold, deep)}


def test_checks_judge_each_target() -> None:
    checks = {c.name: c for c in evaluate(results())}
    assert checks["warm sync c1 p50"].met is True
    assert checks["warm sync c1 p99"].met is False  # p99 is one of the 50 ms outliers
    # 50% of the baseline, but 10% of the calls failed.
    assert checks["warm sync c16 throughput"].met is False
    assert "errors" in checks["warm sync c16 throughput"].measured
    assert checks["cold python p50"].met is True
    assert checks["cold node p50"].met is None
    assert checks["async burst end to end"].met is None
    assert checks["jqmanager memory per queued job"].met is False
    assert checks["enqueue p50 at depth vs empty"].met is True
    assert ratios(results()) == {
        "warm sync c1 / baseline c1": 0.5,
        "warm sync c16 / baseline c16": 0.5,
    }


def test_report_has_tables_plots_and_raw_json(tmp_path: Path) -> None:
    failed = ScenarioResult("cold_node", "n", failure="skipped: node is not installed")
    data = {**results(), "cold_node": failed}
    report = write_report(tmp_path, data, {"nproc": "2"}, {"mode": "quick"})
    text = report.read_text()
    assert "| warm sync c1 p99 | <= 10 ms | 50.00 ms | **not met** |" in text
    assert "| c1 | 100 | 0 | 100.0 | 1.00 | 1.00 | 50.00 | 50.00 |" in text
    assert "skipped: node is not installed" in text
    assert (tmp_path / "warm_sync_c1_latency_cdf.png").stat().st_size > 0
    assert (tmp_path / "deep_queue_series_0.png").exists()
    raw = json.loads((tmp_path / "report.json").read_text())
    scenario = next(s for s in raw["scenarios"] if s["name"] == "warm_sync_c1")
    assert scenario["samples"][0]["latencies_ms"][-1] == 50.0
    assert raw["machine"] == {"nproc": "2"}
