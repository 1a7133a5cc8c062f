"""The /j/<id> routes against the real dbmanager and jqmanager."""

from __future__ import annotations

import pytest

from faas_trio.core.ids import new_job_id
from faas_trio.core.messages import CancelJob, DeleteJob, GetJob, WaitJob

from .neighbours import AppClient, Neighbours, envelope_of


@pytest.fixture
async def job_id(client: AppClient) -> str:
    """A queued job of ann's ``add`` with arguments [4, 7]."""
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    _, _, job_id = await envelope_of(await client.post("/u/ann/fn/add/run", data="[4,7]"))
    assert isinstance(job_id, str)
    return job_id


UNKNOWN = new_job_id()


async def test_status_0_then_1(client: AppClient, neighbours: Neighbours, job_id: str) -> None:
    assert await envelope_of(await client.get(f"/j/{job_id}")) == (200, False, 0)
    await neighbours.finish(job_id, 11)
    assert await envelope_of(await client.get(f"/j/{job_id}")) == (200, False, 1)
    assert neighbours.db_requests[-1] == GetJob(job_id)


@pytest.mark.parametrize("suffix", ["", "/res", "/record", "/logs"])
async def test_malformed_job_id_is_400(
    client: AppClient, neighbours: Neighbours, suffix: str
) -> None:
    for bad in ["123", "G" * 24, "ABCDEF0123456789ABCDEF01", "0" * 25]:
        status, error, res = await envelope_of(await client.get(f"/j/{bad}{suffix}"))
        assert (status, error) == (400, True), bad
        assert "malformed job id" in res
    status, _, _ = await envelope_of(await client.delete("/j/123"))
    assert status == 400
    assert neighbours.db_requests == [] and neighbours.jq_requests == []


@pytest.mark.parametrize("suffix", ["", "/res", "/record", "/logs", "/res?wait=1"])
async def test_unknown_job_is_404(client: AppClient, suffix: str) -> None:
    assert await envelope_of(await client.get(f"/j/{UNKNOWN}{suffix}")) == (
        404,
        True,
        f"job '{UNKNOWN}' not found",
    )


async def test_result_of_finished_job(
    client: AppClient, neighbours: Neighbours, job_id: str
) -> None:
    await neighbours.finish(job_id, 11)
    assert await envelope_of(await client.get(f"/j/{job_id}/res")) == (200, False, "11")
    _, _, text_job = await envelope_of(await client.post("/u/ann/fn/add/run", data="[1,2]"))
    await neighbours.finish(text_job, "eleven")
    assert await envelope_of(await client.get(f"/j/{text_job}/res")) == (200, False, "eleven")


async def test_result_of_failed_job_is_its_error(
    client: AppClient, neighbours: Neighbours, job_id: str
) -> None:
    await neighbours.finish(job_id, error="ZeroDivisionError: division by zero")
    assert await envelope_of(await client.get(f"/j/{job_id}/res")) == (
        200,
        False,
        "ZeroDivisionError: division by zero",
    )


async def test_result_of_unfinished_job_is_202(client: AppClient, job_id: str) -> None:
    assert await envelope_of(await client.get(f"/j/{job_id}/res")) == (
        202,
        True,
        f"job {job_id} is not finished (state queued)",
    )


async def test_result_with_wait_of_a_final_job_is_read_from_the_store(
    client: AppClient, neighbours: Neighbours, job_id: str
) -> None:
    await neighbours.finish(job_id, 11)
    assert await envelope_of(await client.get(f"/j/{job_id}/res?wait=2.5")) == (200, False, "11")
    assert neighbours.db_requests[-1] == GetJob(job_id)
    assert not any(isinstance(sent, WaitJob) for sent in neighbours.jq_requests)


@pytest.mark.parametrize("wait", ["x", "-0.5", "1e9"])
async def test_result_rejects_bad_wait(client: AppClient, job_id: str, wait: str) -> None:
    status, error, _ = await envelope_of(await client.get(f"/j/{job_id}/res?wait={wait}"))
    assert (status, error) == (400, True)


async def test_record(client: AppClient, neighbours: Neighbours, job_id: str) -> None:
    await neighbours.finish(job_id, 11)
    status, error, record = await envelope_of(await client.get(f"/j/{job_id}/record"))
    assert (status, error) == (200, False)
    assert record["id"] == job_id
    assert (record["state"], record["args"], record["value"]) == ("succeeded", [4, 7], 11)
    assert record["duration_ms"] == 1.5
    assert {"attempts", "created_at", "finished_at", "worker", "error"} <= set(record)


async def test_record_with_wait(client: AppClient, neighbours: Neighbours, job_id: str) -> None:
    status, _, record = await envelope_of(await client.get(f"/j/{job_id}/record?wait=1"))
    assert (status, record["state"]) == (200, "queued")
    assert neighbours.jq_requests[-1] == WaitJob(job_id, 1.0)


async def test_logs(client: AppClient, neighbours: Neighbours, job_id: str) -> None:
    assert await envelope_of(await client.get(f"/j/{job_id}/logs")) == (200, False, "")
    await neighbours.finish(job_id, 11, logs="hello\n")
    assert await envelope_of(await client.get(f"/j/{job_id}/logs")) == (200, False, "hello\n")


async def test_delete_cancels_then_removes(
    client: AppClient, neighbours: Neighbours, job_id: str
) -> None:
    assert await envelope_of(await client.delete(f"/j/{job_id}")) == (200, False, 1)
    assert neighbours.jq_requests[-1] == CancelJob(job_id)
    assert neighbours.db_requests[-1] == DeleteJob(job_id)
    assert not await neighbours.has_job(job_id)


async def test_delete_finished_job(client: AppClient, neighbours: Neighbours, job_id: str) -> None:
    await neighbours.finish(job_id, 11)  # the jqmanager answers Conflict to its cancel
    assert await envelope_of(await client.delete(f"/j/{job_id}")) == (200, False, 1)
    assert not await neighbours.has_job(job_id)


async def test_delete_unknown_job_is_404(client: AppClient) -> None:
    status, error, _ = await envelope_of(await client.delete(f"/j/{UNKNOWN}"))
    assert (status, error) == (404, True)
