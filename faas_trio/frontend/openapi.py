"""``GET /openapi.json``: an OpenAPI 3 description of every route.

Written by hand, next to the routes it describes, and kept true by a test that runs
schemathesis against a live frontend (every documented operation, no 5xx, every answer
matching its schema). Limits that depend on settings (``?wait=``, ``?timeout=``,
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
from .users import MAX_LIST_LIMIT

__all__ = ["EXAMPLE_JOB_ID", "openapi_document", "register"]

#: The job id the document uses as an example.
EXAMPLE_JOB_ID = "65f1c0de00000000000000a1"

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
_JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_SECRET_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_REF = "#/components/schemas/"


def _envelope(res: dict[str, Any], *, error: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "res"],
        "additionalProperties": False,
        "properties": {"error": {"type": "boolean", "enum": [error]}, "res": res},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ok(res: dict[str, Any], description: str = "Done") -> dict[str, Any]:
    return {
        "200": _json(_envelope(res), description),
        "default": {"$ref": "#/components/responses/Error"},
    }


def _path_param(name: str, schema: dict[str, Any], example: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": example}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _job_record() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "user", "function", "runtime", "args", "state"],
        "properties": {
            "id": _JOB_ID,
            "user": {"type": "string"},
            "function": {"type": "string"},
            "runtime": {"type": "string", "enum": [r.value for r in Runtime]},
            "args": {"type": "array"},
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "result": _NULLABLE_STRING,
            "value": {"nullable": True},
            "error": _NULLABLE_STRING,
            "attempts": {"type": "integer"},
            "worker": _NULLABLE_STRING,
            "cold_start": {"type": "boolean", "nullable": True},
            "init_ms": _NULLABLE_NUMBER,
            "created_at": {"type": "number"},
            "started_at": _NULLABLE_NUMBER,
            "finished_at": _NULLABLE_NUMBER,
            "duration_ms": _NULLABLE_NUMBER,
            "queue_ms": _NULLABLE_NUMBER,
            "idempotency_key": _NULLABLE_STRING,
            "callback": _NULLABLE_STRING,
            "group_id": _NULLABLE_STRING,
            "group_index": {"type": "integer", "nullable": True},
        },
    }


def openapi_document(config: FrontendConfig) -> dict[str, Any]:
    """The OpenAPI 3.0 document of an app built with ``config``."""
    user = _path_param("user", _NAME, "ann")
    fn = _path_param("fn", _NAME, "add")
    job_id = _path_param("job_id", _JOB_ID, EXAMPLE_JOB_ID)
    wait = _query(
        "wait",
        {"type": "number", "minimum": 0, "maximum": config.max_wait},
        "Hold the request up to this many seconds for the job to finish.",
    )
    record = {"$ref": _REF + "JobRecord"}
    one = {"type": "integer", "enum": [1]}
    no_auth: list[dict[str, list[str]]] = []
    paths: dict[str, Any] = {
        "/u/{user}": {
            "parameters": [user],
            "post": {
                "summary": "Register a user (an existing one is reset; needs its key)",
                "responses": _ok(
                    {"oneOf": [one, {"$ref": _REF + "NewKey"}]},
                    "1 (open mode) or the new API key (keys mode)",
                ),
            },
            "delete": {"summary": "Remove a user", "responses": _ok(one)},
        },
        "/u/{user}/time": {
            "parameters": [user],
            "get": {
                "summary": "Accumulated execution time, ms",
                "responses": _ok({"type": "number"}),
            },
        },
        "/u/{user}/jobs": {
            "parameters": [user],
            "get": {
                "summary": "The user's recent jobs, newest first",
                "parameters": [
                    _query(
                        "state",
                        {"type": "string", "enum": [s.value for s in JobState]},
                        "Only jobs in this state.",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
                        "At most this many jobs (default 50).",
                    ),
                ],
                "responses": _ok({"type": "array", "items": record}),
            },
        },
        "/u/{user}/fn": {
            "parameters": [user],
            "get": {
                "summary": "The user's functions, name -> source",
                "responses": _ok({"type": "object", "additionalProperties": {"type": "string"}}),
            },
        },
        "/u/{user}/fn/{fn}": {
            "parameters": [user, fn],
            "get": {"summary": "One function", "responses": _ok({"$ref": _REF + "Function"})},
            "post": {
                "summary": "Register or replace a function; the body is its source",
                "parameters": [
                    _query(
                        "runtime",
                        {"type": "string", "enum": [r.value for r in Runtime]},
                        "The language (detected from the source when absent).",
                    ),
                    _query(
                        "timeout",
                        {
                            "type": "number",
                            "exclusiveMinimum": True,
                            "minimum": 0,
                            "maximum": config.max_timeout,
                        },
                        "Seconds per call.",
                    ),
                    _query(
                        "memory_mb",
                        {"type": "integer", "minimum": 1, "maximum": config.max_memory_mb},
                        "Memory limit, MiB.",
                    ),
                    _query(
                        "wait",
                        {"type": "number", "minimum": 0, "maximum": config.max_wait},
                        "Hold the request up to this many seconds for the build to end.",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"$ref": _REF + "Registration"}},
                    },
                },
                "responses": {
                    **_ok(
                        {"oneOf": [one, {"$ref": _REF + "Function"}]},
                        "1, or with ?wait the function once its build ended",
                    ),
                    "202": _json(_envelope({"$ref": _REF + "Function"}), "The build still runs"),
                },
            },
            "delete": {"summary": "Remove a function", "responses": _ok(one)},
        },
        "/u/{user}/secrets": {
            "parameters": [user],
            "get": {
                "summary": "The names of the user's secrets (never their values)",
                "responses": _ok({"type": "array", "items": {"type": "string"}}),
            },
        },
        "/u/{user}/secrets/{name}": {
            "parameters": [user, _path_param("name", _SECRET_NAME, "API_TOKEN")],
            "put": {
                "summary": "Create or replace a secret; the body is its value (write-only)",
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": {"schema": {"type": "string", "minLength": 1}}},
                },
                "responses": _ok(one),
            },
            "delete": {"summary": "Remove a secret", "responses": _ok(one)},
        },
        "/u/{user}/fn/{fn}/run": {
            "parameters": [user, fn],
            "post": {
                "summary": "Queue a call; the body is the JSON array of arguments",
                "parameters": [
                    wait,
                    _query(
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
                    "200": _json(
                        _envelope({"oneOf": [_JOB_ID, record]}),
                        "The job id, or with ?wait the final record",
                    ),
                    "202": _json(_envelope(record), "With ?wait: the record, not final yet"),
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
        "/j/{job_id}": {
            "parameters": [job_id],
            "get": {
                "summary": "0 while queued or running, 1 once final",
                "parameters": [wait],
                "responses": _ok({"type": "integer", "enum": [0, 1]}),
            },
            "delete": {"summary": "Cancel and remove a job", "responses": _ok(one)},
        },
        "/j/{job_id}/res": {
            "parameters": [job_id],
            "get": {
                "summary": "The result string of a final job",
                "parameters": [wait],
                "responses": {
                    "200": _json(_envelope({"type": "string"}), "The result"),
                    "202": _json(_envelope({"type": "string"}, error=True), "Not final yet"),
                    "default": {"$ref": "#/components/responses/Error"},
                },
            },
        },
        "/j/{job_id}/record": {
            "parameters": [job_id],
            "get": {"summary": "The job record", "parameters": [wait], "responses": _ok(record)},
        },
        "/j/{job_id}/logs": {
            "parameters": [job_id],
            "get": {
                "summary": "What the call printed (capped)",
                "responses": _ok({"type": "string"}),
            },
        },
        "/healthz": {
            "get": {
                "summary": "Alive",
                "security": no_auth,
                "responses": _ok({"type": "string", "enum": ["ok"]}),
            },
        },
        "/readyz": {
            "get": {
                "summary": "dbmanager and jqmanager answer",
                "security": no_auth,
                "responses": _ok({"type": "string", "enum": ["ok"]}),
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
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0")},
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
            "parameters": [_path_param("name", {"type": "string"}, "app.js")],
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
                "Error": _json(_envelope({"type": "string"}, error=True), "What was wrong"),
            },
            "schemas": {
                "JobRecord": _job_record(),
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
                        "requirements": _STRINGS,
                        "preload": {**_STRINGS, "nullable": True},
                        "env": _STRING_MAP,
                        "secrets": _STRINGS,
                        "build": {
                            "type": "object",
                            "required": ["state", "env", "log", "error", "resolved"],
                            "properties": {
                                "state": {"type": "string", "enum": [s.value for s in BuildState]},
                                "env": _NULLABLE_STRING,
                                "log": {"type": "string"},
                                "error": _NULLABLE_STRING,
                                "resolved": _STRINGS,
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
                        "requirements": _STRINGS,
                        "runtime": {"type": "string", "enum": [r.value for r in Runtime]},
                        "timeout": {"type": "number"},
                        "memory_mb": {"type": "integer"},
                        "env": _STRING_MAP,
                        "secrets": _STRINGS,
                        "preload": _STRINGS,
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
