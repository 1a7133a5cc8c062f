"""The /u/<user>/fn routes, including run, against the real dbmanager and jqmanager."""

from __future__ import annotations

import json

import pytest

from faas_trio.core.ids import is_job_id
from faas_trio.core.messages import GetFunction, Submit
from faas_trio.core.records import Runtime

from .neighbours import TEST_CONFIG, AppClient, Neighbours, envelope_of

PY_ADD = "def add(a, b):\n    return a + b\n"
JS_ADD = "async function add(a,b){ return a+b; }"


@pytest.fixture
async def ann(client: AppClient, neighbours: Neighbours) -> AppClient:
    """The client, with user ann holding a Python ``add``; the requests that made them are
    forgotten, so a test sees only its own."""
    assert (await client.post("/u/ann")).status_code == 200
    assert (await client.post("/u/ann/fn/add", data=PY_ADD)).status_code == 200
    neighbours.db_requests.clear()
    neighbours.jq_requests.clear()
    return client


async def test_put_function_defaults(ann: AppClient, neighbours: Neighbours) -> None:
    f = await neighbours.function("ann", "add")
    assert (f.source, f.runtime) == (PY_ADD, Runtime.PYTHON)
    assert (f.timeout, f.memory_mb) == (TEST_CONFIG.default_timeout, TEST_CONFIG.default_memory_mb)
    assert f.updated_at > 0


async def test_put_function_detects_javascript(client: AppClient, neighbours: Neighbours) -> None:
    await client.post("/u/ann")
    response = await client.post(
        "/u/ann/fn/add", data=JS_ADD, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert await envelope_of(response) == (200, False, 1)
    assert (await neighbours.function("ann", "add")).runtime == Runtime.NODE
    assert (await neighbours.function("ann", "add")).source == JS_ADD


async def test_put_function_with_settings(ann: AppClient, neighbours: Neighbours) -> None:
    response = await ann.post(
        "/u/ann/fn/f?runtime=node&timeout=2.5&memory_mb=64", data="module.exports = 1"
    )
    assert await envelope_of(response) == (200, False, 1)
    f = await neighbours.function("ann", "f")
    assert (f.runtime, f.timeout, f.memory_mb) == (Runtime.NODE, 2.5, 64)


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ("", "", "empty"),
        ("", "  \n", "empty"),
        ("", "print(1)", "cannot tell the runtime, pass ?runtime=python|node"),
        ("?runtime=ruby", PY_ADD, "runtime must be python or node"),
        ("?timeout=abc", PY_ADD, "not a number"),
        ("?timeout=0", PY_ADD, "timeout must be"),
        ("?timeout=-1", PY_ADD, "timeout must be"),
        ("?timeout=121", PY_ADD, "timeout must be"),
        ("?timeout=nan", PY_ADD, "finite"),
        ("?memory_mb=1.5", PY_ADD, "whole number"),
        ("?memory_mb=0", PY_ADD, "memory_mb must be"),
        ("?memory_mb=999999", PY_ADD, "memory_mb must be"),
    ],
)
async def test_put_function_rejects(
    ann: AppClient, neighbours: Neighbours, query: str, body: str, message: str
) -> None:
    status, error, res = await envelope_of(await ann.post(f"/u/ann/fn/g{query}", data=body))
    assert (status, error) == (400, True)
    assert message in res
    assert not await neighbours.has_function("ann", "g")


async def test_put_function_rejects_invalid_utf8(ann: AppClient) -> None:
    response = await ann.post("/u/ann/fn/g", data=b"def f():\n    return '\xff'\n")
    assert await envelope_of(response) == (400, True, "request body is not valid UTF-8")


async def test_put_function_for_unknown_user_is_404(client: AppClient) -> None:
    status, error, _ = await envelope_of(await client.post("/u/nobody/fn/add", data=PY_ADD))
    assert (status, error) == (404, True)


async def test_put_function_too_large_is_413(ann: AppClient, neighbours: Neighbours) -> None:
    source = PY_ADD + "#" * TEST_CONFIG.max_body
    status, error, res = await envelope_of(await ann.post("/u/ann/fn/big", data=source))
    assert (status, error) == (413, True)
    assert str(TEST_CONFIG.max_body) in res
    assert not await neighbours.has_function("ann", "big")


async def test_function_name_is_validated(ann: AppClient) -> None:
    for method, path in [
        ("POST", "/u/ann/fn/a%20b"),
        ("GET", "/u/ann/fn/" + "f" * 65),
        ("DELETE", "/u/ann/fn/a*b"),
        ("POST", "/u/ann/fn/a*b/run"),
    ]:
        response = await ann.open(path, method=method, data=PY_ADD)
        status, error, res = await envelope_of(response)
        assert (status, error) == (400, True), path
        assert "function name" in res


async def test_list_functions(ann: AppClient) -> None:
    await ann.post("/u/ann/fn/js", data=JS_ADD)
    assert await envelope_of(await ann.get("/u/ann/fn")) == (
        200,
        False,
        {"add": PY_ADD, "js": JS_ADD},
    )


async def test_list_functions_of_unknown_user_is_404(client: AppClient) -> None:
    status, error, _ = await envelope_of(await client.get("/u/nobody/fn"))
    assert (status, error) == (404, True)


async def test_get_function(ann: AppClient, neighbours: Neighbours) -> None:
    await ann.post("/u/ann/fn/add?timeout=3", data=PY_ADD)
    assert await envelope_of(await ann.get("/u/ann/fn/add")) == (
        200,
        False,
        {
            "f_name": "add",
            "src": PY_ADD,
            "runtime": "python",
            "timeout": 3.0,
            "memory_mb": TEST_CONFIG.default_memory_mb,
            "version": 2,
            "requirements": [],
            "preload": None,
            "env": {},
            "secrets": [],
            # No requirements: the standard library only, nothing to build.
            "build": {"state": "ready", "env": None, "log": "", "error": None, "resolved": []},
        },
    )
    assert neighbours.db_requests[-1] == GetFunction("ann", "add")


async def test_get_unknown_function_is_404(ann: AppClient) -> None:
    assert await envelope_of(await ann.get("/u/ann/fn/nope")) == (
        404,
        True,
        "function 'nope' not found for user 'ann'",
    )


async def test_delete_function(ann: AppClient, neighbours: Neighbours) -> None:
    assert await envelope_of(await ann.delete("/u/ann/fn/add")) == (200, False, 1)
    assert await neighbours.store.list_functions("ann") == []
    status, error, _ = await envelope_of(await ann.delete("/u/ann/fn/add"))
    assert (status, error) == (404, True)


async def test_run_answers_job_id(ann: AppClient, neighbours: Neighbours) -> None:
    status, error, job_id = await envelope_of(await ann.post("/u/ann/fn/add/run", data="[4, 7]"))
    assert (status, error) == (200, False)
    assert is_job_id(job_id)
    [submit] = neighbours.jq_requests
    assert isinstance(submit, Submit)
    assert submit.wait == 0
    assert submit.submission.id == job_id
    submission = submit.submission
    assert (submission.user, submission.function, submission.args) == ("ann", "add", "[4,7]")
    assert submit.submission.idempotency_key is None
    assert submit.submission.created_at > 0


async def test_run_makes_one_call_only(ann: AppClient, neighbours: Neighbours) -> None:
    db_calls = len(neighbours.db_requests)
    await ann.post("/u/ann/fn/add/run", data="[1]")
    assert len(neighbours.db_requests) == db_calls
    assert len(neighbours.jq_requests) == 1


async def test_run_args_are_canonical_json(ann: AppClient, neighbours: Neighbours) -> None:
    await ann.post("/u/ann/fn/add/run", data='[ {"b": 1, "a": [true, null]}, "x" ]')
    [submit] = neighbours.jq_requests
    assert isinstance(submit, Submit)
    assert submit.submission.args == '[{"a":[true,null],"b":1},"x"]'


async def test_run_empty_body_means_no_arguments(ann: AppClient, neighbours: Neighbours) -> None:
    assert (await ann.post("/u/ann/fn/add/run")).status_code == 200
    [submit] = neighbours.jq_requests
    assert isinstance(submit, Submit)
    assert submit.submission.args == "[]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1}', "arguments must be a JSON array, e.g. [4,7]"),
        (b"4", "arguments must be a JSON array, e.g. [4,7]"),
        (b"[4, 7", "not valid JSON"),
        (b"four", "not valid JSON"),
        (b'["\xff"]', "request body is not valid UTF-8"),
    ],
)
async def test_run_rejects_bad_arguments(
    ann: AppClient, neighbours: Neighbours, body: bytes, message: str
) -> None:
    status, error, res = await envelope_of(await ann.post("/u/ann/fn/add/run", data=body))
    assert (status, error) == (400, True)
    assert message in res
    assert neighbours.jq_requests == []


async def test_run_too_large_is_413(ann: AppClient, neighbours: Neighbours) -> None:
    body = "[" + "1," * TEST_CONFIG.max_body + "1]"
    status, error, _ = await envelope_of(await ann.post("/u/ann/fn/add/run", data=body))
    assert (status, error) == (413, True)
    assert neighbours.jq_requests == []


async def test_run_unknown_function_is_404(ann: AppClient) -> None:
    assert await envelope_of(await ann.post("/u/ann/fn/nope/run", data="[]")) == (
        404,
        True,
        "function 'nope' not found for user 'ann'",
    )


async def test_run_with_wait_answers_final_record(
    ann: AppClient, neighbours: Neighbours, worker: None
) -> None:
    status, error, record = await envelope_of(
        await ann.post("/u/ann/fn/add/run?wait=5", data="[4,7]")
    )
    assert (status, error) == (200, False)
    assert record["state"] == "succeeded"
    assert (record["args"], record["value"], record["result"]) == ([4, 7], 11, "11")
    assert record["user"] == "ann" and record["function"] == "add"
    assert record["runtime"] == "python"
    [submit] = neighbours.jq_requests
    assert isinstance(submit, Submit)
    assert submit.wait == 5.0


async def test_run_with_wait_not_finished_is_202(ann: AppClient) -> None:
    await ann.post("/u/ann/fn/slow", data="def slow():\n    pass\n")
    status, error, record = await envelope_of(await ann.post("/u/ann/fn/slow/run?wait=1"))
    assert (status, error) == (202, False)
    assert record["state"] == "queued"
    assert (record["args"], record["value"]) == ([], None)


@pytest.mark.parametrize("wait", ["abc", "-1", "31", "inf", "nan"])
async def test_run_rejects_bad_wait(ann: AppClient, neighbours: Neighbours, wait: str) -> None:
    status, error, res = await envelope_of(await ann.post(f"/u/ann/fn/add/run?wait={wait}"))
    assert (status, error) == (400, True)
    assert "wait" in res
    assert neighbours.jq_requests == []


async def test_run_idempotency_key(ann: AppClient, neighbours: Neighbours) -> None:
    headers = {"Idempotency-Key": "order-17"}
    first = await envelope_of(await ann.post("/u/ann/fn/add/run", data="[1]", headers=headers))
    again = await envelope_of(await ann.post("/u/ann/fn/add/run", data="[1]", headers=headers))
    assert first == again
    assert len(await neighbours.store.list_jobs("ann", None, 10)) == 1
    submit = neighbours.jq_requests[0]
    assert isinstance(submit, Submit)
    assert submit.submission.idempotency_key == "order-17"
    too_long = {"Idempotency-Key": "k" * 201}
    status, _, _ = await envelope_of(await ann.post("/u/ann/fn/add/run", headers=too_long))
    assert status == 400


async def test_record_json_decodes_args_and_value(ann: AppClient) -> None:
    _, _, job_id = await envelope_of(await ann.post("/u/ann/fn/add/run", data="[0.5, 2]"))
    _, _, record = await envelope_of(await ann.get(f"/j/{job_id}/record"))
    assert record["args"] == [0.5, 2]
    assert json.dumps(record)  # plain JSON all the way down
