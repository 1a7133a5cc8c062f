"""Functions with packages, env and secrets, end to end through REST on ``faas-trio up``.

No index is used: pip takes the wheels of :mod:`tests.wheelhouse` from ``FAAS_PIP_FIND_LINKS``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Platform, StartPlatform

SOURCE = """
import os, sys
PRELOADED = "faasdemo_top" in sys.modules  # imported by the zygote, before this source ran
import faasdemo_top, faasdemo_extra, hashlib

def top():
    folder = os.path.dirname(faasdemo_top.__file__)
    try:
        open(os.path.join(folder, "planted.py"), "w").close()
        env_writable = True
    except OSError:
        env_writable = False
    token = os.environ.get("API_TOKEN", "")
    return {
        "answer": faasdemo_top.answer(),
        "extra": faasdemo_extra.EXTRA,
        "preloaded": PRELOADED,
        "mode": os.environ.get("MODE"),
        "token_sha": hashlib.sha256(token.encode()).hexdigest(),
        "env_writable": env_writable,
    }
"""


@pytest.fixture
def reachable_home() -> Iterator[Path]:
    """A FAAS_HOME that sandbox uids can walk into (pytest's own folders are mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="faas-pkg-e2e-"))
    os.chmod(folder, 0o755)
    try:
        yield folder / "home"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    body = response.json()
    assert response.status_code == status and body["error"] is False, response.text
    return body["res"]


async def _run(http: httpx.AsyncClient, fn: str, user: str = "ann") -> dict[str, Any]:
    job = await _ok(await http.post(f"/u/{user}/fn/{fn}/run"))
    record: dict[str, Any] = await _ok(await http.get(f"/j/{job}/record?wait=60"))
    return record


async def test_packages_env_and_secrets_end_to_end(
    platform: StartPlatform, offline_pip: Path, reachable_home: Path
) -> None:
    up: Platform = await platform(
        home=reachable_home, FAAS_PIP_FIND_LINKS=str(offline_pip), FAAS_WORKERS="1",
        FAAS_ZYGOTE_PRELOAD="1",
    )
    token = f"tok-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=up.url, timeout=90.0) as http:
        await _ok(await http.post("/u/ann"))
        await _ok(await http.put("/u/ann/secrets/API_TOKEN", content=token))
        assert await _ok(await http.get("/u/ann/secrets")) == ["API_TOKEN"]

        # JSON registration answers at once; a call made meanwhile waits for the build.
        registration = {
            "source": SOURCE,
            "requirements": ["faasdemo-top"],
            "env": {"MODE": "e2e"},
            "secrets": ["API_TOKEN"],
            "preload": ["faasdemo_top"],
        }
        assert await _ok(await http.post("/u/ann/fn/top", json=registration)) == 1
        view = await _ok(await http.get("/u/ann/fn/top"))
        assert view["build"]["state"] in ("pending", "building", "ready")
        assert view["env"] == {"MODE": "e2e"} and view["secrets"] == ["API_TOKEN"]
        record = await _run(http, "top")
        assert record["state"] == "succeeded", record
        assert record["value"] == {
            "answer": 100, "extra": True, "preloaded": True, "mode": "e2e",
            "token_sha": hashlib.sha256(token.encode()).hexdigest(), "env_writable": False,
        }  # fmt: skip
        built = await _ok(await http.get("/u/ann/fn/top"))
        assert built["build"]["state"] == "ready" and built["build"]["env"]
        assert [line.split()[0] for line in built["build"]["resolved"]] == [
            "faasdemo_base==1.1", "faasdemo_top==2.0",
        ]  # fmt: skip

        # The same requirements through a multipart form share the environment: built once.
        files = {
            "source": (
                "fn.py",
                "import faasdemo_top\ndef two():\n    return faasdemo_top.answer()\n",
            ),
            "requirements": ("requirements.txt", "# the same set\nfaasdemo_top\n"),
        }
        two = await _ok(await http.post("/u/ann/fn/two?wait=60", files=files))
        assert two["build"]["state"] == "ready" and two["build"]["env"] == built["build"]["env"]
        assert (await _run(http, "two"))["value"] == 100

        # A requirement change makes a new version with a new environment.
        registration["requirements"] = ["faasdemo-top", "faasdemo-base==1.0"]
        changed = await _ok(await http.post("/u/ann/fn/top?wait=60", json=registration))
        assert changed["version"] == built["version"] + 1
        assert changed["build"]["env"] != built["build"]["env"]
        assert (await _run(http, "top"))["value"]["answer"] == 42

        # Failed builds: a package the index lacks, and one published only as an sdist.
        for name, requirement, reason in (
            ("missing", "faasdemo-missing", "no wheel of it"),
            ("sdist", "faasdemo-sdist", "only as a source distribution"),
        ):
            body = {"source": "def f():\n    return 1\n", "requirements": [requirement]}
            failed = await _ok(await http.post(f"/u/ann/fn/{name}?wait=60", json=body))
            assert failed["build"]["state"] == "failed", failed
            assert reason in failed["build"]["error"] and "wheels only" in failed["build"]["error"]
            record = await _run(http, name)
            assert record["state"] == "failed" and reason in record["error"], record

        # Calls of another user's function cannot name ann's secrets.
        await _ok(await http.post("/u/bob"))
        await _ok(
            await http.post(
                "/u/bob/fn/peek",
                json={"source": "import os\ndef peek():\n    return 1\n", "secrets": ["API_TOKEN"]},
            )
        )
        peek = await _run(http, "peek", "bob")
        assert peek["state"] == "failed" and "secret API_TOKEN is not set" in peek["error"]

        # The secret's value is nowhere but in the sandbox: not in records, logs, metrics.
        texts = [(await http.get("/metrics")).text, (await http.get("/u/ann/jobs")).text]
        texts += [(await http.get("/u/ann/fn/top")).text, (await http.get("/u/ann/secrets")).text]
    assert token not in "".join(texts)
    output = up.output()
    assert output.count("resolved 1 requirements to 2 wheels") == 1, output  # top and two
    assert output.count(f"installed environment {built['build']['env']}") == 1
    await up.stop()
    for path in up.home.rglob("*"):
        if path.is_file() and "envs" not in path.parts:
            assert token.encode() not in path.read_bytes(), path
    assert token not in up.output()
