"""Routes for maps: submit one (``POST /u/<u>/fn/<f>/map``), follow it (``GET /g/<id>``), read
its results (``GET /g/<id>/results``, paged or streamed as NDJSON), cancel it (``DELETE
/g/<id>``) and list a user's (``GET /u/<u>/groups``).

A map's body is a JSON array of argument arrays; each item becomes an ordinary job (``GET
/j/<id>`` works on it) whose id is named by its group and index, so the answer lists every
item's id without another round trip. In ``keys`` mode a group belongs to its user like a job:
anyone else gets the 404 of a group that does not exist.

Streaming: the stream first sends every item already final (from the store), then the items
the jqmanager reports finished (woken, not polled), reading each one's record from the store,
where its final state is before anyone is told. Each line carries its item's index; an item
is sent once. The stream ends when every item was sent, or after ``?wait=S`` seconds
(``FAAS_MAX_WAIT`` at most).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import trio
from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioRequest, TrioResponse
from werkzeug.exceptions import RequestEntityTooLarge

from ..core.errors import BadRequest, NotFound, PayloadTooLarge
from ..core.groups import item_job_id
from ..core.ids import new_job_id
from ..core.messages import (
    CancelGroup,
    GetGroup,
    GroupItems,
    GroupReply,
    ListGroups,
    SubmitGroup,
    WatchGroup,
)
from ..core.public import public_record
from ..core.records import GroupCounts, GroupRecord, JobRecord
from . import inputs
from .auth import Auth
from .config import FrontendConfig
from .peers import Peers
from .responses import envelope

__all__ = ["register"]

#: Items one page of ``GET /g/<id>/results`` answers by default, and at most.
PAGE_DEFAULT = 1000
PAGE_MAX = 10_000
NDJSON = "application/x-ndjson"


def parse_items(body: bytes, max_items: int) -> list[str]:
    """The argument texts of a map's body: a JSON array of JSON arrays, each re-encoded.

    Raises:
        BadRequest: not such an array, or empty.
        PayloadTooLarge: more than ``max_items`` items.
    """
    try:
        # Only the outer array is decoded here: each item stays raw bytes until it is checked
        # on its own, so a large body never becomes one large tree of Python objects.
        items = msgspec.json.decode(body, type=list[msgspec.Raw])
    except RecursionError:
        raise BadRequest("the body nests arrays or objects too deeply to be read") from None
    except msgspec.ValidationError:
        raise BadRequest(
            "a map's body is a JSON array of argument arrays, like [[1, 2], [3, 4]]"
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not items:
        raise BadRequest("a map needs at least one item")
    if len(items) > max_items:
        raise PayloadTooLarge(
            f"the map has {len(items)} items; at most {max_items} are accepted (FAAS_MAP_MAX_ITEMS)"
        )
    texts: list[str] = []
    for index, item in enumerate(items):
        # The same checks as one call's arguments: an array, storable depth and integers.
        try:
            texts.append(inputs.args_text(bytes(item)))
        except BadRequest as exc:
            raise BadRequest(f"item {index}: {exc}") from None
    return texts


def item_view(job: JobRecord) -> dict[str, Any]:
    """What the results show of one item."""
    public = public_record(job)
    return {
        "index": job.group_index,
        "id": job.id,
        "state": job.state.value,
        "result": job.result,
        "value": public["value"],
        "error": job.error,
    }


def group_view(group: GroupRecord, counts: GroupCounts) -> dict[str, Any]:
    """What ``GET /g/<id>`` shows of a group."""
    final = counts.final
    out: dict[str, Any] = msgspec.to_builtins(group)
    out["counts"] = {k: v for k, v in msgspec.to_builtins(counts).items() if k.isalpha()
                     and k not in ("started_at", "finished_at")}  # fmt: skip
    out.update(
        done=final >= group.total,
        final=final,
        started_at=counts.started_at,
        finished_at=counts.finished_at if final >= group.total else None,
        elapsed_ms=(
            (
                (counts.finished_at if final >= group.total and counts.finished_at else time.time())
                - group.created_at
            )
            * 1000.0
        ),  # fmt: skip
    )
    return out


_MAP_PATH = re.compile(r"/u/[^/]+/fn/[^/]+/map")


def request_class(base: type[TrioRequest], config: FrontendConfig) -> type[TrioRequest]:
    """``base`` whose body limit is ``FAAS_MAP_MAX_BODY`` on ``POST .../map`` and the app's
    (``FAAS_MAX_BODY``) elsewhere: the limit is set when the request is made, before any
    handler runs."""

    class Request(base):  # type: ignore[valid-type,misc]
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
            if method == "POST" and _MAP_PATH.fullmatch(path):
                kwargs["max_content_length"] = config.map_max_body
            super().__init__(method, scheme, path, *args, **kwargs)

    return Request


async def _map_body(max_body: int) -> bytes:
    """The body of a map.

    Raises:
        PayloadTooLarge: over ``max_body`` bytes.

    Cancellation: blocks until the body has arrived.
    """
    try:
        return await request.get_data(cache=False, as_text=False, parse_form_data=False)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(
            f"a map's body may have {max_body} bytes at most (FAAS_MAP_MAX_BODY)"
        ) from None


def register(app: QuartTrio, peers: Peers, config: FrontendConfig, auth: Auth) -> None:
    """Add the map routes to ``app``."""

    async def owned_group(group_id: str) -> GroupReply:
        """The group (checked to be the caller's) and its counts.

        Raises:
            NotFound: no such group, or another user's.
        """
        group_id = inputs.check_job_id(group_id, kind="group")
        reply = await peers.ask_db(GetGroup(group_id))
        if not await auth.may_act_as(reply.group.user):
            raise NotFound(f"group '{group_id}' not found")
        return reply

    async def wait_done(group_id: str, wait: float) -> None:
        if wait > 0:
            await peers.ask_jq(WatchGroup(group_id, wait=wait, until_done=True),
                               wait=wait)  # fmt: skip

    async def all_items(group_id: str, total: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for offset in range(0, total, PAGE_MAX):
            page = await peers.ask_db(GroupItems(group_id, offset, PAGE_MAX))
            out += [item_view(job) for job in page.jobs]
        return out

    @app.post("/u/<user>/fn/<fn>/map")
    async def map_function(user: str, fn: str) -> TrioResponse:
        """Queue one call per item of the body (a JSON array of argument arrays) as a group.

        res: ``{id, total, jobs}``; with ``?wait=S`` also ``results`` once every item is final
        (200), or ``counts`` if not within S seconds (202). ``Idempotency-Key`` makes a
        repeated submission answer the first group.

        Cancellation: blocks reading the body, then on jqmanager while the group is stored,
        then up to ``wait``; a cancel after the submit was sent may leave the group queued.
        """
        user = inputs.check_name("user", user)
        fn = inputs.check_name("function", fn)
        await auth.require_user(user)
        wait = inputs.wait(request.args.get("wait"), config.max_wait)
        key = inputs.idempotency_key(request.headers.get("Idempotency-Key"))
        args = parse_items(await _map_body(config.map_max_body), config.map_max_items)
        group = GroupRecord(id=new_job_id(), user=user, function=fn, total=len(args),
                            created_at=time.time(), idempotency_key=key)  # fmt: skip
        # Storing a big map takes a while: a second per 5,000 items on top of the RPC timeout
        # (the jqmanager gives the store a second per 10,000, so its answer comes first).
        accepted = await peers.ask_jq(SubmitGroup(group, args), wait=len(args) / 5_000)
        stored = accepted.group
        res: dict[str, Any] = {
            "id": stored.id,
            "total": stored.total,
            "jobs": [item_job_id(stored.id, index) for index in range(stored.total)],
        }
        if wait == 0:
            return envelope(res)
        await wait_done(stored.id, wait)
        reply = await peers.ask_db(GetGroup(stored.id))
        if reply.counts.final < stored.total:
            res["counts"] = group_view(reply.group, reply.counts)["counts"]
            return envelope(res, 202)
        res["results"] = await all_items(stored.id, stored.total)
        return envelope(res)

    @app.get("/g/<group_id>")
    async def group_status(group_id: str) -> TrioResponse:
        """res: the group, its items' counts by state and its timing; ``?wait=S`` holds the
        request until every item is final or S seconds pass.

        Cancellation: blocks on dbmanager, and on jqmanager up to the wait; nothing changes.
        """
        wait = inputs.wait(request.args.get("wait"), config.max_wait)
        reply = await owned_group(group_id)
        if wait > 0 and reply.counts.final < reply.group.total:
            await wait_done(reply.group.id, wait)
            reply = await peers.ask_db(GetGroup(reply.group.id))
        return envelope(group_view(reply.group, reply.counts))

    @app.get("/g/<group_id>/results")
    async def group_results(group_id: str) -> TrioResponse:
        """res: items in input order, ``?offset=`` (default 0) and ``?limit=`` (default 1000,
        at most 10000), each ``{index, id, state, result, value, error}``. With ``Accept:
        application/x-ndjson``, a stream of every item as it finishes (module docstring).

        Cancellation: blocks on dbmanager; a stream ends when the client goes.
        """
        reply = await owned_group(group_id)
        if NDJSON in request.headers.get("Accept", ""):
            wait = inputs.wait(request.args.get("wait"), config.max_wait) or config.max_wait
            stream = _stream(peers, reply.group, wait)
            response = TrioResponse(stream, 200, {"Content-Type": NDJSON})
            response.timeout = wait + 5.0  # sending the stream: its whole life
            return response
        offset = inputs.offset(request.args.get("offset"))
        limit = inputs.list_limit(request.args.get("limit"), PAGE_DEFAULT, PAGE_MAX)
        page = await peers.ask_db(GroupItems(reply.group.id, offset, limit))
        return envelope([item_view(job) for job in page.jobs])

    @app.delete("/g/<group_id>")
    async def cancel_group(group_id: str) -> TrioResponse:
        """Cancel every item not final yet (running ones are killed). res: how many.

        Cancellation: blocks on jqmanager while the cancels are stored; a cancel may leave
        them done or not.
        """
        reply = await owned_group(group_id)
        cancelled = await peers.ask_jq(CancelGroup(reply.group.id))
        return envelope(cancelled.cancelled)

    @app.get("/u/<user>/groups")
    async def list_groups(user: str) -> TrioResponse:
        """res: the user's groups, newest first (``?limit=``, 1-1000, default 50).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        user = inputs.check_name("user", user)
        await auth.require_user(user)
        limit = inputs.list_limit(request.args.get("limit"), 50, 1000)
        reply = await peers.ask_db(ListGroups(user, limit))
        return envelope([msgspec.to_builtins(group) for group in reply.groups])


async def _stream(peers: Peers, group: GroupRecord, wait: float) -> AsyncIterator[bytes]:
    """The NDJSON lines of ``group``'s items as they finish (see the module docstring).

    Cancellation: ends the stream; nothing changes.
    """
    sent = bytearray(group.total)
    left = group.total
    epoch: str | None = None
    cursor = 0
    deadline = trio.current_time() + wait

    def lines(jobs: list[JobRecord]) -> bytes:
        nonlocal left
        out = bytearray()
        for job in jobs:
            index = job.group_index
            if index is None or not 0 <= index < group.total or sent[index] or not job.is_final:
                continue
            sent[index] = 1
            left -= 1
            out += msgspec.json.encode(item_view(job)) + b"\n"
        return bytes(out)

    while left > 0 and trio.current_time() < deadline:
        remaining = deadline - trio.current_time()
        progress = await peers.ask_jq(
            WatchGroup(group.id, after=cursor, wait=min(remaining, 10.0)),
            wait=min(remaining, 10.0),
        )  # fmt: skip
        if progress.epoch != epoch or progress.remaining is None or progress.remaining == 0:
            # A first look, a new life of the jqmanager, or a group it no longer holds: the
            # store has every final state announced before ``progress.cursor``.
            epoch, cursor = progress.epoch, progress.cursor
            for offset in range(0, group.total, PAGE_MAX):
                page = await peers.ask_db(GroupItems(group.id, offset, PAGE_MAX, final_only=True))
                if chunk := lines(page.jobs):
                    yield chunk
            if progress.remaining is None and left > 0:
                await trio.sleep(min(0.5, max(0.0, deadline - trio.current_time())))
            continue
        cursor = progress.cursor
        fresh = [i for i in progress.finished if 0 <= i < group.total and not sent[i]]
        for start in range(0, len(fresh), PAGE_MAX):
            page = await peers.ask_db(
                GroupItems(group.id, indices=fresh[start : start + PAGE_MAX], final_only=True)
            )
            if chunk := lines(page.jobs):
                yield chunk
