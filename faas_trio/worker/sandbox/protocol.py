"""The sandbox protocols, as typed messages: worker <-> runner frames, worker <-> zygote spawns.

One module for every party. The worker imports it as ``faas_trio.worker.sandbox.protocol``;
the zygote and the Python runner, run as scripts, import it as ``protocol`` from this
directory (the zygote loads it once, so a sandbox never reads it). ``node_runner.js`` speaks
the runner side in JavaScript, with the same fields and :data:`MAX_ERROR_CHARS` (a test checks
they agree). Standard library only: it runs in the zygote's clean interpreter.

**Runner frames**: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. The worker
sends a :class:`LoadRequest` or a :class:`CallRequest`; the runner answers each with one
:class:`Reply`. A :class:`BatchRequest` carries many calls' arguments in one frame: the runner
answers with one :class:`Reply` per item, in order, each as soon as that item ends, and stops
after an item that timed out (the worker kills it then). A reply is a *flat* JSON object
(strings, booleans, null; no number, array or nested object), so the worker parses it without
recursion and in memory proportional to its size; the function's value travels as JSON
*text* in ``value``. Durations are not part of it: the worker measures a call itself (each
item of a batch from the previous item's reply), and bills that.

**Zygote messages**: one ``SOCK_SEQPACKET`` message each way, UTF-8 JSON. The worker sends a
:class:`SpawnRequest` (with four descriptors, see :mod:`.zygote`); the zygote answers with a
:class:`SpawnReply`: the pid (and a pidfd as the one descriptor) or an error.

Everything a runner writes is untrusted (user code can write there): :func:`parse_reply` bounds
the size (:func:`reply_cap`, checked from the header before the body is read), refuses anything
but the fields below, and makes every string valid Unicode (a lone surrogate becomes U+FFFD),
raising :class:`ProtocolError` for the rest. The same for :func:`parse_spawn_reply`. The
bounded scanning itself is :mod:`.strict_json`'s.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from . import strict_json
elif __package__:
    from . import strict_json
else:  # run from the zygote, by path
    import strict_json

__all__ = [
    "HEADER", "MAX_ERROR_CHARS", "MAX_REQUEST_BYTES", "MAX_SPAWN_MESSAGE_BYTES", "BatchRequest",
    "CallRequest", "ConfineOptions", "LoadRequest", "ProtocolError", "Reply", "Request",
    "SpawnReply", "SpawnRequest", "encode_reply", "encode_request", "encode_spawn_reply",
    "encode_spawn_request", "parse_reply", "parse_request", "parse_spawn_reply",
    "parse_spawn_request", "reply_cap", "valid_text",
]  # fmt: skip

#: The length prefix of a runner frame.
HEADER = struct.Struct("!I")
#: The largest request frame a runner accepts (source plus arguments).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: Characters of ``error`` and of ``message`` a runner sends at most (it cuts longer ones).
MAX_ERROR_CHARS = 16 * 1024
#: The largest zygote message, either way.
MAX_SPAWN_MESSAGE_BYTES = 64 * 1024
#: JSON escaping makes a character at most 6 bytes (``\\u001f``); plus the field names.
_ESCAPE_FACTOR = 6
_REPLY_OVERHEAD = 4096


class ProtocolError(Exception):
    """A message broke its protocol: malformed, over its size, or not the message expected.
    Raised by every ``parse_*`` function; the worker then treats the sender as broken."""


def valid_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a valid pair is joined), so it
    can be encoded as UTF-8. Costs one failed encode only when there is something to fix."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


# ---- runner frames -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRequest:
    """Load ``source`` and pick the function named ``name`` (or the last one defined)."""

    name: str
    source: str
    #: Seconds the load may take.
    timeout: float


@dataclass(frozen=True)
class CallRequest:
    """Call the loaded function with ``args`` (a JSON array, as text)."""

    args: str
    #: Seconds the call may take.
    timeout: float
    #: Bytes of UTF-8 ``value`` and ``text`` may each have; a larger result fails the call.
    result_cap: int


@dataclass(frozen=True)
class BatchRequest:
    """Call the loaded function once per item of ``args`` (each a JSON array, as text), back
    to back, each with the ``timeout`` and ``result_cap`` of a :class:`CallRequest`."""

    args: tuple[str, ...]
    timeout: float
    result_cap: int

    def item(self, args: str = "[]") -> CallRequest:
        """The call one item is: what its reply answers (its cap and checks)."""
        return CallRequest(args=args, timeout=self.timeout, result_cap=self.result_cap)


Request = LoadRequest | CallRequest | BatchRequest


@dataclass(frozen=True)
class Reply:
    """A runner's answer to one request.

    ``ok`` with ``value`` (JSON text) and ``text`` (the old API's string form) for a call; or
    not ``ok`` with ``error`` (``"Type: message"``) and ``message``, and ``timeout`` when the
    runner's own deadline passed. ``logs`` is what the code printed meanwhile.
    """

    ok: bool
    logs: str = ""
    value: str | None = None
    text: str | None = None
    error: str | None = None
    message: str | None = None
    timeout: bool = False


_REPLY_STRINGS = ("logs", "value", "text", "error", "message")
_REPLY_FIELDS = frozenset(("ok", "timeout", *_REPLY_STRINGS))


def reply_cap(request: Request, log_cap: int) -> int:
    """The largest reply an honest runner sends to ``request`` when its logs are capped at
    ``log_cap`` characters: a longer frame is refused unread."""
    result_cap = 0 if isinstance(request, LoadRequest) else request.result_cap
    characters = 2 * result_cap + log_cap + 2 * MAX_ERROR_CHARS
    return _ESCAPE_FACTOR * characters + _REPLY_OVERHEAD


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return HEADER.pack(len(body)) + body


def encode_request(request: Request) -> bytes:
    """``request`` as a whole frame (header included)."""
    if isinstance(request, LoadRequest):
        fields: dict[str, Any] = {"op": "load", "name": request.name, "source": request.source}
    else:
        op, args = ("call", request.args) if isinstance(request, CallRequest) else (
            "batch", list(request.args))  # fmt: skip
        fields = {"op": op, "args": args, "result_cap": request.result_cap}
    fields["timeout"] = request.timeout
    return _frame(fields)


def parse_request(body: bytes) -> Request:
    """The request in a frame's ``body`` (the runner's side; the worker is trusted, so this
    only checks the shape).

    Raises:
        ProtocolError: not a request.
    """
    try:
        fields = json.loads(body)
        op, timeout = fields["op"], float(fields["timeout"])
        if op == "load":
            return LoadRequest(name=str(fields["name"]), source=str(fields["source"]),
                               timeout=timeout)  # fmt: skip
        if op == "call":
            return CallRequest(args=str(fields["args"]), timeout=timeout,
                               result_cap=int(fields["result_cap"]))  # fmt: skip
        if op == "batch" and isinstance(fields["args"], list):
            return BatchRequest(args=tuple(str(a) for a in fields["args"]), timeout=timeout,
                                result_cap=int(fields["result_cap"]))  # fmt: skip
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ProtocolError(f"malformed request: {exc!r}") from None
    raise ProtocolError(f"unknown op {op!r}")


def encode_reply(reply: Reply) -> bytes:
    """``reply`` as a whole frame: valid UTF-8, ``error`` and ``message`` cut to
    :data:`MAX_ERROR_CHARS`, absent fields left out."""
    fields: dict[str, Any] = {"ok": reply.ok, "logs": valid_text(reply.logs)}
    for name in ("value", "text", "error", "message"):
        text = getattr(reply, name)
        if text is not None:
            if name in ("error", "message"):
                text = text[:MAX_ERROR_CHARS]
            fields[name] = valid_text(text)
    if reply.timeout:
        fields["timeout"] = True
    return _frame(fields)


def parse_reply(body: bytes, request: Request) -> Reply:
    """The reply to ``request`` in a frame's ``body`` (the worker's side; for a
    :class:`BatchRequest`, the reply of one of its items). Linear, no
    recursion: the body must be one flat object of the :class:`Reply` fields (a successful
    call's with a value and a text); invalid UTF-8 and lone surrogates become U+FFFD. The
    caller bounds ``len(body)`` with :func:`reply_cap` before reading it.

    Raises:
        ProtocolError: anything else, with what was wrong.
    """
    try:
        fields = strict_json.flat_object(body.decode("utf-8", "replace"), _REPLY_FIELDS)
    except ValueError as exc:
        raise ProtocolError(f"malformed reply: {exc}") from None
    ok, timeout = fields.pop("ok", None), fields.pop("timeout", False)
    if not isinstance(ok, bool) or not isinstance(timeout, bool):
        raise ProtocolError("a reply's ok and timeout must be booleans")
    strings: dict[str, str | None] = {}
    for name in _REPLY_STRINGS:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(f"a reply's {name} must be a string")
        strings[name] = None if value is None else valid_text(value)
    has_result = strings["value"] is not None and strings["text"] is not None
    if ok and not isinstance(request, LoadRequest) and not has_result:
        raise ProtocolError("a successful call's reply needs a value and a text")
    if not ok and strings["error"] is None:
        raise ProtocolError("a failed reply needs an error")
    return Reply(
        ok=ok,
        logs=strings["logs"] or "",
        value=strings["value"],
        text=strings["text"],
        error=strings["error"],
        message=strings["message"],
        timeout=timeout,
    )


# ---- zygote messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class ConfineOptions:
    """How the sandbox is confined (see :mod:`.confine`)."""

    #: The uid (and gid) the runner runs as.
    uid: int
    #: ``RLIMIT_NPROC``, or None when a pids cgroup bounds the sandbox instead.
    nproc: int | None
    #: Paths it may read (and execute) besides the system's.
    read: tuple[str, ...] = ()
    #: Its address-space limit, or None to leave it to the runner.
    address_space_mb: int | None = None
    #: The size of its scratch tmpfs, or None for no tmpfs.
    scratch_mb: int | None = None
    #: The ``cgroup.procs`` files it joins.
    cgroup_procs: tuple[str, ...] = ()
    #: Whether its seccomp filter is installed.
    seccomp: bool = True
    #: Whether it runs in a user namespace of its own (rootless).
    userns: bool = False


@dataclass(frozen=True)
class SpawnRequest:
    """Fork a sandbox running ``runtime``: for ``python`` ``argv`` are the runner's arguments,
    for ``node`` the whole command; ``env`` is its whole environment and ``home`` its scratch
    directory (absolute); ``confine`` None runs it unconfined."""

    runtime: str
    argv: tuple[str, ...]
    env: dict[str, str]
    home: str
    confine: ConfineOptions | None = None


@dataclass(frozen=True)
class SpawnReply:
    """The zygote's answer: the child's ``pid``, or the ``error`` that kept it from starting."""

    pid: int | None = None
    error: str | None = None


def encode_spawn_request(request: SpawnRequest) -> bytes:
    confine = request.confine
    fields: dict[str, Any] = {
        "runtime": request.runtime,
        "argv": list(request.argv),
        "env": request.env,
        "home": request.home,
        "confine": None if confine is None else {
            "uid": confine.uid, "nproc": confine.nproc, "read": list(confine.read),
            "address_space_mb": confine.address_space_mb, "scratch_mb": confine.scratch_mb,
            "cgroup_procs": list(confine.cgroup_procs), "seccomp": confine.seccomp,
            "userns": confine.userns,
        },
    }  # fmt: skip
    return json.dumps(fields).encode()


def parse_spawn_request(data: bytes) -> SpawnRequest:
    """The request in a zygote message.

    Raises:
        ProtocolError: not a well-formed request, saying what is wrong.
    """
    fields = _small_object(data, "request")
    argv = _strings(fields.get("argv"), "argv")
    env, home = fields.get("env"), fields.get("home")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ProtocolError("env must map names to strings")
    if not isinstance(home, str) or not home.startswith("/"):
        raise ProtocolError("home must be an absolute path")
    runtime = fields.get("runtime")
    if runtime not in ("python", "node") or (runtime == "node" and not argv):
        raise ProtocolError(f"no runner for runtime {runtime!r} with argv {argv!r}")
    return SpawnRequest(runtime, tuple(argv), env, home, _confine(fields.get("confine")))


def _confine(options: object) -> ConfineOptions | None:
    if options is None:
        return None
    if not isinstance(options, dict):
        raise ProtocolError("confine must be an object or null")
    uid = options.get("uid")
    if not strict_json.positive(uid):
        raise ProtocolError("confine needs a positive uid")
    sizes = {name: options.get(name) for name in ("nproc", "address_space_mb", "scratch_mb")}
    for name, value in sizes.items():
        if value is not None and not strict_json.positive(value):
            raise ProtocolError(f"{name} must be a positive integer or null")
    flags = {name: options.get(name, default) for name, default in
             (("seccomp", True), ("userns", False))}  # fmt: skip
    if not all(isinstance(flag, bool) for flag in flags.values()):
        raise ProtocolError("seccomp and userns must be booleans")
    return ConfineOptions(
        uid,
        sizes["nproc"],
        tuple(_strings(options.get("read", []), "read")),
        sizes["address_space_mb"],
        sizes["scratch_mb"],
        tuple(_strings(options.get("cgroup_procs", []), "cgroup_procs")),
        seccomp=flags["seccomp"],
        userns=flags["userns"],
    )


def encode_spawn_reply(reply: SpawnReply) -> bytes:
    if reply.pid is not None:
        return json.dumps({"pid": reply.pid}).encode()
    return json.dumps({"error": valid_text(reply.error or "refused")[:MAX_ERROR_CHARS]}).encode()


def parse_spawn_reply(data: bytes, descriptors: int) -> SpawnReply:
    """The zygote's reply, which came with ``descriptors`` descriptors (one with a pid, none
    with an error).

    Raises:
        ProtocolError: anything else.
    """
    fields = _small_object(data, "reply")
    pid, error = fields.get("pid"), fields.get("error")
    if strict_json.positive(pid) and descriptors == 1 and set(fields) == {"pid"}:
        return SpawnReply(pid=pid)
    if isinstance(error, str) and descriptors == 0 and set(fields) == {"error"}:
        return SpawnReply(error=valid_text(error)[:MAX_ERROR_CHARS])
    raise ProtocolError(f"malformed zygote reply {data[:200]!r} with {descriptors} descriptors")


def _small_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        return strict_json.small_object(data, what, MAX_SPAWN_MESSAGE_BYTES)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def _strings(value: object, what: str) -> list[str]:
    try:
        return strict_json.strings(value, what)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
