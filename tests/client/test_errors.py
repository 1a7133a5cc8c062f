"""The one mapping from an answer to a value or an exception, and the retry policy."""

from __future__ import annotations

import httpx
import pytest

from faas_trio.client import errors
from faas_trio.client.protocol import Request, Response, decode
from faas_trio.client.retry import RetryPolicy


def answer(status: int, body: bytes, **headers: str) -> Response:
    return Response(status, headers, body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.PayloadTooLarge),
        (429, errors.RateLimited),
        (418, errors.ApiError),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_an_error_envelope_raises_the_class_of_its_status(
    status: int, cls: type[errors.ApiError]
) -> None:
    with pytest.raises(cls) as raised:
        decode(answer(status, b'{"error":true,"res":"what was wrong"}', **{"retry-after": "3"}))
    assert type(raised.value) is cls
    assert (raised.value.status, raised.value.message) == (status, "what was wrong")
    assert raised.value.retry_after == 3.0


def test_a_success_envelope_gives_its_res_and_anything_else_is_a_protocol_error() -> None:
    assert decode(answer(200, b'{"error":false,"res":{"a":[1]}}')) == {"a": [1]}
    for body in (b"<html>proxy</html>", b"[1,2]", b'{"res":1}', b""):
        with pytest.raises(errors.ProtocolError, match="not a faas-trio answer"):
            decode(answer(502, body))


@pytest.mark.parametrize(
    ("state", "cls"),
    [
        ("failed", errors.JobFailed),
        ("timeout", errors.JobTimeout),
        ("cancelled", errors.JobCancelled),
    ],
)
def test_a_final_record_without_value_raises_by_state(
    state: str, cls: type[errors.JobError]
) -> None:
    record = {"id": "j1", "state": state, "error": "boom"}
    error = errors.job_error_for(record)
    assert type(error) is cls and error.record is record
    assert "j1" in str(error) and "boom" in str(error)


def test_retries_resend_only_what_is_safe_to_send_twice() -> None:
    policy = RetryPolicy(attempts=3)
    get = Request("GET", "/j/x/record")
    delete = Request("DELETE", "/u/ann", resendable=False)
    refused = httpx.ConnectError("refused")
    reset = httpx.ReadError("reset")
    # Never sent: always again; broken after sending: only when resendable.
    assert policy.retries_error(0, delete, refused)
    assert not policy.retries_error(0, delete, reset)
    assert policy.retries_error(1, get, reset)
    assert not policy.retries_error(2, get, refused)  # the last attempt
    assert policy.retries_status(0, get, 503) and not policy.retries_status(0, get, 500)
    assert not policy.retries_status(0, delete, 503)
    assert [policy.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
