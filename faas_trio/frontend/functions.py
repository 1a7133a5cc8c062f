"""Routes for a user's functions: list, read, register, remove, and run.

Registration takes the raw body as the source, or a JSON object or a multipart form with
requirements, env and secrets (:mod:`.registration`). ``?runtime=python|node`` names the
language; without it the language is told from the source (:mod:`.runtime_detect`).
``?timeout=`` (s) and ``?memory_mb=`` set the limits a call runs under. A function with
requirements answers at once while its environment is built; ``?wait=S`` waits up to S
seconds for the build and answers the function as ``GET`` shows it (200 once the build is
ready or failed, 202 while it still runs).

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
from typing import Any

from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.ids import new_job_id
from ..core.messages import (
    DeleteFunction,
    GetFunction,
    ListFunctions,
    PutFunction,
    Submit,
    WaitBuild,
)
from ..core.public import public_record
from ..core.records import Function, Submission
from . import inputs
from .auth import Auth
from .callbacks import check_callback
from .config import FrontendConfig
from .function_registration import read_registration
from .peers import Peers
from .quotas import check_function_room
from .responses import envelope

__all__ = ["register"]


async def _raw_body() -> bytes:
    """The request body as bytes, whatever its content type (not parsed as a form).

    Raises:
        RequestEntityTooLarge: the body is over ``MAX_CONTENT_LENGTH`` (answered 413).

    Cancellation: blocks until the body has arrived.
    """
    return await request.get_data(cache=False, as_text=False, parse_form_data=False)


def function_view(f: Function) -> dict[str, Any]:
    """A function as ``GET /u/:u/fn/:f`` shows it: never a secret's value, only names."""
    build = f.build
    return {
        "f_name": f.name,
        "src": f.source,
        "runtime": f.runtime.value,
        "timeout": f.timeout,
        "memory_mb": f.memory_mb,
        "version": f.version,
        "requirements": f.requirements,
        "preload": f.preload,
        "env": f.env,
        "secrets": f.secrets,
        # No requirements: the standard library, ready from the start.
        "build": {"state": "ready", "env": None, "log": "", "error": None, "resolved": []}
        if build is None
        else {
            "state": build.state.value,
            "env": build.env,
            "log": build.log,
            "error": build.error,
            "resolved": build.resolved,
        },
    }


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
        """One function. res: ``{f_name, src, runtime, timeout, memory_mb, version,
        requirements, preload, env, secrets, build: {state, env, log, error, resolved}}``.

        Cancellation: blocks on dbmanager; nothing changes.
        """
        request_ = GetFunction(inputs.check_name("user", user), inputs.check_name("function", fn))
        await auth.require_user(request_.user)
        return envelope(function_view((await peers.ask_db(request_)).function))

    @app.post("/u/<user>/fn/<fn>")
    async def put_function(user: str, fn: str) -> TrioResponse:
        """Register or replace a function (see :mod:`.registration`). res: 1; with
        ``?wait=S``, the function as ``GET`` shows it, once its build ended (200) or not (202).

        Cancellation: blocks reading the body, then on dbmanager; a cancel may leave the
        write done or not.
        """
        user = inputs.check_name("user", user)
        fn = inputs.check_name("function", fn)
        await auth.require_user(user)
        wait = inputs.wait(request.args.get("wait"), config.max_wait)
        function = await read_registration(user, fn, config)
        await check_function_room(
            peers,
            function,
            max_functions=config.max_functions,
            max_source_bytes=config.max_source_bytes,
        )
        stored = (await peers.ask_db(PutFunction(function))).function
        await peers.forget_functions(user, fn)
        if wait == 0 or stored.build is None:
            return envelope(1) if wait == 0 else envelope(function_view(stored))
        ask = WaitBuild(user, fn, stored.version, wait)
        built = (await peers.ask_db(ask, wait=wait)).function
        final = built.build is None or built.build.is_final or built.version != stored.version
        return envelope(function_view(built), 200 if final else 202)

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
        await peers.forget_functions(request_.user, request_.name)
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
