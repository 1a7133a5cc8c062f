"""The building blocks of the OpenAPI document (:mod:`.openapi`, :mod:`.openapi_groups`): the
response envelope, parameters, and the schemas several routes share."""

from __future__ import annotations

from typing import Any

from ..core.records import JobState, Runtime

__all__ = [
    "JOB_ID",
    "NAME",
    "NULLABLE_NUMBER",
    "NULLABLE_STRING",
    "REF",
    "SECRET_NAME",
    "STRINGS",
    "STRING_MAP",
    "ERROR",
    "envelope",
    "job_record",
    "json_content",
    "ok",
    "path_param",
    "query",
]

#: The error response every operation may answer (``components.responses.Error``).
ERROR = {"$ref": "#/components/responses/Error"}

NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
NULLABLE_STRING = {"type": "string", "nullable": True}
SECRET_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"}
STRINGS = {"type": "array", "items": {"type": "string"}}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
NULLABLE_NUMBER = {"type": "number", "nullable": True}
REF = "#/components/schemas/"


def envelope(res: dict[str, Any], *, error: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error", "res"],
        "additionalProperties": False,
        "properties": {"error": {"type": "boolean", "enum": [error]}, "res": res},
    }


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ok(res: dict[str, Any], description: str = "Done") -> dict[str, Any]:
    return {
        "200": json_content(envelope(res), description),
        "default": ERROR,
    }


def path_param(name: str, schema: dict[str, Any], example: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": example}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def job_record() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "user", "function", "runtime", "args", "state"],
        "properties": {
            "id": JOB_ID,
            "user": {"type": "string"},
            "function": {"type": "string"},
            "runtime": {"type": "string", "enum": [r.value for r in Runtime]},
            "args": {"type": "array"},
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "result": NULLABLE_STRING,
            "value": {"nullable": True},
            "error": NULLABLE_STRING,
            "attempts": {"type": "integer"},
            "worker": NULLABLE_STRING,
            "cold_start": {"type": "boolean", "nullable": True},
            "init_ms": NULLABLE_NUMBER,
            "created_at": {"type": "number"},
            "started_at": NULLABLE_NUMBER,
            "finished_at": NULLABLE_NUMBER,
            "duration_ms": NULLABLE_NUMBER,
            "queue_ms": NULLABLE_NUMBER,
            "idempotency_key": NULLABLE_STRING,
            "callback": NULLABLE_STRING,
            "group_id": NULLABLE_STRING,
            "group_index": {"type": "integer", "nullable": True},
        },
    }
