"""The child process that runs one user's Python function, kept warm between calls.

Run by the zygote (:mod:`faas_trio.worker.sandbox.zygote`) in each sandbox it forks, as
``python_runner.py --memory-mb N --log-cap B``: compiled once there, and executed in the
forked, already confined interpreter; it is never imported by the worker. The zygote imports
every module it needs beforehand, so none is loaded per sandbox.

Protocol: the runner frames of :mod:`.protocol`, read from the original stdin and written to
the original stdout. Both are moved to private descriptors at start, fd 0 becomes
``/dev/null`` and fd 1 is pointed at stderr, so stray output from user code (or from anything
it starts) can never corrupt the protocol; the worker drains stderr into the current call's
logs.

- A ``LoadRequest`` runs the source in a fresh namespace and picks the function to call: the
  global named ``name`` if it is callable, else the function defined last in the source (by
  line). The reply is ok, or the error (``SyntaxError: ...``).
- A ``CallRequest`` calls ``fn(*args)``; a coroutine result is run with :func:`asyncio.run`.
  The reply carries the value, or the error, and ``timeout`` when the call's seconds passed
  (the worker then kills this process; the alarm here only gets the logs out first).
- A ``BatchRequest`` makes one such call per item, back to back, and writes each one's reply
  (with that call's own output as its logs) as soon as it ends; it stops after a timeout.

A value that is not JSON-serialisable is sent as the JSON string of ``str(value)``. ``text`` is
the old API's string form: a string as is, anything else its JSON text. A value or text over
the request's ``result_cap`` bytes fails the call (``ResultTooLarge``) instead of being sent.

Limits set before any user code runs: address space (memory + a base for the interpreter),
file size, open files, and a CPU-time backstop renewed before each call. Before it starts, its
process asked the kernel for SIGKILL when its keeper dies; it exits when its request pipe
reaches end of file. When confined it is PID 1 of its own PID namespace, and after each request
it kills and reaps every process user code started: nothing outlives the call that started it.
"""

from __future__ import annotations

import builtins
import json
import os
import resource
import signal
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # for the type checker only
    from collections.abc import Callable, Iterator
    from typing import Any

    from . import protocol
else:
    import protocol  # loaded by the zygote, beside this file

#: Room for the interpreter itself on top of the function's memory allowance.
_BASE_MEMORY_MB = 128
_MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_OPEN_FILES = 64
_TRUNCATED_NOTE = "\n[… output truncated]\n"


class _CallTimeout(BaseException):
    """Raised by the alarm inside user code; a BaseException so ``except Exception`` in user
    code does not swallow it."""


class _Capture:
    """A text stream that keeps at most ``cap`` characters, then notes the truncation."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[str] = []
        self._size = 0
        self._truncated = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self._cap - self._size
        if len(text) > room:
            self._truncated = True
            text = text[: max(room, 0)]
        self._parts.append(text)
        self._size += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def text(self) -> str:
        body = "".join(self._parts)
        return body + _TRUNCATED_NOTE if self._truncated else body


def _parse_argv(argv: list[str]) -> tuple[int, int]:
    options = {"--memory-mb": "128", "--log-cap": str(1 << 20)}
    for flag, value in zip(argv[::2], argv[1::2], strict=False):
        if flag in options:
            options[flag] = value
    return int(options["--memory-mb"]), int(options["--log-cap"])


def _set_limits(memory_mb: int) -> None:
    address_space = (memory_mb + _BASE_MEMORY_MB) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (_MAX_OPEN_FILES, _MAX_OPEN_FILES))


def _renew_cpu_backstop(timeout: float) -> None:
    # The worker kills on wall-clock time; this only stops a spinning orphan. The soft limit
    # is renewed per call because CPU time accumulates over a warm process's life.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used + timeout) + 5
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _isolate_protocol_fds() -> tuple[int, int]:
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return proto_in, proto_out


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes | None:
    """The next request frame's body; None at end of input (or for a frame over the limit:
    the worker never sends one, so the stream cannot be trusted any more)."""
    header = _read_exactly(fd, protocol.HEADER.size)
    if header is None:
        return None
    (length,) = protocol.HEADER.unpack(header)
    if length > protocol.MAX_REQUEST_BYTES:
        return None
    return _read_exactly(fd, length)


def _write_frame(fd: int, reply: protocol.Reply) -> None:
    data = memoryview(protocol.encode_reply(reply))
    while data:
        data = data[os.write(fd, data) :]


def _failure(exc: BaseException, *, timeout: bool = False) -> protocol.Reply:
    name = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:  # noqa: B036 - a user exception's __str__ may raise anything
        message = ""
    error = f"{name}: {message[: protocol.MAX_ERROR_CHARS]}" if message else name
    return protocol.Reply(ok=False, error=error, message=message or name, timeout=timeout)


def _utf8_size(text: str) -> int:
    return len(protocol.valid_text(text).encode("utf-8"))


class _Runner:
    def __init__(self, log_cap: int) -> None:
        self.log_cap = log_cap
        self.fn: Callable[..., Any] | None = None

    def _captured(self, timeout: float, action: Callable[[], protocol.Reply]) -> protocol.Reply:
        """Run ``action()`` with stdout/stderr captured and an alarm after ``timeout``: its
        reply, or the error it raised, with the output as logs."""
        capture = _Capture(self.log_cap)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        try:
            signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))
            try:
                reply = action()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _CallTimeout:
            reply = _failure(TimeoutError(f"timed out after {timeout:g}s"), timeout=True)
        except BaseException as exc:  # noqa: B036 - user code may raise anything, SystemExit too
            reply = _failure(exc)
        finally:
            sys.stdout, sys.stderr = saved
        return protocol.Reply(
            ok=reply.ok, logs=capture.text(), value=reply.value, text=reply.text,
            error=reply.error, message=reply.message, timeout=reply.timeout,
        )  # fmt: skip

    def load(self, request: protocol.LoadRequest) -> protocol.Reply:
        return self._captured(request.timeout, lambda: self._load(request.name, request.source))

    def _load(self, name: str, source: str) -> protocol.Reply:
        filename = f"<function {name}>"
        namespace = {"__name__": "__faas__", "__builtins__": builtins}
        exec(compile(source, filename, "exec"), namespace)
        chosen = namespace.get(name)
        if not callable(chosen):
            defined = [
                value
                for value in namespace.values()
                if isinstance(value, types.FunctionType) and value.__code__.co_filename == filename
            ]
            if not defined:
                raise LookupError(f"no function named {name!r} and no function defined")
            chosen = max(defined, key=lambda fn: fn.__code__.co_firstlineno)
        self.fn = chosen
        return protocol.Reply(ok=True)

    def handle(self, body: bytes) -> Iterator[protocol.Reply]:
        """The replies to a request frame's ``body``, each made as it is asked for: one, or
        one per item of a batch, up to the first item that timed out (this process is then
        killed, and the worker runs the rest elsewhere)."""
        try:
            request = protocol.parse_request(body)
        except protocol.ProtocolError as exc:
            yield _failure(exc)
            return
        if isinstance(request, protocol.LoadRequest):
            yield self.load(request)
        elif isinstance(request, protocol.CallRequest):
            yield self.call(request)
        else:
            for args in request.args:
                reply = self.call(protocol.CallRequest(args, request.timeout, request.result_cap))
                yield reply
                if reply.timeout:
                    return

    def call(self, request: protocol.CallRequest) -> protocol.Reply:
        _renew_cpu_backstop(request.timeout)
        return self._captured(request.timeout, lambda: self._call(request))

    def _call(self, request: protocol.CallRequest) -> protocol.Reply:
        if self.fn is None:
            raise RuntimeError("no function loaded")
        args = json.loads(request.args)
        if not isinstance(args, list):
            raise TypeError("arguments must be a JSON array")
        value = self.fn(*args)
        if isinstance(value, types.CoroutineType):
            # User-land only: users' async functions expect asyncio. The platform itself
            # never uses asyncio; this child runs one call at a time and nothing else.
            import asyncio

            value = asyncio.run(value)
        try:
            value_json = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            value_json = json.dumps(str(value))
            value = str(value)
        text = value if isinstance(value, str) else value_json
        size = max(_utf8_size(text), _utf8_size(value_json))
        if size > request.result_cap:
            return protocol.Reply(
                ok=False,
                error=f"ResultTooLarge: the result is {size} bytes, over the FAAS_RESULT_CAP"
                f" of {request.result_cap}",
                message=f"the result is {size} bytes, over the FAAS_RESULT_CAP of"
                f" {request.result_cap}",
            )
        return protocol.Reply(ok=True, value=value_json, text=text)


def _end_strays() -> None:
    """Kill and reap every other process of the sandbox: nothing a call started outlives it.

    Only as PID 1 of the sandbox's own PID namespace (confined), where ``kill(-1)`` reaches
    just the sandbox's processes; orphans are re-parented here, so the wait reaps them all.
    """
    if os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        return  # no other process
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _on_alarm(signum: int, frame: object) -> None:
    raise _CallTimeout()


def main() -> None:
    memory_mb, log_cap = _parse_argv(sys.argv[1:])
    _set_limits(memory_mb)
    proto_in, proto_out = _isolate_protocol_fds()
    signal.signal(signal.SIGALRM, _on_alarm)
    runner = _Runner(log_cap)
    while True:
        body = _read_frame(proto_in)
        if body is None:
            os._exit(0)
        for reply in runner.handle(body):
            _end_strays()
            _write_frame(proto_out, reply)


if __name__ == "__main__":
    main()
