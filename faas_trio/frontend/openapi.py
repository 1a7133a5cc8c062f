"""``GET /openapi.json``: an OpenAPI 3 description of every route.

Written by hand, next to the routes it describes, from the parts in :mod:`.openapi_parts`,
and kept true by a test that runs schemathesis against the whole platform
(``tests/e2e/test_openapi.py``: every documented operation, no 5xx, every answer matching its
schema). Limits that depend on settings (``?wait=``, ``?timeout=``,
``?memory_mb=``) are filled in from the app's configuration.
"""

from __future__ import annotations

from typing import Any

import msgspec
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.records import BuildState, JobState, Runtime
from .config import FrontendConfig
from .openapi_groups import group_paths, group_schemas
from .openapi_parts import (
    JOB_ID,
    NAME,
    NULLABLE_STRING,
    REF,
    SECRET_NAME,
    STRING_MAP,
    STRINGS,
    envelope,
    job_record,
    json_content,
    ok,
    path_param,
    query,
)
from .users import MAX_LIST_LIMIT

__all__ = ["EXAMPLE_JOB_ID", "openapi_document", "register"]

#: The job id the document uses as an example.
EXAMPLE_JOB_ID = "65f1c0de00000000000000a1"


def openapi_document(config: FrontendConfig) -> dict[str, Any]:
    """The OpenAPI 3.0 document of an app built with ``config``."""
    user = path_param("user", NAME, "ann")
    fn = path_param("fn", NAME, "add")
    job_id = path_param("job_id", JOB_ID, EXAMPLE_JOB_ID)
    wait = query(
        "wait",
        {"type": "number", "minimum": 0, "maximum": config.max_wait},
        "Hold the request up to this many seconds for the job to finish.",
    )
    record = {"$ref": REF + "JobRecord"}
    one = {"type": "integer", "enum": [1]}
    no_auth: list[dict[str, list[str]]] = []
    paths: dict[str, Any] = {
        "/u/{user}": {
            "parameters": [user],
            "post": {
                "summary": "Register a user (an existing one is reset; needs its key)",
                "responses": ok(
                    {"oneOf": [one, {"$ref": REF + "NewKey"}]},
                    "1 (open mode) or the new API key (keys mode)",
                ),
            },
            "delete": {"summary": "Remove a user", "responses": ok(one)},
        },
        "/u/{user}/time": {
            "parameters": [user],
            "get": {
                "summary": "Accumulated execution time, ms",
                "responses": ok({"type": "number"}),
            },
        },
        "/u/{user}/jobs": {
            "parameters": [user],
            "get": {
                "summary": "The user's recent jobs, newest first",
                "parameters": [
                    query(
                        "state",
                        {"type": "string", "enum": [s.value for s in JobState]},
                        "Only jobs in this state.",
                    ),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
                        "At most this many jobs (default 50).",
                    ),
                ],
                "responses": ok({"type": "array", "items": record}),
            },
        },
        "/u/{user}/fn": {
            "parameters": [user],
            "get": {
                "summary": "The user's functions, name -> source",
                "responses": ok({"type": "object", "additionalProperties": {"type": "string"}}),
            },
        },
        "/u/{user}/fn/{fn}": {
            "parameters": [user, fn],
            "get": {"summary": "One function", "responses": ok({"$ref": REF + "Function"})},
            "post": {
                "summary": "Register or replace a function; the body is its source",
                "parameters": [
                    query(
                        "runtime",
                        {"type": "string", "enum": [r.value for r in Runtime]},
                        "The language (detected from the source when absent).",
                    ),
                    query(
                        "timeout",
                        {
                            "type": "number",
                            "exclusiveMinimum": True,
                            "minimum": 0,
                            "maximum": config.max_timeout,
                        },
                        "Seconds per call.",
                    ),
                    query(
                        "memory_mb",
                        {"type": "integer", "minimum": 1, "maximum": config.max_memory_mb},
                        "Memory limit, MiB.",
                    ),
                    query(
                        "wait",
                        {"type": "number", "minimum": 0, "maximum": config.max_wait},
                        "Hold the request up to this many seconds for the build to end.",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"$ref": REF + "Registration"}},
                    },
                },
                "responses": {
                    **ok(
                        {"oneOf": [one, {"$ref": REF + "Function"}]},
                        "1, or with ?wait the function once its build ended",
                    ),
                    "202": json_content(
                        envelope({"$ref": REF + "Function"}), "The build still runs"
                    ),
                },
            },
            "delete": {"summary": "Remove a function", "responses": ok(one)},
        },
        "/u/{user}/secrets": {
            "parameters": [user],
            "get": {
                "summary": "The names of the user's secrets (never their values)",
                "responses": ok({"type": "array", "items": {"type": "string"}}),
            },
        },
        "/u/{user}/secrets/{name}": {
            "parameters": [user, path_param("name", SECRET_NAME, "API_TOKEN")],
            "put": {
                "summary": "Create or replace a secret; the body is its value (write-only)",
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": {"schema": {"type": "string", "minLength": 1}}},
                },
                "responses": ok(one),
            },
            "delete": {"summary": "Remove a secret", "responses": ok(one)},
        },
        "/u/{user}/fn/{fn}/run": {
            "parameters": [user, fn],
            "post": {
                "summary": "Queue a call; the body is the JSON array of arguments",
                "parameters": [
                    wait,
                    query(
                        "callback",
                        {"type": "string", "format": "uri"},
                        "POST the final record here (host in FAAS_CALLBACK_ALLOW).",
                    ),
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                    },
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "array"}}},
                },
                "responses": {
                    "200": json_content(
                        envelope({"oneOf": [JOB_ID, record]}),
                        "The job id, or with ?wait the final record",
                    ),
                    "202": json_content(envelope(record), "With ?wait: the record, not final yet"),
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
        "/j/{job_id}": {
            "parameters": [job_id],
            "get": {
                "summary": "0 while queued or running, 1 once final",
                "parameters": [wait],
                "responses": ok({"type": "integer", "enum": [0, 1]}),
            },
            "delete": {"summary": "Cancel and remove a job", "responses": ok(one)},
        },
        "/j/{job_id}/res": {
            "parameters": [job_id],
            "get": {
                "summary": "The result string of a final job",
                "parameters": [wait],
                "responses": {
                    "200": json_content(envelope({"type": "string"}), "The result"),
                    "202": json_content(envelope({"type": "string"}, error=True), "Not final yet"),
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
        "/j/{job_id}/record": {
            "parameters": [job_id],
            "get": {"summary": "The job record", "parameters": [wait], "responses": ok(record)},
        },
        "/j/{job_id}/logs": {
            "parameters": [job_id],
            "get": {
                "summary": "What the call printed (capped)",
                "responses": ok({"type": "string"}),
            },
        },
        "/healthz": {
            "get": {
                "summary": "Alive",
                "security": no_auth,
                "responses": ok({"type": "string", "enum": ["ok"]}),
            },
        },
        "/readyz": {
            "get": {
                "summary": "dbmanager and jqmanager answer",
                "security": no_auth,
                "responses": ok({"type": "string", "enum": ["ok"]}),
            },
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (admin key in keys mode)",
                "responses": {
                    "200": {
                        "description": "Prometheus text",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": no_auth,
                "responses": {"200": json_content({"type": "object"}, "OpenAPI 3.0")},
            },
        },
        "/ui": {
            "get": {
                "summary": "The web console",
                "security": no_auth,
                "responses": {
                    "200": {
                        "description": "Its page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                },
            },
        },
        "/ui/{name}": {
            "parameters": [path_param("name", {"type": "string"}, "app.js")],
            "get": {
                "summary": "A file of the web console (its scripts and style)",
                "security": no_auth,
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "text/javascript": {"schema": {"type": "string"}},
                            "text/css": {"schema": {"type": "string"}},
                        },
                    },
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
    }
    paths.update(group_paths(config, user, fn))
    return {
        "openapi": "3.0.3",
        "info": {"title": "faas-trio", "version": "1"},
        "security": [{"bearer": []}] if config.auth == "keys" else [],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": json_content(envelope({"type": "string"}, error=True), "What was wrong"),
            },
            "schemas": {
                "JobRecord": job_record(),
                **group_schemas(),
                "Function": {
                    "type": "object",
                    "required": [
                        "f_name",
                        "src",
                        "runtime",
                        "timeout",
                        "memory_mb",
                        "version",
                        "requirements",
                        "env",
                        "secrets",
                        "build",
                    ],
                    "properties": {
                        "f_name": {"type": "string"},
                        "src": {"type": "string"},
                        "runtime": {"type": "string", "enum": [r.value for r in Runtime]},
                        "timeout": {"type": "number"},
                        "memory_mb": {"type": "integer"},
                        "version": {"type": "integer"},
                        "requirements": STRINGS,
                        "preload": {**STRINGS, "nullable": True},
                        "env": STRING_MAP,
                        "secrets": STRINGS,
                        "build": {
                            "type": "object",
                            "required": ["state", "env", "log", "error", "resolved"],
                            "properties": {
                                "state": {"type": "string", "enum": [s.value for s in BuildState]},
                                "env": NULLABLE_STRING,
                                "log": {"type": "string"},
                                "error": NULLABLE_STRING,
                                "resolved": STRINGS,
                            },
                        },
                    },
                },
                "Registration": {
                    "type": "object",
                    "required": ["source"],
                    "additionalProperties": False,
                    "properties": {
                        "source": {"type": "string"},
                        "requirements": STRINGS,
                        "runtime": {"type": "string", "enum": [r.value for r in Runtime]},
                        "timeout": {"type": "number"},
                        "memory_mb": {"type": "integer"},
                        "env": STRING_MAP,
                        "secrets": STRINGS,
                        "preload": STRINGS,
                    },
                },
                "NewKey": {
                    "type": "object",
                    "required": ["user", "api_key"],
                    "properties": {"user": {"type": "string"}, "api_key": {"type": "string"}},
                },
            },
        },
    }


def register(app: QuartTrio, config: FrontendConfig) -> None:
    """Add ``GET /openapi.json`` to ``app``."""
    body = msgspec.json.encode(openapi_document(config))

    @app.get("/openapi.json")
    async def openapi() -> TrioResponse:
        return TrioResponse(body, content_type="application/json")
