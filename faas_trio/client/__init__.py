"""The Python client of faas-trio: talks to a platform over its REST API only.

::

    from faas_trio.client import Client

    with Client("http://127.0.0.1:8080", user="ann") as client:   # or key="ann.…"
        add = client.deploy("add", "def add(a, b):\\n    return a + b\\n")
        add(4, 7)                          # 11
        job = add.submit(1, 2)             # queued; job.result(timeout=10) -> 3
        list(add.map([(i, i) for i in range(100)]))   # one group, values in input order

:class:`AsyncClient` offers the same under trio or asyncio. Errors are in :mod:`.errors`.
"""

from __future__ import annotations

from .aio import AsyncClient, AsyncFunction, AsyncJob
from .errors import (
    ApiError,
    BadRequest,
    BuildFailed,
    Conflict,
    FaasClientError,
    Forbidden,
    JobCancelled,
    JobError,
    JobFailed,
    JobTimeout,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    RateLimited,
    ServerError,
    Unauthorized,
    Unreachable,
    WaitTimeout,
)
from .retry import RetryPolicy
from .sync import Client, Function, Job

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncFunction",
    "AsyncJob",
    "BadRequest",
    "BuildFailed",
    "Client",
    "Conflict",
    "FaasClientError",
    "Forbidden",
    "Function",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "Unreachable",
    "WaitTimeout",
]
