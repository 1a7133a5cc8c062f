"""The Store contract (faas_trio/store/base.py), checked against every backend."""

from __future__ import annotations

import itertools

import msgspec
import pytest
import trio
from msgspec.structs import replace

from faas_trio.core.errors import BadRequest, Conflict, FaasError, NotFound
from faas_trio.core.messages import (
    Changed,
    CreateJob,
    DeleteFunction,
    DeleteJob,
    DeleteUser,
    Done,
    FinishJob,
    FunctionReply,
    JobCreated,
    PutFunction,
    PutUser,
    RequeueJob,
    StartJob,
)
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.store import Store, WriteOp, WriteResult
from tests.records import submission_of

_ids = itertools.count(1)


def new_id() -> str:
    return f"{next(_ids):024x}"


def function(
    user: str = "ann", name: str = "add", source: str = "def add(a, b): return a + b"
) -> Function:
    return Function(
        user=user, name=name, source=source, runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64
    )


def job(user: str = "ann", fn: str = "add", **fields: object) -> JobRecord:
    fields.setdefault("id", new_id())
    fields.setdefault("args", "[4, 7]")
    fields.setdefault("runtime", Runtime.NODE)  # the store takes the function's runtime
    return JobRecord(user=user, function=fn, **fields)  # type: ignore[arg-type]


def finished(
    record: JobRecord, state: JobState = JobState.SUCCEEDED, **fields: object
) -> JobRecord:
    base: dict[str, object] = {
        "id": record.id,
        "user": record.user,
        "function": record.function,
        "runtime": record.runtime,
        "args": record.args,
        "state": state,
        "result": "11",
        "value": "11",
        "attempts": 1,
        "worker": "w1",
        "cold_start": True,
        "init_ms": 3.5,
        "started_at": 100.0,
        "finished_at": 101.0,
        "duration_ms": 12.5,
    }
    base.update(fields)
    return JobRecord(**base)  # type: ignore[arg-type]


async def write(store: Store, op: WriteOp) -> WriteResult:
    (result,) = await store.apply([op])
    return result


async def ok(store: Store, op: WriteOp) -> WriteResult:
    result = await write(store, op)
    if isinstance(result, FaasError):
        raise result
    return result


async def user_with_function(store: Store, user: str = "ann", name: str = "add") -> Function:
    await ok(store, PutUser(name=user, key_hash="h1"))
    reply = await ok(store, PutFunction(function=function(user, name)))
    assert isinstance(reply, FunctionReply)
    return reply.function


async def created(store: Store, record: JobRecord) -> JobCreated:
    reply = await ok(store, CreateJob(submission_of(record)))
    assert isinstance(reply, JobCreated)
    return reply


async def changed(store: Store, op: WriteOp) -> bool:
    reply = await ok(store, op)
    assert isinstance(reply, Changed)
    return reply.applied


# ---- users ---------------------------------------------------------------------------------


async def test_put_and_get_user(store: Store) -> None:
    assert await store.get_user("ann") is None
    assert await ok(store, PutUser(name="ann", key_hash="h1")) == Done()
    user = await store.get_user("ann")
    assert user is not None
    assert (user.name, user.key_hash, user.execution_time_ms) == ("ann", "h1", 0.0)
    assert user.created_at > 0


async def test_put_existing_user_resets_it(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    await changed(store, FinishJob(job=finished(record, duration_ms=40.0)))
    assert (await store.get_user("ann")).execution_time_ms == 40.0  # type: ignore[union-attr]

    await ok(store, PutUser(name="ann", key_hash="h2"))

    user = await store.get_user("ann")
    assert user is not None
    assert (user.key_hash, user.execution_time_ms) == ("h2", 0.0)
    assert await store.list_functions("ann") == []
    assert await store.get_function("ann", "add") is None


async def test_delete_user_drops_its_functions_jobs_and_logs(store: Store) -> None:
    await user_with_function(store)
    await user_with_function(store, user="bob")
    done = (await created(store, job())).job
    await changed(store, FinishJob(job=finished(done), logs="ann's secret\n"))
    queued = (await created(store, job(idempotency_key="k"))).job
    kept = (await created(store, job(user="bob"))).job
    assert await ok(store, DeleteUser(name="ann")) == Done()
    assert await store.get_user("ann") is None
    assert await store.get_function("ann", "add") is None
    for gone in (done, queued):
        assert await store.get_job(gone.id) is None
        assert await store.get_logs(gone.id) is None
    assert await store.get_job(kept.id) == kept

    # Whoever registers the name next starts empty, idempotency keys included.
    await user_with_function(store)
    assert await store.list_jobs("ann", None, 100) == []
    again = await created(store, job(idempotency_key="k"))
    assert not again.existing


async def test_a_user_deleted_in_a_batch_takes_the_jobs_made_before_it(store: Store) -> None:
    await user_with_function(store)
    record = job()
    results = await store.apply([CreateJob(submission_of(record)), DeleteUser(name="ann")])
    assert isinstance(results[0], JobCreated) and results[1] == Done()
    assert await store.get_job(record.id) is None


async def test_delete_unknown_user_is_not_found(store: Store) -> None:
    result = await write(store, DeleteUser(name="bob"))
    assert isinstance(result, NotFound)
    assert result.message == "user 'bob' not found"


# ---- functions -----------------------------------------------------------------------------


async def test_put_function_stores_it_with_version_one(store: Store) -> None:
    stored = await user_with_function(store)
    assert stored.version == 1
    assert stored.updated_at > 0
    assert stored == replace(function(), version=1, updated_at=stored.updated_at)
    assert await store.get_function("ann", "add") == stored


async def test_each_put_function_bumps_the_version(store: Store) -> None:
    await user_with_function(store)
    reply = await ok(store, PutFunction(function=function(source="def add(a, b): return b + a")))
    assert isinstance(reply, FunctionReply)
    assert reply.function.version == 2
    stored = await store.get_function("ann", "add")
    assert stored is not None
    assert (stored.version, stored.source) == (2, "def add(a, b): return b + a")


async def test_a_function_registered_again_never_reuses_a_version(store: Store) -> None:
    await user_with_function(store)  # version 1
    await ok(store, DeleteFunction(user="ann", name="add"))
    assert (await user_with_function(store)).version == 2  # the user reset drops it again
    assert (await user_with_function(store)).version == 3


async def test_versions_are_per_function(store: Store) -> None:
    await user_with_function(store, name="add")
    reply = await ok(store, PutFunction(function=function(name="mul")))
    assert isinstance(reply, FunctionReply)
    assert reply.function.version == 1


async def test_put_function_of_unknown_user_is_not_found(store: Store) -> None:
    result = await write(store, PutFunction(function=function(user="bob")))
    assert isinstance(result, NotFound)
    assert result.message == "user 'bob' not found"
    assert await store.get_function("bob", "add") is None


async def test_list_functions_by_name(store: Store) -> None:
    await user_with_function(store, name="sub")
    await ok(store, PutFunction(function=function(name="add")))
    await user_with_function(store, user="bob", name="mul")
    assert [f.name for f in await store.list_functions("ann")] == ["add", "sub"]
    assert [f.name for f in await store.list_functions("bob")] == ["mul"]
    assert await store.list_functions("carl") == []


async def test_delete_function(store: Store) -> None:
    await user_with_function(store)
    assert await ok(store, DeleteFunction(user="ann", name="add")) == Done()
    assert await store.get_function("ann", "add") is None
    result = await write(store, DeleteFunction(user="ann", name="add"))
    assert isinstance(result, NotFound)
    assert result.message == "function 'add' not found for user 'ann'"


# ---- creating jobs -------------------------------------------------------------------------


async def test_create_job_stores_a_queued_job(store: Store) -> None:
    fn = await user_with_function(store)
    submitted = job(created_at=50.0, callback="http://cb", state=JobState.RUNNING, attempts=3)
    reply = await created(store, submitted)
    assert reply.existing is False
    assert reply.function == fn
    expected = JobRecord(
        id=submitted.id,
        user="ann",
        function="add",
        runtime=Runtime.PYTHON,
        args="[4, 7]",
        created_at=50.0,
        callback="http://cb",
    )
    assert reply.job == expected
    assert await store.get_job(submitted.id) == expected


async def test_create_job_without_created_at_gets_the_time_now(store: Store) -> None:
    await user_with_function(store)
    reply = await created(store, job())
    assert reply.job.created_at > 0


async def test_create_job_checks_user_and_function(store: Store) -> None:
    unknown_user = await write(store, CreateJob(submission_of(job(user="bob"))))
    assert isinstance(unknown_user, NotFound)
    assert unknown_user.message == "user 'bob' not found"

    await ok(store, PutUser(name="bob"))
    orphan = job(user="bob", fn="nope")
    unknown_function = await write(store, CreateJob(submission_of(orphan)))
    assert isinstance(unknown_function, NotFound)
    assert unknown_function.message == "function 'nope' not found for user 'bob'"
    assert await store.get_job(orphan.id) is None


async def test_create_job_is_idempotent_on_id(store: Store) -> None:
    await user_with_function(store)
    first = await created(store, job(created_at=1.0))
    again = await created(store, replace(first.job, args="[1, 1]", created_at=2.0))
    assert again.existing is True
    assert again.job == first.job
    assert await store.list_jobs("ann", None, 10) == [first.job]


async def test_create_job_is_idempotent_on_user_and_key(store: Store) -> None:
    await user_with_function(store)
    await ok(store, PutUser(name="bob"))
    await ok(store, PutFunction(function=function(user="bob")))
    first = await created(store, job(idempotency_key="k1"))
    again = await created(store, job(idempotency_key="k1"))
    assert again.existing is True
    assert again.job == first.job
    other_user = await created(store, job(user="bob", idempotency_key="k1"))
    assert other_user.existing is False
    assert len(await store.list_jobs("ann", None, 10)) == 1


async def test_a_job_id_of_another_user_is_a_conflict(store: Store) -> None:
    await user_with_function(store)
    await user_with_function(store, user="bob")
    first = await created(store, job())
    result = await write(store, CreateJob(submission_of(job(user="bob", id=first.job.id))))
    assert isinstance(result, Conflict)
    assert await store.get_job(first.job.id) == first.job


# ---- state transitions ---------------------------------------------------------------------


async def test_start_moves_queued_to_running_once(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    assert await changed(store, StartJob(id=record.id, attempt=1, worker="w1", started_at=9.0))
    assert not await changed(store, StartJob(id=record.id, attempt=2, worker="w2", started_at=10))
    stored = await store.get_job(record.id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.worker, stored.started_at) == (
        JobState.RUNNING, 1, "w1", 9.0,
    )  # fmt: skip


async def test_transitions_of_an_unknown_job_do_not_apply(store: Store) -> None:
    missing = job()
    assert not await changed(store, StartJob(id=missing.id, attempt=1, worker="w", started_at=1))
    assert not await changed(store, RequeueJob(id=missing.id))
    assert not await changed(store, FinishJob(job=finished(missing)))
    assert await store.get_job(missing.id) is None


async def test_transitions_of_a_malformed_job_id_do_not_apply(store: Store) -> None:
    bad = msgspec.structs.replace(job(), id="not-a-job-id")
    assert not await changed(store, StartJob(id=bad.id, attempt=1, worker="w", started_at=1))
    assert not await changed(store, RequeueJob(id=bad.id))
    assert not await changed(store, FinishJob(job=finished(bad)))


async def test_requeue_moves_running_back_to_queued(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    assert not await changed(store, RequeueJob(id=record.id, error="early"))
    await changed(store, StartJob(id=record.id, attempt=1, worker="w1", started_at=9.0))
    assert await changed(store, RequeueJob(id=record.id, error="worker lost"))
    stored = await store.get_job(record.id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.worker, stored.started_at, stored.error) == (
        JobState.QUEUED, 1, None, None, "worker lost",
    )  # fmt: skip
    await changed(store, StartJob(id=record.id, attempt=2, worker="w2", started_at=10.0))
    assert await changed(store, RequeueJob(id=record.id))
    assert (await store.get_job(record.id)).error == "worker lost"  # type: ignore[union-attr]


async def test_a_requeue_may_give_back_the_attempt(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    await changed(store, StartJob(id=record.id, attempt=3, worker="w1", started_at=9.0))
    assert await changed(store, RequeueJob(id=record.id, error="handed back", attempts=2))
    stored = await store.get_job(record.id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.error) == (JobState.QUEUED, 2, "handed back")


async def test_finish_writes_the_outcome_and_logs_and_counts_time(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job(idempotency_key="k", callback="cb"))).job
    await changed(store, StartJob(id=record.id, attempt=1, worker="w1", started_at=100.0))
    outcome = finished(record, error=None, duration_ms=12.5)
    assert await changed(store, FinishJob(job=outcome, logs="hello\n"))
    expected = replace(outcome, created_at=record.created_at, idempotency_key="k", callback="cb")
    assert await store.get_job(record.id) == expected
    assert await store.get_logs(record.id) == "hello\n"
    assert (await store.get_user("ann")).execution_time_ms == 12.5  # type: ignore[union-attr]


async def test_finish_counts_time_once(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    outcome = FinishJob(job=finished(record, duration_ms=7.0), logs="once")
    results = await store.apply([outcome, outcome])
    assert results == [Changed(applied=True), Changed(applied=False)]
    assert not await changed(store, FinishJob(job=finished(record, JobState.FAILED), logs="2"))
    stored = await store.get_job(record.id)
    assert stored is not None
    assert stored.state is JobState.SUCCEEDED
    assert await store.get_logs(record.id) == "once"
    assert (await store.get_user("ann")).execution_time_ms == 7.0  # type: ignore[union-attr]


async def test_finish_without_finished_at_gets_the_time_now(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    await changed(store, FinishJob(job=finished(record, JobState.CANCELLED, finished_at=None)))
    stored = await store.get_job(record.id)
    assert stored is not None
    assert stored.finished_at is not None and stored.finished_at > 0


async def test_finish_needs_a_final_state(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    result = await write(store, FinishJob(job=finished(record, JobState.RUNNING)))
    assert isinstance(result, BadRequest)
    assert (await store.get_job(record.id)) == record


_TRANSITIONS = ["start", "requeue", "succeed", "cancel"]


@pytest.mark.parametrize("steps", list(itertools.product(_TRANSITIONS, repeat=3)), ids=str)
async def test_transitions_follow_the_state_machine(store: Store, steps: tuple[str, ...]) -> None:
    """Every sequence of three conditional writes against a model of the state machine."""
    await user_with_function(store)
    record = (await created(store, job())).job
    state, counted = JobState.QUEUED, 0.0
    for attempt, step in enumerate(steps, start=1):
        if step == "start":
            op: WriteOp = StartJob(id=record.id, attempt=attempt, worker="w", started_at=1.0)
            expected, target = state is JobState.QUEUED, JobState.RUNNING
        elif step == "requeue":
            op = RequeueJob(id=record.id)
            expected, target = state is JobState.RUNNING, JobState.QUEUED
        else:
            target = JobState.SUCCEEDED if step == "succeed" else JobState.CANCELLED
            op = FinishJob(job=finished(record, target, duration_ms=float(attempt)))
            expected = state not in (JobState.SUCCEEDED, JobState.CANCELLED)
            counted += float(attempt) if expected else 0.0
        assert await changed(store, op) is expected, (step, state)
        state = target if expected else state
    assert (await store.get_job(record.id)).state is state  # type: ignore[union-attr]
    assert (await store.get_user("ann")).execution_time_ms == counted  # type: ignore[union-attr]


# ---- batches -------------------------------------------------------------------------------


async def test_a_batch_applies_in_order_and_a_failed_op_fails_alone(store: Store) -> None:
    record = job()
    results = await store.apply(
        [
            PutUser(name="ann"),
            CreateJob(submission_of(record)),  # no function yet
            PutFunction(function=function()),
            CreateJob(submission_of(record)),
            DeleteUser(name="nobody"),
            StartJob(id=record.id, attempt=1, worker="w", started_at=1.0),
        ]
    )
    assert results[0] == Done()
    assert isinstance(results[1], NotFound)
    assert isinstance(results[2], FunctionReply)
    assert isinstance(results[3], JobCreated) and results[3].existing is False
    assert isinstance(results[4], NotFound)
    assert results[5] == Changed(applied=True)
    assert (await store.get_job(record.id)).state is JobState.RUNNING  # type: ignore[union-attr]


async def test_an_empty_batch_is_fine(store: Store) -> None:
    assert await store.apply([]) == []


# ---- reading and removing jobs -------------------------------------------------------------


async def test_list_jobs_newest_first_with_filter_and_limit(store: Store) -> None:
    await user_with_function(store)
    await user_with_function(store, user="bob")
    records = [(await created(store, job(created_at=float(t)))).job for t in (3, 1, 2)]
    await created(store, job(user="bob", created_at=9.0))
    await changed(store, StartJob(id=records[1].id, attempt=1, worker="w", started_at=1.0))

    newest_first = [records[0].id, records[2].id, records[1].id]
    assert [j.id for j in await store.list_jobs("ann", None, 10)] == newest_first
    assert [j.id for j in await store.list_jobs("ann", None, 2)] == newest_first[:2]
    assert [j.id for j in await store.list_jobs("ann", JobState.QUEUED, 10)] == [
        records[0].id, records[2].id,
    ]  # fmt: skip
    assert [j.id for j in await store.list_jobs("ann", JobState.RUNNING, 10)] == [records[1].id]
    assert await store.list_jobs("ann", JobState.FAILED, 10) == []
    assert await store.list_jobs("carl", None, 10) == []


async def test_unfinished_jobs_oldest_first_with_their_functions(store: Store) -> None:
    add = await user_with_function(store)
    mul = (await ok(store, PutFunction(function=function(name="mul")))).function  # type: ignore[union-attr]
    await ok(store, PutFunction(function=function(name="idle")))
    running = (await created(store, job(fn="mul", created_at=1.0))).job
    queued = (await created(store, job(created_at=2.0))).job
    done = (await created(store, job(fn="mul", created_at=0.5))).job
    await changed(store, StartJob(id=running.id, attempt=1, worker="w", started_at=3.0))
    await changed(store, FinishJob(job=finished(done)))

    jobs, functions = await store.unfinished_jobs()
    assert [(j.id, j.state) for j in jobs] == [
        (running.id, JobState.RUNNING), (queued.id, JobState.QUEUED),
    ]  # fmt: skip
    assert sorted(functions, key=lambda f: f.name) == [add, mul]


async def test_logs(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    assert await store.get_logs("0" * 24) is None
    assert await store.get_logs(record.id) == ""
    await changed(store, FinishJob(job=finished(record), logs="line 1\nline 2\n"))
    assert await store.get_logs(record.id) == "line 1\nline 2\n"


async def test_delete_job_removes_it_and_its_logs(store: Store) -> None:
    await user_with_function(store)
    record = (await created(store, job())).job
    await changed(store, FinishJob(job=finished(record), logs="x"))
    assert await ok(store, DeleteJob(id=record.id)) == Done()
    assert await store.get_job(record.id) is None
    assert await store.get_logs(record.id) is None
    result = await write(store, DeleteJob(id=record.id))
    assert isinstance(result, NotFound)
    assert result.message == f"job '{record.id}' not found"


async def test_sweep_removes_final_jobs_finished_before_the_cutoff(store: Store) -> None:
    await user_with_function(store)
    old, recent, running, queued = [(await created(store, job())).job for _ in range(4)]
    await changed(store, FinishJob(job=finished(old, JobState.FAILED, finished_at=100.0)))
    await changed(store, FinishJob(job=finished(recent, finished_at=300.0)))
    await changed(store, StartJob(id=running.id, attempt=1, worker="w", started_at=1.0))

    assert await store.sweep(200.0) == 1
    assert await store.get_job(old.id) is None
    assert await store.get_logs(old.id) is None
    for kept in (recent, running, queued):
        assert await store.get_job(kept.id) is not None
    assert await store.sweep(200.0) == 0
    assert await store.sweep(1e12) == 1
    assert [j.id for j in (await store.unfinished_jobs())[0]] == [running.id, queued.id]


async def test_aclose_is_idempotent(store: Store) -> None:
    await store.aclose()
    await store.aclose()  # no error
    with pytest.raises(trio.ClosedResourceError):
        await store.get_user("ann")


async def test_a_create_only_put_user_refuses_an_existing_user(store: Store) -> None:
    await store.apply([PutUser(name="ann", key_hash="first", create_only=True)])
    results = await store.apply([PutUser(name="ann", key_hash="second", create_only=True)])
    assert isinstance(results[0], Conflict)
    user = await store.get_user("ann")
    assert user is not None and user.key_hash == "first"
