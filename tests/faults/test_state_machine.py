"""The job state machine, property-style, against the real SQLite store.

``tests/store/test_contract.py`` checks every three-step sequence on one job. Here hypothesis
drives longer random interleavings of ``StartJob``, ``RequeueJob`` and ``FinishJob`` over
several jobs, applied in random batches (as the dbmanager's group commit does), as when stale
workers, lost leases and cancels race: a job never leaves a final state, its final record
and logs are those of the one ``FinishJob`` that applied, and its time is counted once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from faas_trio.core.messages import (
    Changed,
    CreateJob,
    FinishJob,
    PutFunction,
    PutUser,
    RequeueJob,
    StartJob,
)
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.store import WriteOp, open_store
from tests.records import submission_of

JOBS = 3
FINAL = [JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED]


@dataclass(frozen=True)
class Step:
    """One transition of job number ``job``: ``start``, ``requeue`` or a final state."""

    job: int
    kind: str
    attempt: int
    duration_ms: float


steps = st.builds(
    Step,
    job=st.integers(0, JOBS - 1),
    kind=st.sampled_from(["start", "requeue", *[s.value for s in FINAL]]),
    attempt=st.integers(1, 4),
    duration_ms=st.floats(0.5, 1000.0, allow_nan=False).map(lambda x: round(x, 3)),
)
#: The steps, cut into batches that each commit as one transaction.
batches = st.lists(st.lists(steps, min_size=1, max_size=4), min_size=1, max_size=10)


def _op(record: JobRecord, step: Step, n: int) -> WriteOp:
    if step.kind == "start":
        return StartJob(id=record.id, attempt=step.attempt, worker=f"w{n}", started_at=float(n))
    if step.kind == "requeue":
        return RequeueJob(id=record.id, error=f"lost {n}")
    final = JobRecord(
        id=record.id, user=record.user, function=record.function, runtime=record.runtime,
        args=record.args, state=JobState(step.kind), result=f"r{n}", error=None,
        attempts=step.attempt, worker=f"w{n}", started_at=float(n), finished_at=float(n) + 1,
        duration_ms=step.duration_ms,
    )  # fmt: skip
    return FinishJob(job=final, logs=f"logs of step {n}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches)
async def test_no_transition_leaves_a_final_state(batches: list[list[Step]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        async with open_store(f"sqlite:///{home}/faas.db") as store:
            await store.apply([PutUser(name="ann")])
            function = Function(
                user="ann", name="f", source="def f(): pass", runtime=Runtime.PYTHON,
                timeout=5.0, memory_mb=64,
            )  # fmt: skip
            await store.apply([PutFunction(function=function)])
            jobs = [
                JobRecord(id=f"{i + 1:024x}", user="ann", function="f", runtime=Runtime.PYTHON,
                          args="[]")
                for i in range(JOBS)
            ]  # fmt: skip
            await store.apply([CreateJob(submission_of(job)) for job in jobs])

            # The model: each job's state, and for a final one its record and logs.
            state = {job.id: JobState.QUEUED for job in jobs}
            final: dict[str, tuple[JobRecord, str]] = {}
            counted = 0.0
            n = 0
            for batch in batches:
                ops, expected = [], []
                for step in batch:
                    n += 1
                    record = jobs[step.job]
                    op = _op(record, step, n)
                    ops.append(op)
                    now = state[record.id]
                    if isinstance(op, StartJob):
                        applies, after = now is JobState.QUEUED, JobState.RUNNING
                    elif isinstance(op, RequeueJob):
                        applies, after = now is JobState.RUNNING, JobState.QUEUED
                    else:
                        applies, after = now not in FINAL, op.job.state
                        if applies:
                            final[record.id] = (op.job, op.logs)
                            counted += step.duration_ms
                    expected.append(Changed(applied=applies))
                    if applies:
                        state[record.id] = after
                assert await store.apply(ops) == expected

                for job in jobs:
                    stored = await store.get_job(job.id)
                    assert stored is not None
                    assert stored.state is state[job.id]
                    if job.id in final:
                        record, logs = final[job.id]
                        # The final record is the one FinishJob that applied, untouched since.
                        assert (stored.state, stored.result, stored.attempts, stored.worker,
                                stored.finished_at, stored.duration_ms) == (
                            record.state, record.result, record.attempts, record.worker,
                            record.finished_at, record.duration_ms,
                        )  # fmt: skip
                        assert await store.get_logs(job.id) == logs
            user = await store.get_user("ann")
            assert user is not None
            assert abs(user.execution_time_ms - counted) < 1e-6
