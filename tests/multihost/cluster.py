"""The platform spread over network namespaces, one component host each, as containers are.

``netns.sh`` (beside this file) makes the hosts; :class:`Cluster` starts the components on
them, configured only as a container would be (``DB_URL``, ``JQ_URL``, ``PORT``,
``FAAS_HOST`` and the frontend's admin key), each with a state folder of its own:

=========  ===========================  ==========================================
host       runs                         reaches
=========  ===========================  ==========================================
core       dbmanager :27444,            10.199.0.1 on the component network
           jqmanager :27445
front      frontend :8080               10.199.0.2 (components), 10.199.1.2 (API)
w1, w2     one worker each              10.199.0.3, 10.199.0.4
client     ``relay.py``: a Unix socket  10.199.1.9, the API network only
           to the frontend's HTTP port
intruder   nothing (tests run probes)   10.199.0.9, the component network
=========  ===========================  ==========================================

Every host has its own ports, so the default ports are used and parallel runs never meet.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
NETNS = HERE / "netns.sh"
RELAY = HERE / "relay.py"
INTRUDER = HERE / "intruder.py"

CORE = "10.199.0.1"
FRONT_PUB = "10.199.1.2"
DB_PORT, JQ_PORT, HTTP_PORT = 27444, 27445, 8080
ADMIN_KEY = "multihost-admin-key-0123456789"
#: Bound on a component exiting after SIGTERM before it is killed.
STOP_TIMEOUT = 6.0


def namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`) to make network namespaces"
    probe = f"ftprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    return None


def require_namespaces() -> None:
    """Skip the test when namespaces cannot be made, or fail it under ``CI=true``."""
    why = namespaces_unavailable()
    if why is None:
        return
    message = f"multi-host tests: {why}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def netns(*args: str) -> None:
    subprocess.run(["sh", str(NETNS), *args], check=True, capture_output=True, text=True)


@dataclass
class Cluster:
    """One platform on namespace hosts named ``name-*``; :meth:`close` removes it all."""

    name: str
    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)

    @property
    def uds(self) -> str:
        """The Unix socket that reaches the frontend's HTTP port from the client host."""
        return str(self.root / "api.sock")

    def http(self, timeout: float) -> httpx.AsyncClient:
        """A client of the API, through the client host (``base_url`` names the frontend)."""
        return httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.uds),
            base_url=f"http://{FRONT_PUB}:{HTTP_PORT}",
            timeout=timeout,
        )

    def log(self, role: str) -> str:
        return (self.root / f"{role}.log").read_text(errors="replace")

    def start(self, role: str, host: str, argv: list[str], **env: str) -> int:
        """Run ``argv`` on ``host`` as ``role`` (its output in ``root/role.log``); its pid."""
        home = self.root / role
        home.mkdir(exist_ok=True)
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FAAS_") and k not in ("PORT", "DB_URL", "JQ_URL")
        }
        full_env.update(
            FAAS_HOME=str(home), FAAS_CURVE_KEYS=str(self.keys), PYTHONUNBUFFERED="1", **env
        )
        with (self.root / f"{role}.log").open("ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", f"{self.name}-{host}", *argv],
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[role] = proc
        self.hosts[role] = host
        return proc.pid

    def start_component(self, role: str, host: str, **env: str) -> int:
        command = role.rstrip("0123456789")
        return self.start(role, host, [sys.executable, "-m", "faas_trio", command], **env)

    @property
    def keys(self) -> Path:
        """The CurveZMQ keys every host is given, as a container gets them from a secret."""
        return self.root / "keys"

    def start_platform(self) -> None:
        """Make the keys (``faas-trio keys``), then start every component and the client's
        relay (not waiting for them)."""
        subprocess.run(
            [sys.executable, "-m", "faas_trio", "keys"],
            env={**os.environ, "FAAS_CURVE_KEYS": str(self.keys)},
            check=True,
            capture_output=True,
        )
        core = CORE
        self.start_component(
            "dbmanager",
            "core",
            FAAS_HOST="0.0.0.0",
            PORT=str(DB_PORT),
            DB_URL=f"sqlite:///{self.root / 'dbmanager' / 'faas.db'}",
        )
        self.start_component(
            "jqmanager",
            "core",
            FAAS_HOST="0.0.0.0",
            PORT=str(JQ_PORT),
            DB_URL=f"tcp://{core}:{DB_PORT}",
        )
        self.start_component(
            "frontend",
            "front",
            FAAS_HOST="0.0.0.0",
            PORT=str(HTTP_PORT),
            DB_URL=f"tcp://{core}:{DB_PORT}",
            JQ_URL=f"tcp://{core}:{JQ_PORT}",
            FAAS_ADMIN_KEY=ADMIN_KEY,
        )
        for index in (1, 2):
            self.start_component(f"worker{index}", f"w{index}", JQ_URL=f"tcp://{core}:{JQ_PORT}")
        self.start(
            "relay", "client", [sys.executable, str(RELAY), self.uds, FRONT_PUB, str(HTTP_PORT)]
        )

    def link(self, host: str, net: str, state: str) -> None:
        """Bring ``host``'s link to ``net`` (``int`` or ``pub``) ``up`` or ``down``."""
        netns("link", self.name, host, net, state)

    def worker_of(self, record: dict[str, object]) -> str | None:
        """Which worker role ran a job, from the pid in the record's worker id."""
        worker = str(record.get("worker") or "")
        for role, proc in self.procs.items():
            if role.startswith("worker") and f"-{proc.pid}-" in worker:
                return role
        return None

    def close(self) -> list[str]:
        """Stop every component (SIGTERM, SIGKILL after :data:`STOP_TIMEOUT`) and remove the
        hosts; the roles that had to be killed."""
        order = ["relay", "frontend", "worker1", "worker2", "jqmanager", "dbmanager"]
        killed = []
        for role in sorted(self.procs, key=lambda r: order.index(r) if r in order else 0):
            proc = self.procs[role]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                killed.append(role)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        netns("down", self.name)
        return killed


def wait_until(predicate: object, bound: float, what: str) -> None:
    """Poll ``predicate()`` every 0.1 s until true; AssertionError naming ``what`` if not in
    ``bound`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {bound:g} s")
