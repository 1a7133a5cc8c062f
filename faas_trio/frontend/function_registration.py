"""Reading a function registration: the raw source (the old API), JSON, or a multipart form.

- any other content type: the raw body is the source; ``?runtime=``, ``?timeout=`` and
  ``?memory_mb=`` set the rest (the old API, unchanged);
- ``application/json`` whose body is a JSON object: ``{"source", "requirements": [...],
  "runtime", "timeout", "memory_mb", "env": {...}, "secrets": [...], "preload": [...]}``
  (a body that is not an object is taken as raw source, as old clients sent it);
- ``multipart/form-data``: a ``source`` part and an optional ``requirements`` part (a
  ``requirements.txt``), e.g. ``curl -F source=@fn.py -F requirements=@requirements.txt``;
  the query parameters as for the raw body.

Requirements are parsed by ``packaging`` (:mod:`faas_trio.core.packages`): a malformed one is
a 400 naming it. ``env`` and ``secrets`` become the sandbox's environment variables, so their
names are environment variable names, and the ones the sandbox itself sets are refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from quart import request

from ..core.errors import BadRequest
from ..core.packages import normalise_requirements, parse_requirements_text
from ..core.records import Build, Function, Runtime
from ..core.secrets import SECRET_NAME
from . import inputs
from .config import FrontendConfig
from .runtime_detect import detect_runtime

__all__ = ["MAX_ENV_BYTES", "MAX_ENV_VARS", "MAX_PRELOAD", "MAX_SECRETS", "read_registration"]

#: Limits on what a function carries into its sandbox's environment.
MAX_ENV_VARS = 64
MAX_ENV_BYTES = 16 * 1024
MAX_SECRETS = 8
MAX_PRELOAD = 32
#: Set by the sandbox, or able to change how the interpreter starts: never the user's.
_RESERVED = re.compile(r"(PATH|HOME|TMPDIR|LANG|LC_.*|PYTHON.*|LD_.*|NODE_.*|FAAS_.*)")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class _JsonRegistration(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    requirements: list[str] = []
    runtime: str | None = None
    timeout: float | None = None
    memory_mb: int | None = None
    env: dict[str, str] = {}
    secrets: list[str] = []
    preload: list[str] | None = None


async def read_registration(user: str, name: str, config: FrontendConfig) -> Function:
    """The function the current request registers (its version is the store's to assign).

    Raises:
        BadRequest: anything malformed or over a limit; the message says what.

    Cancellation: blocks reading the body; nothing is changed.
    """
    args = request.args
    mimetype = request.mimetype
    fields: dict[str, Any] = {}
    if mimetype == "multipart/form-data":
        fields = await _multipart()
    elif mimetype == "application/json":
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        fields = _json(body)
    else:
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        fields = {"source": inputs.body_text(body)}

    def setting(key: str) -> str | None:
        value = fields.get(key)
        return str(value) if value is not None else args.get(key)

    source = str(fields["source"])
    if not source.strip():
        raise BadRequest("function source is empty: send it as the request body")
    runtime = inputs.runtime(setting("runtime"))
    if runtime is None:
        runtime = detect_runtime(source)
        if runtime is None:
            raise BadRequest("cannot tell the runtime, pass ?runtime=python|node")
    requirements: list[str] = fields.get("requirements", [])
    if requirements and runtime is not Runtime.PYTHON:
        raise BadRequest("requirements are for Python only, not for JavaScript functions")
    preload = _preload(fields.get("preload"), requirements)
    return Function(
        user=user,
        name=name,
        source=source,
        runtime=runtime,
        timeout=inputs.timeout(setting("timeout"), config.default_timeout, config.max_timeout),
        memory_mb=inputs.memory_mb(
            setting("memory_mb"), config.default_memory_mb, config.max_memory_mb
        ),
        updated_at=time.time(),
        requirements=requirements,
        preload=preload,
        env=_env(fields.get("env", {})),
        secrets=_secrets(fields.get("secrets", []), fields.get("env", {})),
        build=Build() if requirements else None,
    )


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = msgspec.json.decode(body)
    except RecursionError:
        raise BadRequest("registration: the JSON nests too deeply to be read") from None
    except msgspec.DecodeError:
        if body.lstrip().startswith(b"{"):
            # Meant as a JSON registration (no function source starts with "{"): say why
            # it was refused instead of storing the JSON text as the source.
            raise BadRequest("registration: the body is not valid JSON") from None
        parsed = None
    if not isinstance(parsed, dict):
        return {"source": inputs.body_text(body)}  # an old client's raw source
    try:
        registration = msgspec.convert(parsed, _JsonRegistration)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"registration: {exc}") from None
    fields = msgspec.structs.asdict(registration)
    fields["requirements"] = normalise_requirements(registration.requirements)
    for key in ("timeout", "memory_mb", "runtime"):
        if fields[key] is None:
            del fields[key]
    return fields


async def _multipart() -> dict[str, Any]:
    files = await request.files
    form = await request.form

    def part(key: str) -> str | None:
        if key in files:
            return inputs.body_text(files[key].read())
        return form.get(key)

    source = part("source")
    if source is None:
        raise BadRequest("the form has no 'source' part: -F source=@fn.py")
    requirements = part("requirements")
    fields: dict[str, Any] = {"source": source}
    fields["requirements"] = parse_requirements_text(requirements) if requirements else []
    return fields


def _env(env: Mapping[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV_VARS:
        raise BadRequest(f"env has more than {MAX_ENV_VARS} variables")
    size = 0
    for key, value in env.items():
        _check_variable("env", key)
        if "\0" in value:
            raise BadRequest(f"env {key}: a value cannot hold a NUL character")
        size += len(key.encode()) + len(value.encode())
    if size > MAX_ENV_BYTES:
        raise BadRequest(f"env is over {MAX_ENV_BYTES} bytes in all")
    return dict(env)


def _secrets(names: list[str], env: Mapping[str, str]) -> list[str]:
    if len(names) > MAX_SECRETS:
        raise BadRequest(f"a function may use at most {MAX_SECRETS} secrets")
    for key in names:
        _check_variable("secrets", key)
        if key in env:
            raise BadRequest(f"{key} is both in env and in secrets")
    if len(set(names)) != len(names):
        raise BadRequest("secrets names a secret twice")
    return list(names)


def _check_variable(where: str, key: str) -> None:
    if SECRET_NAME.fullmatch(key) is None:
        raise BadRequest(
            f"{where}: {key[:70]!r} is not a variable name (A-Z a-z 0-9 _, not starting with a"
            " digit, at most 64)"
        )
    if _RESERVED.fullmatch(key.upper()):
        raise BadRequest(f"{where}: {key} is set by the platform and cannot be given")


def _preload(preload: object, requirements: list[str]) -> list[str] | None:
    if preload is None:
        return None
    assert isinstance(preload, list)
    if not requirements:
        raise BadRequest("preload needs requirements: it names modules of their packages")
    if len(preload) > MAX_PRELOAD:
        raise BadRequest(f"preload names more than {MAX_PRELOAD} modules")
    for module in preload:
        if _MODULE.fullmatch(module) is None or len(module) > 100:
            raise BadRequest(f"preload: {module[:70]!r} is not a module name")
    return list(preload)
