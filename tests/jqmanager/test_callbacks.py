"""Callback delivery: the finished record POSTed to a tiny HTTP server, retried, bounded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial

import msgspec
import pytest
import trio

from faas_trio.core.messages import (
    CancelJob,
    Changed,
    CreateJob,
    Done,
    GetMetrics,
    JobCreated,
    JobReply,
    Message,
    Metrics,
    Submit,
    UnfinishedJobs,
    UnfinishedReply,
)
from faas_trio.core.public import public_record
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.core.rpc import open_client, serve_rpc
from faas_trio.jqmanager import JqManagerConfig, serve
from faas_trio.jqmanager.callback_delivery import CallbackSender
from faas_trio.store.base import created_job
from tests.records import submission_of


@dataclass
class Receiver:
    """A tiny HTTP server: answers each POST with the next status of ``statuses`` (then 200)."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    got: trio.Event = field(default_factory=trio.Event)

    async def handle(self, stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += await stream.receive_some()
        status = self.statuses.pop(0) if self.statuses else 200
        self.bodies.append(body)
        await stream.send_all(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        if status == 200:
            self.got.set()


async def start_receiver(nursery: trio.Nursery, receiver: Receiver) -> str:
    listeners = await nursery.start(partial(trio.serve_tcp, receiver.handle, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/hook"


RECORD = JobRecord(
    id="0123456789abcdef01234567",
    user="ann",
    function="add",
    runtime=Runtime.PYTHON,
    args="[4,7]",
    state=JobState.SUCCEEDED,
    result="11",
    value="11",
    created_at=1.0,
)


def test_callback_body_is_the_public_record() -> None:
    shown = json.loads(msgspec.json.encode(public_record(RECORD)))
    assert (shown["args"], shown["value"], shown["state"]) == ([4, 7], 11, "succeeded")


async def test_retries_until_accepted(nursery: trio.Nursery) -> None:
    receiver = Receiver(statuses=[500, 503])
    url = await start_receiver(nursery, receiver)
    sender = CallbackSender(nursery, attempts=5, attempt_timeout=5.0, first_backoff=0.01)
    assert await sender.deliver(url, msgspec.json.encode(public_record(RECORD))) is True
    assert len(receiver.bodies) == 3
    assert json.loads(receiver.bodies[-1])["id"] == RECORD.id
    assert (sender.delivered, sender.abandoned) == (1, 0)


async def test_gives_up_after_the_attempts(nursery: trio.Nursery) -> None:
    receiver = Receiver(statuses=[500] * 10)
    url = await start_receiver(nursery, receiver)
    sender = CallbackSender(nursery, attempts=3, attempt_timeout=5.0, first_backoff=0.01)
    assert await sender.deliver(url, b"{}") is False
    assert len(receiver.bodies) == 3
    assert sender.abandoned == 1


async def test_a_refusal_is_final(nursery: trio.Nursery) -> None:
    receiver = Receiver(statuses=[404])
    url = await start_receiver(nursery, receiver)
    sender = CallbackSender(nursery, attempts=5, first_backoff=0.01)
    assert await sender.deliver(url, b"{}") is False
    assert len(receiver.bodies) == 1


async def test_unreachable_receiver_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        sender = CallbackSender(nursery, attempts=3, attempt_timeout=1.0, first_backoff=1.0)
        # Port 9 (discard) on loopback: refused at once, every attempt.
        assert await sender.deliver("http://127.0.0.1:9/", b"{}") is False
    # Three attempts, two pauses (up to 10 % longer each: jitter), one second of slack.
    assert sender.deadline == pytest.approx(3 * 1.0 + (1.0 + 2.0) * 1.1 + 1.0)


def fake_db() -> tuple[list[Message], object]:
    function = Function(
        user="ann", name="add", source="def add(a, b):\n    return a + b\n",
        runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64,
    )  # fmt: skip
    seen: list[Message] = []

    async def handle(request: Message) -> Message:
        seen.append(request)
        match request:
            case UnfinishedJobs():
                return UnfinishedReply(jobs=[], functions=[])
            case CreateJob(submission=submission):
                return JobCreated(job=created_job(submission, function, 0.0), function=function)
            case _:
                return Changed(applied=True) if type(request).__name__.endswith("Job") else Done()

    return seen, handle


async def test_jqmanager_posts_the_final_record_and_counts_it(nursery: trio.Nursery) -> None:
    receiver = Receiver()
    url = await start_receiver(nursery, receiver)
    _, handle_db = fake_db()
    db_url = await nursery.start(partial(serve_rpc, "tcp://127.0.0.1:*", handle_db))  # type: ignore[arg-type]
    jq_url = await nursery.start(serve, JqManagerConfig(bind="tcp://127.0.0.1:*", db_url=db_url))
    job = msgspec.structs.replace(RECORD, state=JobState.QUEUED, result=None, value=None,
                                  callback=url)  # fmt: skip
    async with open_client(jq_url) as jq:
        assert isinstance(await jq.call(Submit(submission_of(job))), JobReply)
        cancelled = await jq.call(CancelJob(job.id))
        assert isinstance(cancelled, JobReply) and cancelled.job.state is JobState.CANCELLED
        with trio.fail_after(20):
            await receiver.got.wait()
        metrics = await jq.call(GetMetrics())
    posted = json.loads(receiver.bodies[0])
    assert (posted["id"], posted["state"], posted["args"]) == (job.id, "cancelled", [4, 7])
    assert isinstance(metrics, Metrics)
    assert metrics.jobs_total == {"cancelled": 1}
    assert (metrics.queued, metrics.running) == (0, 0)
