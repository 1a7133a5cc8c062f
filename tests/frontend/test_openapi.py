"""GET /openapi.json describes every route (schemathesis checks the whole platform against it
in ``tests/e2e/test_openapi.py``)."""

from __future__ import annotations

import re

import pytest

from faas_trio.frontend import create_app
from faas_trio.frontend.openapi import openapi_document

from .neighbours import KEYS_CONFIG, AppClient


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


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
async def test_unauthenticated_paths_are_marked_so(path: str) -> None:
    document = openapi_document(KEYS_CONFIG)
    assert document["paths"][path]["get"]["security"] == []
