"""Routes for jobs: status, result, record, logs, and removal.

``GET /j/<id>`` answers 0 while the job is queued or running and 1 once it is final
(succeeded, failed, timeout or cancelled). ``GET /j/<id>/res`` answers the old string form of
the outcome; while the job is not final it answers **202** with
``{"error": true, "res": "job <id> is not finished (state running)"}``: not a failure of the
request, but no result either, so a client that only looks at ``error`` never takes it for one.
``/j/<id>``, ``/res`` and ``/record`` take ``?wait=S`` to hold the request until the job is
final or S seconds pass (a long poll through jqmanager, no polling of the database).

In ``keys`` mode only the job's owner (or the admin) gets an answer; anyone else gets the same
404 as for a job that does not exist (:meth:`.auth.Auth.require_job_owner`).
"""

from __future__ import annotations

from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import Conflict, NotFound
from ..core.messages import CancelJob, DeleteJob, GetJob, GetLogs, WaitJob
from ..core.public import public_record
from ..core.records import JobRecord
from . import inputs
from .auth import Auth
from .config import FrontendConfig
from .peers import Peers
from .responses import envelope

__all__ = ["register", "result_text"]


def result_text(record: JobRecord) -> str:
    """The old API's result string of a final job: the result, else the error, else the state."""
    if record.result is not None:
        return record.result
    if record.error is not None:
        return record.error
    return record.state.value


def register(app: QuartTrio, peers: Peers, config: FrontendConfig, auth: Auth) -> None:
    """Add the ``/j/<id>`` routes to ``app``."""

    async def read_job(job_id: str) -> JobRecord:
        """The job as it stands, after waiting up to ``?wait=`` seconds for it to finish.

        Cancellation: blocks on dbmanager, or on jqmanager up to the wait plus the RPC
        deadline; nothing changes.
        """
        job_id = inputs.check_job_id(job_id)
        wait = inputs.wait(request.args.get("wait"), config.max_wait)
        owned = await auth.require_job_owner(job_id)
        stored = owned if owned is not None else (await peers.ask_db(GetJob(job_id))).job
        if wait > 0 and not stored.is_final:
            # Only a job the store still holds unfinished is waited for at the jqmanager: its
            # memory of recent final records could still hold a job deleted since.
            return (await peers.ask_jq(WaitJob(job_id, wait), wait=wait)).job
        return stored

    @app.get("/j/<job_id>")
    async def job_status(job_id: str) -> TrioResponse:
        """res: 0 while the job is queued or running, 1 once it is final.

        Cancellation: see ``read_job``.
        """
        record = await read_job(job_id)
        return envelope(1 if record.is_final else 0)

    @app.get("/j/<job_id>/res")
    async def job_result(job_id: str) -> TrioResponse:
        """res: the result string of a final job; 202 with an error while it is not final.

        Cancellation: see ``read_job``.
        """
        record = await read_job(job_id)
        if not record.is_final:
            message = f"job {record.id} is not finished (state {record.state.value})"
            return envelope(message, 202, error=True)
        return envelope(result_text(record))

    @app.get("/j/<job_id>/record")
    async def job_record(job_id: str) -> TrioResponse:
        """res: the whole job record, ``args`` and ``value`` as JSON values.

        Cancellation: see ``read_job``.
        """
        return envelope(public_record(await read_job(job_id)))

    @app.get("/j/<job_id>/logs")
    async def job_logs(job_id: str) -> TrioResponse:
        """res: what the function printed (a string).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        job_id = inputs.check_job_id(job_id)
        await auth.require_job_owner(job_id)
        reply = await peers.ask_db(GetLogs(job_id))
        return envelope(reply.logs)

    @app.delete("/j/<job_id>")
    async def delete_job(job_id: str) -> TrioResponse:
        """Cancel the job if it is still queued or running, then remove it. res: 1.

        Cancellation: blocks on jqmanager, then on dbmanager; a cancel in between leaves
        the job cancelled but stored.
        """
        job_id = inputs.check_job_id(job_id)
        await auth.require_job_owner(job_id)
        try:
            await peers.ask_jq(CancelJob(job_id))
        except (Conflict, NotFound):
            # Already final, or not known to the queue: removal below decides (404 if unknown).
            pass
        await peers.ask_db(DeleteJob(job_id))
        return envelope(1)
