"""Schemathesis finds the whole platform (``faas-trio up``, key mode) true to its OpenAPI
document: every operation, with generated input, with invalid input, and on a user, a
function and a job that exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
import trio
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .conftest import StartPlatform

ADMIN_KEY = "admin-key-for-schemathesis-0123456789"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
SOURCE = "def add(*a):\n    return 1\n"
#: Examples per operation and run (generated names, seeded names, invalid input): enough to
#: reach every parameter, bounded so the test stays quick.
MAX_EXAMPLES = 20
#: Operations that may remove ann or her function (a user is reset by POST).
REMOVING = {("DELETE", "/u/{user}"), ("POST", "/u/{user}"), ("DELETE", "/u/{user}/fn/{fn}")}
#: Bound on the whole run, seconds.
RUN_TIMEOUT = 240.0


class Seeder:
    """Puts ann and her function ``add`` back before an example when a request since the last
    check may have removed them (a user's reset or removal, a function's removal)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http
        self._maybe_gone = True

    def before(self) -> None:
        if self._maybe_gone and self._http.get("/u/ann/fn/add").status_code != 200:
            assert self._http.post("/u/ann").status_code == 200
            assert self._http.post("/u/ann/fn/add", content=SOURCE).status_code == 200
        self._maybe_gone = False

    def after(self, case: schemathesis.Case) -> None:
        if (case.method.upper(), case.path) in REMOVING:
            self._maybe_gone = True


def _property(
    operation: Any, mode: GenerationMode, base_url: str,
    path_parameters: dict[str, str] | None, seeder: Seeder,
) -> Callable[[], None]:  # fmt: skip
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
        seeder.before()
        response = case.call(base_url=base_url, headers=HEADERS, timeout=10)
        seeder.after(case)
        case.validate_response(response, headers=HEADERS, **checks)

    return check


def run_schemathesis(base_url: str) -> list[str]:
    """Every operation, positive and negative examples, on ann and her function kept in
    place by a :class:`Seeder`; each operation on a job also runs on a job of hers made for
    it. Returns the failures found."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    with httpx.Client(base_url=base_url, headers=HEADERS, timeout=10) as http:
        seeder = Seeder(http)
        for result in schema.get_all_operations():
            operation = result.ok()
            names = {p.name for p in operation.path_parameters}
            runs: list[tuple[GenerationMode, dict[str, str] | None]] = [
                (GenerationMode.POSITIVE, None),
                (GenerationMode.NEGATIVE, None),
            ]
            # Generated names rarely exist, so each operation also runs on seeded ones.
            if names & {"user", "fn", "job_id"}:
                seeder.before()
                job_id = http.post("/u/ann/fn/add/run", content="[]").json()["res"]
                seeded = {"user": "ann", "fn": "add", "job_id": job_id}
                runs.append((GenerationMode.POSITIVE, {k: seeded[k] for k in names & set(seeded)}))
            for mode, path_parameters in runs:
                try:
                    _property(operation, mode, base_url, path_parameters, seeder)()
                except hypothesis.errors.Unsatisfiable:
                    # No invalid request exists for an operation without parameters.
                    assert mode is GenerationMode.NEGATIVE
                except Exception as exc:  # collected, so every operation is tried
                    failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


async def test_the_platform_conforms_to_its_openapi_document(platform: StartPlatform) -> None:
    up = await platform(
        FAAS_AUTH="keys", FAAS_ADMIN_KEY=ADMIN_KEY, FAAS_WORKERS="1", DB_URL="memory:"
    )
    with trio.fail_after(RUN_TIMEOUT):
        failures = await trio.to_thread.run_sync(run_schemathesis, up.url)
    assert failures == []
