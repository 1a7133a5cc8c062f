"""Fixtures shared by every test folder: free ports, and the MongoDB-protocol test server.

``mongo_url`` gives each test a fresh, empty database on one server per session: the server in
``FAAS_TEST_MONGO_URL`` when set, else ``tests/mongo_server.py`` started with the
``.venv-mongo`` interpreter (``make mongo-venv``). Without either, Mongo tests are skipped,
except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from load.ports import free_ports as free_ports_outside_the_ephemeral_range

_ROOT = Path(__file__).resolve().parent.parent
MONGO_PYTHON = _ROOT / ".venv-mongo" / "bin" / "python"
MONGO_SERVER = _ROOT / "tests" / "mongo_server.py"
# Seconds the test server may take to print its URI.
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


FreePorts = Callable[[int], list[int]]

# Hypothesis' two timing checks (an example over 200 ms, data generation over a second) are
# timed asserts: on a shared, busy machine they fail tests whose property held. Speed is
# shown by the benchmarks in load/, so no property test here is held to a clock.
hypothesis_settings.register_profile(
    "faas", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("faas")


@pytest.fixture(scope="session", autouse=True)
def curve_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CurveZMQ keys for every role, in ``FAAS_CURVE_KEYS`` for the whole session: a
    component a test starts from its ``main()`` finds them there, as a deployment gives
    them (``faas-trio up`` makes its own in its FAAS_HOME; tests that start it leave FAAS_*
    variables out)."""
    from faas_trio.core.curve import ensure_keys

    keys = tmp_path_factory.mktemp("curve") / "keys"
    ensure_keys(keys)
    before = os.environ.get("FAAS_CURVE_KEYS")
    os.environ["FAAS_CURVE_KEYS"] = str(keys)
    try:
        yield keys
    finally:
        if before is None:
            os.environ.pop("FAAS_CURVE_KEYS", None)
        else:
            os.environ["FAAS_CURVE_KEYS"] = before


@pytest.fixture
def free_ports() -> FreePorts:
    """``free_ports(n)``: ``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago,
    outside the ephemeral range (see :mod:`load.ports`), so that servers a test starts never
    collide with another run's, nor with a connection's source port."""
    return free_ports_outside_the_ephemeral_range


def with_database(uri: str, database: str) -> str:
    """``uri`` with its path (the default database) replaced by ``database``."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _require_mongo_python() -> None:
    if MONGO_PYTHON.exists():
        return
    message = f"{MONGO_PYTHON} is missing: run `make mongo-venv` or set FAAS_TEST_MONGO_URL"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class MongoServer:
    """A running ``tests/mongo_server.py``."""

    proc: subprocess.Popen[str]
    uri: str

    @property
    def port(self) -> int:
        return int(urlsplit(self.uri).port or 0)

    def stop(self) -> None:
        """Terminate the server and reap it (killed if it does not exit in time)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_mongo_server(port: int = 0, sqlite: Path | None = None) -> MongoServer:
    """Start ``tests/mongo_server.py`` on ``port`` (0: a free one), with its data in memory or
    in the SQLite file ``sqlite``; return once it serves."""
    _require_mongo_python()
    argv = [str(MONGO_PYTHON), str(MONGO_SERVER), str(port)]
    if sqlite is not None:
        argv += ["--sqlite", str(sqlite)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            line = proc.stdout.readline()
            if line.startswith("MONGO_URI="):
                return MongoServer(proc, line.removeprefix("MONGO_URI=").strip())
            if line == "":
                break
    MongoServer(proc, "").stop()
    raise RuntimeError(f"{MONGO_SERVER} printed no MONGO_URI line (exit code {proc.returncode})")


@pytest.fixture(scope="session")
def mongo_server_uri() -> Iterator[str]:
    """The URI of the session's MongoDB-protocol server."""
    if url := os.environ.get("FAAS_TEST_MONGO_URL"):
        yield url
        return
    server = start_mongo_server()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def mongo_url(mongo_server_uri: str) -> str:
    """A URL naming a database of its own for this test."""
    return with_database(mongo_server_uri, f"faas_test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def launch_mongo() -> Iterator[Callable[..., MongoServer]]:
    """Start private test servers: ``launch(port=0, sqlite=None)``; all stopped at the end."""
    servers: list[MongoServer] = []

    def launch(port: int = 0, sqlite: Path | None = None) -> MongoServer:
        servers.append(start_mongo_server(port, sqlite))
        return servers[-1]

    yield launch
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of small wheels made for the tests (see :mod:`tests.wheelhouse`), readable by
    every uid (worker hosts' sandboxes never read it, but pip may run unprivileged)."""
    from wheelhouse import make_wheelhouse  # tests/ is on sys.path, as conftest.py's folder

    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch, wheelhouse: Path) -> Path:
    """pip for this test (and the processes it starts) reads no configuration file and takes
    packages from :func:`wheelhouse` alone (``FAAS_PIP_FIND_LINKS``, no index)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("FAAS_PIP_FIND_LINKS", str(wheelhouse))
    monkeypatch.delenv("FAAS_PIP_INDEX_URL", raising=False)
    return wheelhouse
