"""Registering functions with requirements, env and secrets (JSON and multipart), and the
secrets routes."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from werkzeug.datastructures import FileStorage

from faas_trio.core.messages import PutSecret
from faas_trio.core.packages import MAX_REQUIREMENTS
from faas_trio.core.records import Build, BuildState
from faas_trio.core.secrets import SecretBox
from faas_trio.frontend import function_registration as registration

from .neighbours import AppClient, Neighbours, envelope_of


def files(**parts: str) -> dict[str, FileStorage]:
    """Multipart file parts, as ``curl -F name=@file`` sends them."""
    return {k: FileStorage(io.BytesIO(v.encode()), filename=f"{k}.txt") for k, v in parts.items()}


YAM = "import yaml\n\ndef yam():\n    return yaml.__name__\n"
KEY = Fernet.generate_key().decode()


@pytest.fixture
async def ann(client: AppClient, monkeypatch: pytest.MonkeyPatch) -> AppClient:
    monkeypatch.setenv("FAAS_SECRETS_KEY", KEY)
    assert (await client.post("/u/ann")).status_code == 200
    return client


async def test_json_registration_normalises_and_keeps_everything(
    ann: AppClient, neighbours: Neighbours
) -> None:
    body = {
        "source": YAM,
        "requirements": ["PyYAML == 6.0.2", "  ", "idna>=3", "pyyaml==6.0.2"],
        "timeout": 2.5,
        "memory_mb": 64,
        "env": {"MODE": "test"},
        "secrets": ["API_TOKEN"],
        "preload": ["yaml"],
    }
    status, error, res = await envelope_of(await ann.post("/u/ann/fn/yam", json=body))
    assert (status, error, res) == (200, False, 1)
    f = await neighbours.function("ann", "yam")
    assert f.requirements == ["idna>=3", "pyyaml==6.0.2"]
    assert (f.timeout, f.memory_mb, f.env, f.secrets) == (2.5, 64, {"MODE": "test"}, ["API_TOKEN"])
    assert f.preload == ["yaml"] and f.build == Build(state=BuildState.PENDING)
    _, _, view = await envelope_of(await ann.get("/u/ann/fn/yam"))
    assert view["build"]["state"] == "pending" and view["env"] == {"MODE": "test"}
    assert view["requirements"] == ["idna>=3", "pyyaml==6.0.2"]


async def test_multipart_registration_reads_a_requirements_file(
    ann: AppClient, neighbours: Neighbours
) -> None:
    requirements = "# packages\nPyYAML==6.0.2  # yaml\n\nidna>=3\n"
    response = await ann.post(
        "/u/ann/fn/yam?timeout=3",
        files=files(source=YAM, requirements=requirements),
    )
    assert await envelope_of(response) == (200, False, 1)
    f = await neighbours.function("ann", "yam")
    assert f.requirements == ["idna>=3", "pyyaml==6.0.2"] and f.timeout == 3.0


async def test_a_json_body_that_is_not_an_object_is_raw_source(
    ann: AppClient, neighbours: Neighbours
) -> None:
    source = "function add(a, b) { return a + b; }"
    response = await ann.post(
        "/u/ann/fn/add", data=source, headers={"Content-Type": "application/json"}
    )
    assert await envelope_of(response) == (200, False, 1)
    assert (await neighbours.function("ann", "add")).source == source
    assert (await neighbours.function("ann", "add")).build is None


@pytest.mark.parametrize(  # fmt: skip
    ("body", "message"),
    [
        ({"source": YAM, "requirements": ["ok==1", "bad req ==="]}, "requirement 2 'bad req ==='"),
        ({"source": YAM, "requirements": ["-e ."]}, "pip options are not allowed"),
        ({"source": YAM, "requirements": ["x @ https://e.com/x.whl"]}, "direct URLs"),
        ({"source": YAM, "requirements": ["a" * 201]}, "longer than 200"),
        (
            {"source": YAM, "requirements": [f"p{i}" for i in range(MAX_REQUIREMENTS + 1)]},
            "more than",
        ),
        ({"source": YAM, "requirements": [3]}, "$.requirements[0]"),
        ({"source": YAM, "nonsense": 1}, "unknown field"),
        (
            {"source": "function f() {}", "runtime": "node", "requirements": ["a"]},
            "Python only",
        ),
        ({"source": YAM, "env": {"PATH": "/x"}}, "set by the platform"),
        ({"source": YAM, "env": {"1A": "x"}}, "not a variable name"),
        ({"source": YAM, "env": {f"V{i}": "x" for i in range(65)}}, "more than 64"),
        ({"source": YAM, "secrets": ["A", "A"]}, "twice"),
        ({"source": YAM, "secrets": [f"S{i}" for i in range(9)]}, "at most 8 secrets"),
        ({"source": YAM, "env": {"A": "1"}, "secrets": ["A"]}, "both in env and in secrets"),
        ({"source": YAM, "preload": ["yaml"]}, "preload needs requirements"),
        ({"source": YAM, "requirements": ["pyyaml"], "preload": ["1bad"]}, "not a module"),
        ({"source": "  "}, "source is empty"),
        ({"source": YAM, "timeout": -1}, "timeout must be"),
    ],
)
async def test_bad_json_registrations_are_400_naming_what(
    ann: AppClient, neighbours: Neighbours, body: dict[str, object], message: str
) -> None:
    status, error, res = await envelope_of(await ann.post("/u/ann/fn/yam", json=body))
    assert (status, error) == (400, True)
    assert message in res
    assert not await neighbours.has_function("ann", "yam")


async def test_env_is_capped_in_bytes(ann: AppClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registration, "MAX_ENV_BYTES", 100)
    body = {"source": YAM, "env": {"BIG": "x" * 100}}
    status, _, res = await envelope_of(await ann.post("/u/ann/fn/yam", json=body))
    assert status == 400 and "over 100 bytes" in res


async def test_a_bad_requirements_file_line_is_named(ann: AppClient) -> None:
    response = await ann.post(
        "/u/ann/fn/yam", files=files(source=YAM, requirements="pyyaml\n\nnot valid ((\n")
    )
    status, error, res = await envelope_of(response)
    assert (status, error) == (400, True)
    assert "requirements line 3 'not valid (('" in res


async def test_multipart_without_source_is_400(ann: AppClient) -> None:
    response = await ann.post("/u/ann/fn/yam", files=files(requirements="pyyaml"))
    status, _, res = await envelope_of(response)
    assert status == 400 and "no 'source' part" in res


async def test_wait_answers_the_function_with_its_build(
    ann: AppClient, neighbours: Neighbours
) -> None:
    body = {"source": YAM, "requirements": ["pyyaml"]}
    status, _, view = await envelope_of(await ann.post("/u/ann/fn/yam?wait=1", json=body))
    # The dbmanager here has no builder: the build stays pending until the test sets it.
    assert status == 202 and view["build"]["state"] == "pending"
    ready = Build(state=BuildState.READY, env="e1", resolved=["pyyaml==6.0.2 --hash=sha256:0"])
    await neighbours.set_build(await neighbours.function("ann", "yam"), ready)
    _, _, view = await envelope_of(await ann.get("/u/ann/fn/yam"))
    assert view["build"] == {
        "state": "ready", "env": "e1", "log": "", "error": None, "resolved": ready.resolved,
    }  # fmt: skip


async def test_secrets_are_sealed_listed_by_name_and_deleted(
    ann: AppClient, neighbours: Neighbours
) -> None:
    put = await ann.put("/u/ann/secrets/API_TOKEN", data="s3cret-value")
    assert await envelope_of(put) == (200, False, 1)
    [sealed] = [r.sealed for r in neighbours.db_requests if isinstance(r, PutSecret)]
    assert "s3cret-value" not in sealed
    assert SecretBox(KEY.encode()).open(sealed) == "s3cret-value"
    assert "s3cret-value" not in json.dumps([repr(r) for r in neighbours.db_requests])
    assert await envelope_of(await ann.get("/u/ann/secrets")) == (200, False, ["API_TOKEN"])
    assert await envelope_of(await ann.delete("/u/ann/secrets/API_TOKEN")) == (200, False, 1)
    status, _, _ = await envelope_of(await ann.delete("/u/ann/secrets/API_TOKEN"))
    assert status == 404


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/u/ann/secrets/1BAD", "x", 400),
        ("/u/ann/secrets/GOOD", "", 400),
        ("/u/ann/secrets/GOOD", "x" * 4097, 413),
        ("/u/nobody/secrets/GOOD", "x", 404),
    ],
)
async def test_bad_secrets_are_refused(ann: AppClient, path: str, body: str, status: int) -> None:
    got, error, _ = await envelope_of(await ann.put(path, data=body))
    assert (got, error) == (status, True)
