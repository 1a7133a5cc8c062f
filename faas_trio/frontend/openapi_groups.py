"""The OpenAPI description of the map routes (:mod:`.groups`), joined into ``/openapi.json``
by :mod:`.openapi`."""

from __future__ import annotations

from typing import Any

from ..core.records import JobState
from .config import FrontendConfig
from .openapi_parts import ERROR, JOB_ID, NULLABLE_NUMBER, REF, envelope, json_content, query

__all__ = ["group_paths", "group_schemas"]


def group_schemas() -> dict[str, Any]:
    """``Group``, ``GroupStatus`` and ``GroupItem``."""
    group = {
        "type": "object",
        "required": ["id", "user", "function", "total", "created_at"],
        "properties": {
            "id": JOB_ID,
            "user": {"type": "string"},
            "function": {"type": "string"},
            "total": {"type": "integer"},
            "created_at": {"type": "number"},
            "idempotency_key": {"type": "string", "nullable": True},
        },
    }
    counts = {
        "type": "object",
        "properties": {s.value: {"type": "integer"} for s in JobState},
    }
    status = {
        "allOf": [
            {"$ref": REF + "Group"},
            {
                "type": "object",
                "required": ["counts", "done", "final", "elapsed_ms"],
                "properties": {
                    "counts": counts,
                    "done": {"type": "boolean"},
                    "final": {"type": "integer"},
                    "started_at": NULLABLE_NUMBER,
                    "finished_at": NULLABLE_NUMBER,
                    "elapsed_ms": {"type": "number"},
                },
            },
        ]
    }
    item = {
        "type": "object",
        "required": ["index", "id", "state"],
        "properties": {
            "index": {"type": "integer"},
            "id": JOB_ID,
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "result": {"type": "string", "nullable": True},
            "value": {"nullable": True},
            "error": {"type": "string", "nullable": True},
        },
    }
    return {"Group": group, "GroupStatus": status, "GroupItem": item}


def group_paths(config: FrontendConfig, user: dict[str, Any], fn: dict[str, Any]) -> dict[str, Any]:
    """The map routes, with ``user`` and ``fn`` the path parameters of the other routes."""
    group_id = {"name": "group_id", "in": "path", "required": True, "schema": JOB_ID,
                "example": "65f1c0de00000000000000b2"}  # fmt: skip
    wait = query(
        "wait",
        {"type": "number", "minimum": 0, "maximum": config.max_wait},
        "Hold the request up to this many seconds for every item to finish.",
    )
    items = {"type": "array", "items": {"$ref": REF + "GroupItem"}}
    submitted = {
        "type": "object",
        "required": ["id", "total", "jobs"],
        "properties": {
            "id": JOB_ID,
            "total": {"type": "integer"},
            "jobs": {"type": "array", "items": JOB_ID},
            "results": items,
            "counts": {"type": "object"},
        },
    }
    return {
        "/u/{user}/fn/{fn}/map": {
            "parameters": [user, fn],
            "post": {
                "summary": "Queue one call per item; the body is a JSON array of argument arrays",
                "parameters": [
                    wait,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                    },
                ],  # fmt: skip
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": config.map_max_items,
                                "items": {"type": "array"},
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_content(envelope(submitted), "The group; with ?wait, its results"),
                    "202": json_content(envelope(submitted), "With ?wait: not every item is final"),
                    "default": ERROR,
                },
            },
        },
        "/g/{group_id}": {
            "parameters": [group_id],
            "get": {
                "summary": "A group: its items' counts by state and its timing",
                "parameters": [wait],
                "responses": {
                    "200": json_content(envelope({"$ref": REF + "GroupStatus"}), "The group"),
                    "default": ERROR,
                },
            },
            "delete": {
                "summary": "Cancel every item not final (running ones are killed)",
                "responses": {
                    "200": json_content(envelope({"type": "integer"}), "Items cancelled"),
                    "default": ERROR,
                },
            },
        },
        "/g/{group_id}/results": {
            "parameters": [group_id],
            "get": {
                "summary": "Items in input order (Accept: application/x-ndjson streams them)",
                "parameters": [
                    query("offset", {"type": "integer", "minimum": 0}, "First index."),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 10_000},
                        "At most this many items (default 1000).",
                    ),  # fmt: skip
                ],
                "responses": {
                    "200": {
                        "description": "The items",
                        "content": {
                            "application/json": {"schema": envelope(items)},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "default": ERROR,
                },
            },
        },
        "/u/{user}/groups": {
            "parameters": [user],
            "get": {
                "summary": "The user's groups, newest first",
                "parameters": [
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                        "At most this many groups (default 50).",
                    ),  # fmt: skip
                ],
                "responses": {
                    "200": json_content(
                        envelope({"type": "array", "items": {"$ref": REF + "Group"}}),
                        "The groups",
                    ),
                    "default": ERROR,
                },
            },
        },
    }
