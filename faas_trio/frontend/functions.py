"""Routes for a user's functions: list, read, register, remove, and run.

Registration takes the raw body as the source. ``?runtime=python|node`` names the language;
without it the language is told from the source (:mod:`.runtime_detect`). ``?timeout=`` (s)
and ``?memory_mb=`` set the limits a call runs under.

Running takes the raw body as a JSON array of arguments and answers the job id at once (the
old behaviour), or with ``?wait=S`` holds up to S seconds: 200 with the job record when the
job finished, 202 with the record so far when it did not. The run path makes exactly one
call, ``Submit`` to jqmanager, which checks the user and the function as it persists the job.
Runs count against the user's calls-per-minute limit (:mod:`.limits`); ``?callback=URL`` has
the finished record POSTed to URL (:mod:`.callbacks`).

Every route needs the user's key (or the admin's) in ``keys`` mode (:mod:`.auth`).
"""

from __future__ import annotations

import time

from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import BadRequest
from ..core.ids import new_job_id
from ..core.messages import DeleteFunction, GetFunction, ListFunctions, PutFunction, Submit
from ..core.public import public_record
from ..core.records import Function, Submission
from . import inputs
from .auth import Auth
from .callbacks import check_callback
from .config import FrontendConfig
from .peers import Peers
from .quotas import check_function_room
from .responses import envelope
from .runtime_detect import detect_runtime

__all__ = ["register"]


async def _raw_body() -> bytes:
    """The request body as bytes, whatever its content type (not parsed as a form).

    Raises:
        RequestEntityTooLarge: the body is over ``MAX_CONTENT_LENGTH`` (answered 413).

    Cancellation: blocks until the body has arrived.
    """
    return await request.get_data(cache=False, as_text=False, parse_form_data=False)


def register(app: QuartTrio, peers: Peers, config: FrontendConfig, auth: Auth) -> None:
    """Add the ``/u/<user>/fn`` routes to ``app``."""

    @app.get("/u/<user>/fn")
    async def list_functions(user: str) -> TrioResponse:
        """The user's functions. res: ``{name: source}``; 404 for an unknown user.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        user = inputs.check_name("user", user)
        await auth.require_user(user)
        reply = await peers.ask_db(ListFunctions(user))
        return envelope({f.name: f.source for f in reply.functions})

    @app.get("/u/<user>/fn/<fn>")
    async def get_function(user: str, fn: str) -> TrioResponse:
        """One function. res: ``{f_name, src, runtime, timeout, memory_mb, version}``.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        request_ = GetFunction(inputs.check_name("user", user), inputs.check_name("function", fn))
        await auth.require_user(request_.user)
        f = (await peers.ask_db(request_)).function
        return envelope(
            {
                "f_name": f.name,
                "src": f.source,
                "runtime": f.runtime.value,
                "timeout": f.timeout,
                "memory_mb": f.memory_mb,
                "version": f.version,
            }
        )

    @app.post("/u/<user>/fn/<fn>")
    async def put_function(user: str, fn: str) -> TrioResponse:
        """Register or replace a function; the raw body is its source. res: 1.

        Cancellation: blocks reading the body, then on dbmanager; a cancel may leave the
        write done or not.
        """
        user = inputs.check_name("user", user)
        fn = inputs.check_name("function", fn)
        await auth.require_user(user)
        args = request.args
        runtime = inputs.runtime(args.get("runtime"))
        timeout = inputs.timeout(args.get("timeout"), config.default_timeout, config.max_timeout)
        memory_mb = inputs.memory_mb(
            args.get("memory_mb"), config.default_memory_mb, config.max_memory_mb
        )
        source = inputs.body_text(await _raw_body())
        if not source.strip():
            raise BadRequest("function source is empty: send it as the request body")
        if runtime is None:
            runtime = detect_runtime(source)
            if runtime is None:
                raise BadRequest("cannot tell the runtime, pass ?runtime=python|node")
        function = Function(
            user=user,
            name=fn,
            source=source,
            runtime=runtime,
            timeout=timeout,
            memory_mb=memory_mb,
            updated_at=time.time(),
        )
        await check_function_room(
            peers,
            function,
            max_functions=config.max_functions,
            max_source_bytes=config.max_source_bytes,
        )
        await peers.ask_db(PutFunction(function))
        return envelope(1)

    @app.delete("/u/<user>/fn/<fn>")
    async def delete_function(user: str, fn: str) -> TrioResponse:
        """Remove a function. res: 1; 404 for an unknown user or function.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        request_ = DeleteFunction(
            inputs.check_name("user", user), inputs.check_name("function", fn)
        )
        await auth.require_user(request_.user)
        await peers.ask_db(request_)
        return envelope(1)

    @app.post("/u/<user>/fn/<fn>/run")
    async def run_function(user: str, fn: str) -> TrioResponse:
        """Queue a call; the raw body is the JSON array of arguments (empty: ``[]``).

        res: the job id; with ``?wait=S``, the job record (200 final, 202 not yet).
        The ``Idempotency-Key`` header makes a repeated submission return the first job.
        ``?callback=URL`` (an allowed host) gets the final record POSTed to it.

        Cancellation: blocks reading the body, then on jqmanager up to ``wait`` plus the RPC
        deadline; a cancel after the submit was sent may leave the job queued.
        """
        user = inputs.check_name("user", user)
        fn = inputs.check_name("function", fn)
        await auth.require_user(user)
        wait = inputs.wait(request.args.get("wait"), config.max_wait)
        key = inputs.idempotency_key(request.headers.get("Idempotency-Key"))
        callback = check_callback(request.args.get("callback"), config.callback_allow)
        args = inputs.args_text(await _raw_body())
        submission = Submission(
            id=new_job_id(),
            user=user,
            function=fn,
            args=args,
            created_at=time.time(),
            idempotency_key=key,
            callback=callback,
        )
        record = (await peers.ask_jq(Submit(submission, wait), wait=wait)).job
        if wait == 0:
            return envelope(record.id)
        return envelope(public_record(record), 200 if record.is_final else 202)
