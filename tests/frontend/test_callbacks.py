"""?callback= at submission: allowed hosts only, stored on the job record."""

from __future__ import annotations

import pytest

from faas_trio.core.errors import BadRequest
from faas_trio.core.messages import Submit
from faas_trio.frontend.callbacks import check_callback

from .neighbours import AppClient, Neighbours, bearer, envelope_of

ALLOW = ("hooks.example.com", "10.0.0.7:8080", "[::1]:9000")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/done",
        "http://HOOKS.example.com:1234/x?y=1",
        "http://10.0.0.7:8080/cb",
        "http://[::1]:9000/",
    ],
)
def test_allowed(url: str) -> None:
    assert check_callback(url, ALLOW) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.7/cb", "10.0.0.7:80 is not allowed by FAAS_CALLBACK_ALLOW"),
        ("http://10.0.0.7:8081/cb", "is not allowed by FAAS_CALLBACK_ALLOW"),
        ("http://127.0.0.1:27444/", "is not allowed by FAAS_CALLBACK_ALLOW"),
        ("http://hooks.example.com.evil.net/", "is not allowed"),
        ("http://evil.net#@hooks.example.com/", "is not allowed"),
        ("http://user:pw@hooks.example.com/", "credentials"),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("hooks.example.com/x", "http:// or https://"),
        ("http://hooks.example.com:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("http://hooks.example.com/a b", "control characters"),
        ("http://hooks.example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace("[", r"\[")):
        check_callback(url, ALLOW)


def test_refused_when_nothing_is_allowed() -> None:
    assert check_callback(None, ()) is None
    with pytest.raises(BadRequest, match="FAAS_CALLBACK_ALLOW is empty"):
        check_callback("https://hooks.example.com/", ())


@pytest.fixture
async def ann_key(keys_client: AppClient) -> str:
    _, _, res = await envelope_of(await keys_client.post("/u/ann"))
    key: str = res["api_key"]
    await keys_client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n",
                           headers=bearer(key))  # fmt: skip
    return key


async def test_callback_is_stored_on_the_job(
    keys_client: AppClient, neighbours: Neighbours, ann_key: str
) -> None:
    url = "https://hooks.example.com/done?job=1"
    response = await keys_client.post(
        "/u/ann/fn/add/run", query_string={"callback": url}, data="[1,2]", headers=bearer(ann_key)
    )
    status, _, job_id = await envelope_of(response)
    assert status == 200
    submitted = [r for r in neighbours.jq_requests if isinstance(r, Submit)]
    assert submitted[-1].submission.callback == url
    _, _, record = await envelope_of(
        await keys_client.get(f"/j/{job_id}/record", headers=bearer(ann_key))
    )
    assert record["callback"] == url


async def test_disallowed_callback_is_400_and_nothing_is_submitted(
    keys_client: AppClient, neighbours: Neighbours, ann_key: str
) -> None:
    response = await keys_client.post(
        "/u/ann/fn/add/run",
        query_string={"callback": "http://127.0.0.1:27445/"},
        data="[1,2]",
        headers=bearer(ann_key),
    )
    status, error, res = await envelope_of(response)
    assert (status, error) == (400, True)
    assert "FAAS_CALLBACK_ALLOW" in res
    assert not any(isinstance(r, Submit) for r in neighbours.jq_requests)


async def test_open_mode_default_refuses_callbacks(
    client: AppClient, neighbours: Neighbours
) -> None:
    await client.post("/u/ann")
    await client.post("/u/ann/fn/add", data="def add(a, b):\n    return a + b\n")
    response = await client.post(
        "/u/ann/fn/add/run", query_string={"callback": "https://hooks.example.com/"}
    )
    status, _, res = await envelope_of(response)
    assert (status, res) == (400, "callbacks are disabled here (FAAS_CALLBACK_ALLOW is empty)")
