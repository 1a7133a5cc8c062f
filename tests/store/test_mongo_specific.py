"""What only the MongoDB store promises: the old documents' layout, its indexes, the database
named by the URL, and how it behaves while MongoDB is down and after it comes back.

The contract every store keeps is checked in ``test_contract.py`` (its ``mongo`` param).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio
from bson import ObjectId
from msgspec.structs import replace
from pymongo import MongoClient
from pymongo.database import Database

from faas_trio.core.errors import BadRequest, PeerUnavailable
from faas_trio.core.messages import (
    Changed,
    CreateJob,
    FinishJob,
    FunctionReply,
    JobCreated,
    PutFunction,
    PutUser,
    StartJob,
)
from faas_trio.core.records import Function, JobRecord, JobState, Runtime
from faas_trio.store.mongo import MongoStore
from faas_trio.store.mongo_documents import job_from_doc
from tests.records import submission_of

pytestmark = pytest.mark.mongo

RETENTION = 3600.0
# Generous bounds on waits that must end on their own; they catch hangs, not slowness.
HANG_GUARD = 30.0


def with_database(uri: str, database: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path=f"/{database}"))


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoStore]:
    async with await MongoStore.open(mongo_url, retention=RETENTION) as opened:
        yield opened


@pytest.fixture
def db(mongo_url: str) -> Iterator[Database[dict[str, Any]]]:
    """The store's database through plain pymongo, as an operator would read it."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    yield client.get_default_database()
    client.close()


def add_function(name: str = "add") -> PutFunction:
    return PutFunction(
        function=Function(
            user="ann", name=name, source="def add(a, b): return a + b",
            runtime=Runtime.PYTHON, timeout=5.0, memory_mb=64,
        )
    )  # fmt: skip


def new_job(job_id: str = "65f0a1b2c3d4e5f600000001") -> JobRecord:
    return JobRecord(
        id=job_id, user="ann", function="add", runtime=Runtime.PYTHON, args="[4, 7]",
        created_at=1000.0, idempotency_key="k1",
    )  # fmt: skip


def finished(job: JobRecord) -> JobRecord:
    return JobRecord(
        id=job.id, user="ann", function="add", runtime=Runtime.PYTHON, args=job.args,
        state=JobState.SUCCEEDED, result="11", value="11", attempts=1, worker="w1",
        started_at=1001.0, finished_at=1002.0, duration_ms=25.0,
    )  # fmt: skip


async def test_documents_keep_the_old_layout(
    store: MongoStore, db: Database[dict[str, Any]]
) -> None:
    job = new_job()
    await store.apply([PutUser(name="ann"), add_function(), CreateJob(submission_of(job))])

    user = db.users.find_one({"name": "ann"})
    assert user is not None
    assert user["functions"]["add"]["source"] == "def add(a, b): return a + b"
    assert user["functions"]["add"]["version"] == 1
    assert user["execution_time_ms"] == 0.0
    queued = db.jobs.find_one({"_id": ObjectId(job.id)})
    assert queued is not None
    assert (queued["u_name"], queued["f_name"], queued["argv"]) == ("ann", "add", [4, 7])
    assert (queued["status"], queued["state"]) == (0, "queued")
    assert queued["timestamp"] == datetime.datetime.fromtimestamp(1000.0, datetime.UTC)

    before = time.time()
    await store.apply([StartJob(id=job.id, attempt=1, worker="w1", started_at=1001.0)])
    await store.apply([FinishJob(job=finished(job), logs="hello\n")])
    after = time.time()

    done = db.jobs.find_one({"_id": ObjectId(job.id)})
    assert done is not None
    assert (done["status"], done["state"], done["result"]) == (1, "succeeded", "11")
    assert done["logs"] == "hello\n"
    expire_at = done["expire_at"].timestamp()
    assert before + RETENTION - 1 <= expire_at <= after + RETENTION + 1
    ann = db.users.find_one({"name": "ann"})
    assert ann is not None and ann["execution_time_ms"] == 25.0


async def test_jobs_written_by_the_old_system_are_readable(
    store: MongoStore, db: Database[dict[str, Any]]
) -> None:
    old_id = ObjectId()
    db.jobs.insert_one(
        {"_id": old_id, "u_name": "ann", "f_name": "add", "argv": [4, 7], "status": 1,
         "result": "11", "timestamp": datetime.datetime.now(datetime.UTC)}
    )  # fmt: skip
    record = await store.get_job(str(old_id))
    assert record is not None
    assert (record.user, record.function, record.state) == ("ann", "add", JobState.SUCCEEDED)
    assert (record.args, record.result) == ("[4, 7]", "11")


async def test_indexes_exist(store: MongoStore, db: Database[dict[str, Any]]) -> None:
    users = {tuple(ix["key"]): ix for ix in db.users.list_indexes()}
    assert users[("name",)].get("unique") is True
    jobs = {tuple(ix["key"]): ix for ix in db.jobs.list_indexes()}
    assert jobs[("idem",)].get("unique") is True
    assert jobs[("idem",)]["partialFilterExpression"] == {"idem": {"$type": "string"}}
    assert ("u_name", "created_at") in jobs
    assert jobs[("created_at",)]["partialFilterExpression"] == {"status": 0}
    assert jobs[("expire_at",)]["expireAfterSeconds"] == 0
    assert jobs[("accounted",)]["partialFilterExpression"] == {"accounted": {"$exists": True}}
    # A map's items, by group and index: partial, so a single job's insert does not pay for it.
    item = jobs[("group_id", "group_index")]
    assert item["partialFilterExpression"] == {"group_id": {"$type": "string"}}
    assert len(jobs) == 7  # with _id: nothing else costs an insert


async def test_indexes_of_earlier_versions_are_dropped(mongo_url: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url)
    try:
        jobs = client.get_default_database().jobs
        jobs.create_index([("state", 1), ("created_at", 1)])
        jobs.create_index(
            [("u_name", 1), ("idempotency_key", 1)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        )
        async with await MongoStore.open(mongo_url):
            names = {index["name"] for index in jobs.list_indexes()}
        assert not names & {"state_1_created_at_1", "u_name_1_idempotency_key_1"}
    finally:
        client.close()


async def test_the_url_names_the_database(mongo_server_uri: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_server_uri)
    try:
        for database in ("faas_named_db", "faas"):
            client.drop_database(database)
        url = with_database(mongo_server_uri, "faas_named_db")
        async with await MongoStore.open(url) as store:
            await store.apply([PutUser(name="ann")])
        async with await MongoStore.open(with_database(mongo_server_uri, "")) as store:
            await store.apply([PutUser(name="bob")])
        assert client["faas_named_db"].users.find_one({"name": "ann"}) is not None
        assert client["faas"].users.find_one({"name": "bob"}) is not None
        assert client["faas"].users.find_one({"name": "ann"}) is None
    finally:
        for database in ("faas_named_db", "faas"):
            client.drop_database(database)
        client.close()


async def test_a_function_name_that_cannot_be_a_key_is_refused(store: MongoStore) -> None:
    results = await store.apply([PutUser(name="ann"), add_function("a.b"), add_function("$x")])
    assert [type(result) for result in results[1:]] == [BadRequest, BadRequest]
    assert await store.list_functions("ann") == []


async def test_a_finish_that_lost_a_race_does_not_count_time(
    store: MongoStore, db: Database[dict[str, Any]]
) -> None:
    job = new_job()
    await store.apply([PutUser(name="ann"), add_function(), CreateJob(submission_of(job))])
    # Another writer cancels the job; the store's finish, planned without a read, must lose.
    db.jobs.update_one({"_id": ObjectId(job.id)}, {"$set": {"state": "cancelled"}})
    assert await store.apply([FinishJob(job=finished(job))]) == [Changed(applied=False)]
    record = await store.get_job(job.id)
    assert record is not None and record.state == JobState.CANCELLED
    user = await store.get_user("ann")
    assert user is not None and user.execution_time_ms == 0.0


def writes(store: MongoStore) -> int:
    """Commands the store has sent for batches of writes so far."""
    return store.metrics().commands_total.get("write", 0)


async def test_job_batches_cost_one_round_trip_per_collection(store: MongoStore) -> None:
    await store.apply([PutUser(name="ann"), add_function()])
    jobs = [new_job(f"65f0a1b2c3d4e5f6000000{i:02x}") for i in range(20)]
    before = writes(store)
    results = await store.apply(
        [CreateJob(submission_of(replace(j, idempotency_key=None))) for j in jobs]
    )
    assert all(isinstance(r, JobCreated) and not r.existing for r in results)
    assert writes(store) - before == 1  # the function was cached by its registration: no read
    before = writes(store)
    results = await store.apply([FinishJob(job=finished(j)) for j in jobs])
    assert results == [Changed(applied=True)] * len(jobs)
    # The batch's pending record, the jobs, then the user's time.
    assert writes(store) - before == 3
    user = await store.get_user("ann")
    assert user is not None and user.execution_time_ms == 25.0 * len(jobs)
    assert store.metrics().commands_total.get("get_user") == 1
    assert store.metrics().roundtrip.count >= 4


async def test_a_repeated_submission_is_answered_from_the_unique_index(
    store: MongoStore,
) -> None:
    await store.apply([PutUser(name="ann"), add_function()])
    (first,) = await store.apply([CreateJob(submission_of(new_job()))])
    again = new_job("65f0a1b2c3d4e5f6000000ff")  # a new id, the same idempotency key
    before = writes(store)
    (second,) = await store.apply([CreateJob(submission_of(again))])
    assert isinstance(first, JobCreated) and isinstance(second, JobCreated)
    assert second.existing and second.job.id == first.job.id
    assert writes(store) - before == 2  # the insert refused as a duplicate, then its read


async def test_a_job_finished_here_is_read_back_without_a_round_trip_until_it_expires(
    mongo_url: str, db: Database[dict[str, Any]]
) -> None:
    def reads(store: MongoStore) -> int:
        return store.metrics().commands_total.get("get_job", 0)

    async with await MongoStore.open(mongo_url, retention=0.3) as store:
        await store.apply([PutUser(name="ann"), add_function()])
        (made,) = await store.apply([CreateJob(submission_of(new_job()))])
        assert isinstance(made, JobCreated)
        await store.apply([FinishJob(job=finished(made.job))])
        before = reads(store)
        answer = await store.get_job(made.job.id)
        assert reads(store) == before  # the old API's poll of a finished job: no round trip
        stored = db.jobs.find_one({"_id": ObjectId(made.job.id)})
        assert stored is not None and answer == job_from_doc(stored)
        await trio.sleep(0.35)  # past its expiry: the database is asked again
        await store.get_job(made.job.id)
        assert reads(store) == before + 1


async def test_time_a_crash_left_uncounted_is_counted_once_at_the_next_start(
    mongo_url: str, db: Database[dict[str, Any]]
) -> None:
    job, other = new_job(), new_job("65f0a1b2c3d4e5f600000002")
    legacy, flagged = new_job("65f0a1b2c3d4e5f600000003"), new_job("65f0a1b2c3d4e5f600000004")
    unapplied = new_job("65f0a1b2c3d4e5f600000005")
    async with await MongoStore.open(mongo_url) as store:
        await store.apply([PutUser(name="ann"), add_function()])
        await store.apply(
            [CreateJob(submission_of(job))]
            + [
                CreateJob(submission_of(replace(each, idempotency_key=None)))
                for each in (other, legacy, flagged, unapplied)
            ]
        )
        await store.apply([FinishJob(job=finished(other))])  # counted: 25 ms
    (user,) = db.users.find({"name": "ann"})
    (counted,) = user["accounted_batches"]
    assert db.accounting.count_documents({}) == 1  # the last batch's record, counted
    # What a crash between the two writes leaves: the batch's pending record, and the job
    # final with the mark of its finish's write; the other finish it names did not apply.
    mark = ObjectId()
    final = {"state": "succeeded", "status": 1, "duration_ms": 25.0}
    db.jobs.update_one({"_id": ObjectId(job.id)}, {"$set": {**final, "last_write": mark}})
    finishes = [[ObjectId(job.id), mark], [ObjectId(unapplied.id), ObjectId()]]
    db.accounting.insert_one({"_id": "crashed", "token": 12345, "finishes": finishes})
    # The same left by earlier versions: a job flagged with its batch's token, and one
    # flagged false whose id its user keeps.
    db.jobs.update_one({"_id": ObjectId(flagged.id)}, {"$set": {**final, "accounted": 777}})
    db.jobs.update_one({"_id": ObjectId(legacy.id)}, {"$set": {**final, "accounted": False}})
    # And a job whose time was counted just before the crash, its flag still set.
    db.jobs.update_one({"_id": ObjectId(other.id)}, {"$set": {"accounted": counted}})
    for _ in range(2):  # a second start finds nothing left to count
        async with await MongoStore.open(mongo_url) as store:
            user_record = await store.get_user("ann")
            assert user_record is not None and user_record.execution_time_ms == 100.0
            assert await store.apply([FinishJob(job=finished(job))]) == [Changed(applied=False)]
    assert db.jobs.count_documents({"accounted": {"$exists": True}}) == 0
    assert db.accounting.count_documents({"_id": "crashed"}) == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", {"w": "majority", "j": True}), ("w=1&journal=false", {"w": 1, "j": False})],
)
async def test_the_write_concern_is_journaled_majority_unless_the_url_says(
    mongo_url: str, query: str, expected: dict[str, Any]
) -> None:
    url = f"{mongo_url}{'&' if '?' in mongo_url else '?'}{query}" if query else mongo_url
    async with await MongoStore.open(url) as store:
        assert store._client.write_concern.document == expected
        await store.apply([PutUser(name="ann")])
        assert await store.get_user("ann") is not None


async def test_a_closed_store_refuses_calls(mongo_url: str) -> None:
    store = await MongoStore.open(mongo_url)
    await store.aclose()
    await store.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await store.get_user("ann")


async def test_mongodb_down_then_back(launch_mongo: Any, tmp_path: Path) -> None:
    server = launch_mongo(sqlite=tmp_path / "mongo.db")
    url = with_database(server.uri, "faas_restart")
    store = await MongoStore.open(url, retry_timeout=0.5, select_timeout=0.25)
    async with store:
        results = await store.apply([PutUser(name="ann"), add_function()])
        assert isinstance(results[1], FunctionReply)
        server.stop()

        with trio.fail_after(HANG_GUARD):
            with pytest.raises(PeerUnavailable, match="MongoDB unreachable") as raised:
                await store.get_user("ann")
        assert type(raised.value.__cause__).__module__.startswith("pymongo")
        with trio.fail_after(HANG_GUARD):
            with pytest.raises(PeerUnavailable):
                await store.apply([PutUser(name="bob")])
        # A cancel while MongoDB is down ends the wait at once, and frees the batch lock.
        with trio.move_on_after(0.2) as cancelled:
            await store.apply([CreateJob(submission_of(new_job()))])
        assert cancelled.cancelled_caught

        launch_mongo(port=server.port, sqlite=tmp_path / "mongo.db")

        with trio.fail_after(HANG_GUARD):
            user = await store.get_user("ann")
            assert user is not None and user.name == "ann"
            (reply,) = await store.apply([CreateJob(submission_of(new_job()))])
        assert isinstance(reply, JobCreated) and not reply.existing
        assert await store.get_user("bob") is None
