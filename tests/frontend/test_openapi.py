"""GET /openapi.json describes every route, and schemathesis finds the live frontend true to it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import trio
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from faas_trio.core.records import Function, JobRecord, Runtime, User
from faas_trio.frontend import create_app, serve
from faas_trio.frontend.openapi import EXAMPLE_JOB_ID, openapi_document

from .fakes import ADMIN_KEY, KEYS_CONFIG, AppClient, FakeNeighbours, bearer

#: Examples per operation and run (generated names, seeded names, invalid input): about 50
#: in all, enough to reach every parameter and bounded so the test stays quick.
MAX_EXAMPLES = 20
#: Path parameters naming what the test seeds in the fake neighbours.
SEEDED = {"user": "ann", "fn": "add", "job_id": EXAMPLE_JOB_ID}


def app_routes() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the app serves."""
    app = create_app(KEYS_CONFIG, peers=None)  # type: ignore[arg-type]  # routes only
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        found |= {(method.lower(), path) for method in rule.methods if method != "HEAD"}
    return found


def test_document_lists_every_route_and_no_other() -> None:
    document = openapi_document(KEYS_CONFIG)
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == app_routes()
    assert document["openapi"].startswith("3.")


async def test_served_document_is_the_configured_one(keys_client: AppClient) -> None:
    response = await keys_client.get("/openapi.json")
    assert response.status_code == 200
    served = await response.get_json()
    assert served == openapi_document(KEYS_CONFIG)
    wait = served["paths"]["/j/{job_id}"]["get"]["parameters"][0]
    assert wait["schema"]["maximum"] == KEYS_CONFIG.max_wait


def _property(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    path_parameters: dict[str, str] | None,
    seed: Callable[[], None],
) -> Callable[[], None]:
    """A hypothesis test of ``operation``: every example answered as the schema says
    (positive examples), or at least without a 5xx (negative ones)."""
    checks: dict[str, Any] = {
        # The API checks more than the schema can say (a source must name its runtime, a job
        # must exist), so a schema-valid request may well get a 400.
        "excluded_checks": [positive_data_acceptance]
    }
    if mode is GenerationMode.NEGATIVE:
        checks = {"checks": [not_a_server_error]}

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def check(case: schemathesis.Case) -> None:
        trio.from_thread.run_sync(seed)
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, headers=headers, **checks)

    return check


def run_schemathesis(base_url: str, seed: Callable[[], None]) -> list[str]:
    """Every operation, positive and negative examples; returns the failures found."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = bearer(ADMIN_KEY)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        # Generated names rarely exist, so each operation also runs on the seeded ones.
        seeded = {k: v for k, v in SEEDED.items() if k in names} or None
        runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if seeded:
            runs.append((GenerationMode.POSITIVE, seeded))
        for mode, path_parameters in runs:
            try:
                _property(operation, mode, base_url, headers, path_parameters, seed)()
            except hypothesis.errors.Unsatisfiable:
                # No invalid request exists for an operation without parameters.
                assert mode is GenerationMode.NEGATIVE
            except Exception as exc:  # collected, so every operation is tried
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


async def test_live_frontend_conforms(nursery: trio.Nursery, fake: FakeNeighbours) -> None:
    config = dataclasses.replace(KEYS_CONFIG, port=0, db_url=fake.db_url, jq_url=fake.jq_url)
    port = await nursery.start(serve, config)

    def seed() -> None:
        """ann, her function add and one job, as they were (requests delete and reset)."""
        fake.users["ann"] = User(name="ann")
        fake.functions[("ann", "add")] = Function(
            user="ann", name="add", source="def add(*a):\n    return 1\n",
            runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64, version=1,
        )  # fmt: skip
        fake.jobs[EXAMPLE_JOB_ID] = JobRecord(
            id=EXAMPLE_JOB_ID, user="ann", function="add", runtime=Runtime.PYTHON, args="[]"
        )

    failures = await trio.to_thread.run_sync(run_schemathesis, f"http://127.0.0.1:{port}", seed)
    assert failures == []


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
async def test_unauthenticated_paths_are_marked_so(path: str) -> None:
    document = openapi_document(KEYS_CONFIG)
    assert document["paths"][path]["get"]["security"] == []
