"""The Kumori actuator against a fake ``kumorictl``.

The Kumori cloud is not reachable from here, so the CLI is faked: a small Python script put
first on ``PATH`` records its argv (and what login read on stdin), answers ``describe
deployment`` with a role listing, and on ``update deployment`` takes the worker count from
the ``#NUM_WORKERS`` of the manifests it is given, as Kumori would. The manifests are a copy
of the real ``deploy/kumori`` module.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
import trio

from faas_trio.core import messages as m
from faas_trio.core.rpc import serve_rpc
from faas_trio.scaler import ScalerConfig, ScalerStatus, serve
from faas_trio.scaler.actuators import ActuatorError, KumoriActuator
from faas_trio.scaler.actuators.kumori import (
    Credentials,
    parse_role_instances,
    read_credentials,
    set_num_workers,
    wait_for_credentials,
)

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "s3cr3t pass"

FAKE_KUMORICTL = r'''
import json, os, re, sys, time
from pathlib import Path

state = Path(os.environ["FAKE_KUMORI_STATE"])
argv = sys.argv[1:]
entry = {"argv": argv}
if argv[:1] == ["login"]:
    entry["stdin"] = sys.stdin.read()
with (state / "calls.jsonl").open("a") as calls:
    calls.write(json.dumps(entry) + "\n")
fail = os.environ.get("FAKE_KUMORI_FAIL", "")

if argv[:1] == ["login"]:
    if entry["stdin"].rstrip("\n") != os.environ["FAKE_KUMORI_PASSWORD"]:
        sys.exit("Login failed for " + argv[1] + ": wrong password " + entry["stdin"])
    print("Login OK.")
elif argv[:2] == ["describe", "deployment"]:
    if fail == "slow":
        time.sleep(30)
    workers = int((state / "instances").read_text())
    print("Deployment " + argv[2])
    print("  Service: faastrio")
    print("  Roles:")
    for role, count in (("frontend", 1), ("worker", workers), ("scaler", 1)):
        print("    " + role)
        print("      Instances:")
        for i in range(count):
            print(f"        kd-120000-{role}-{i:03d}  Running  ready")
elif argv[:2] == ["update", "deployment"]:
    if fail == "update":
        sys.exit("update refused: quota exceeded")
    if fail == "slow":
        (state / "update-started").write_text("")
        time.sleep(30)
    deployment = Path(argv[argv.index("--deployment") + 1])
    text = (deployment.parent / "variables/num_workers/manifest.cue").read_text()
    count = re.search(r"#NUM_WORKERS:\s*(\d+)", text).group(1)
    (state / "instances").write_text(count)
    print("Deployment " + argv[2] + " updated")
else:
    sys.exit("unknown command " + " ".join(argv))
'''


class FakeKumori:
    def __init__(self, root: Path) -> None:
        self.state = root / "state"
        self.state.mkdir()
        self.manifests = root / "manifests"
        shutil.copytree(REPO / "deploy" / "kumori", self.manifests)
        self.instances = 3

    @property
    def instances(self) -> int:
        return int((self.state / "instances").read_text())

    @instances.setter
    def instances(self, count: int) -> None:
        (self.state / "instances").write_text(str(count))

    def calls(self) -> list[dict[str, object]]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [list(call["argv"]) for call in self.calls()]  # type: ignore[call-overload]

    def num_workers_file(self) -> str:
        return (self.manifests / "variables" / "num_workers" / "manifest.cue").read_text()


@pytest.fixture
def kumori(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKumori:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kumorictl"
    script.write_text(f"#!{sys.executable}\n{FAKE_KUMORICTL}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KUMORI_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_KUMORI_PASSWORD", PASSWORD)
    return FakeKumori(tmp_path)


def actuator_for(kumori: FakeKumori, password: str = PASSWORD, **kwargs: float) -> KumoriActuator:
    return KumoriActuator(
        Credentials("ann", password), deployment="dom/faasdep", manifests=kumori.manifests,
        **kwargs,
    )


async def test_current_logs_in_with_the_password_on_stdin_and_reads_describe(
    kumori: FakeKumori,
) -> None:
    actuator = actuator_for(kumori)
    assert await actuator.current() == 3
    kumori.instances = 5
    assert await actuator.current() == 5
    calls = kumori.calls()
    assert [c["argv"] for c in calls] == [
        ["login", "ann", "--password-stdin"],
        ["describe", "deployment", "dom/faasdep"],
        ["describe", "deployment", "dom/faasdep"],
    ]
    assert calls[0]["stdin"] == PASSWORD + "\n"
    assert all(PASSWORD not in " ".join(argv) for argv in kumori.argvs())


async def test_apply_rewrites_num_workers_and_updates_the_deployment(kumori: FakeKumori) -> None:
    actuator = actuator_for(kumori)
    await actuator.apply(7)
    assert "#NUM_WORKERS: 7" in kumori.num_workers_file()
    assert kumori.argvs()[-1] == [
        "update", "deployment", "dom/faasdep",
        "--deployment", str(kumori.manifests / "deployment"),
    ]
    assert kumori.instances == 7
    assert await actuator.current() == 7


async def test_current_keeps_the_applied_count_while_instances_lag(kumori: FakeKumori) -> None:
    actuator = actuator_for(kumori)
    await actuator.apply(6)
    kumori.instances = 4  # Kumori still starting the new instances
    assert await actuator.current() == 6


async def test_a_failed_update_restores_the_manifest(
    kumori: FakeKumori, monkeypatch: pytest.MonkeyPatch
) -> None:
    actuator = actuator_for(kumori)
    before = kumori.num_workers_file()
    monkeypatch.setenv("FAKE_KUMORI_FAIL", "update")
    with pytest.raises(ActuatorError, match="exited 1: update refused: quota exceeded"):
        await actuator.apply(9)
    assert kumori.num_workers_file() == before
    assert await actuator.current() == 3
    # a failed command logs in again before the next one
    assert [a[0] for a in kumori.argvs()] == ["login", "update", "login", "describe"]


async def test_a_cancelled_update_restores_the_manifest(
    kumori: FakeKumori, monkeypatch: pytest.MonkeyPatch
) -> None:
    actuator = actuator_for(kumori)
    before = kumori.num_workers_file()
    monkeypatch.setenv("FAKE_KUMORI_FAIL", "slow")
    started = kumori.state / "update-started"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actuator.apply, 9)
            while not started.exists():  # noqa: ASYNC110 - another process writes it
                await trio.sleep(0.01)
            assert "#NUM_WORKERS: 9" in kumori.num_workers_file()
            nursery.cancel_scope.cancel()
    assert kumori.num_workers_file() == before
    assert kumori.instances == 3


async def test_a_failed_login_never_shows_the_password(kumori: FakeKumori) -> None:
    actuator = actuator_for(kumori, password="wrong horse")
    with pytest.raises(ActuatorError) as caught:
        await actuator.current()
    message = str(caught.value)
    assert "kumorictl login ann --password-stdin exited 1" in message
    assert "wrong horse" not in message and "***" in message
    assert kumori.argvs() == [["login", "ann", "--password-stdin"]]


async def test_a_hung_kumorictl_is_killed_at_the_timeout(
    kumori: FakeKumori, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUMORI_FAIL", "slow")
    actuator = actuator_for(kumori, command_timeout=0.5)
    with trio.fail_after(10), pytest.raises(ActuatorError, match="took longer than 0.5 s"):
        await actuator.current()


async def test_a_missing_kumorictl_is_an_actuator_error(kumori: FakeKumori) -> None:
    actuator = KumoriActuator(
        Credentials("ann", PASSWORD), deployment="d", manifests=kumori.manifests,
        kumorictl=str(kumori.manifests / "no-such-binary"),
    )
    with pytest.raises(ActuatorError, match="cannot run"):
        await actuator.current()


async def test_serve_with_the_kumori_actuator_scales_the_deployment(
    kumori: FakeKumori, tmp_path: Path, nursery: trio.Nursery
) -> None:
    credentials = tmp_path / "KUMORI_CREDENTIALS"
    credentials.write_text(f"ann\n{PASSWORD}\n")
    stats = m.Stats(queued=40, running=0, workers=3, slots=12)

    asked = trio.Semaphore(0)

    async def jq(request: m.Message) -> m.Message:
        asked.release()
        return stats

    jq_url = await nursery.start(serve_rpc, "tcp://127.0.0.1:*", jq)
    config = ScalerConfig(
        jq_url=jq_url, interval=0.01, actuator="kumori", kumori_credentials=str(credentials),
        kumori_deployment="dom/faasdep", kumori_manifests=str(kumori.manifests),
    )
    with trio.fail_after(20):
        status: ScalerStatus = await nursery.start(serve, config)
        # The third GetStats comes after the second round has finished.
        for _ in range(3):
            await asked.acquire()
    assert status.rounds >= 2
    assert kumori.instances == 10
    assert "#NUM_WORKERS: 10" in kumori.num_workers_file()
    updates = [a for a in kumori.argvs() if a[0] == "update"]
    assert len(updates) == 1


async def test_wait_for_credentials_polls_and_logs_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "KUMORI_CREDENTIALS"
    found: list[Credentials] = []
    caplog.set_level(logging.INFO, logger="faas.scaler.kumori")

    async def waiter() -> None:
        found.append(await wait_for_credentials(path, poll=1.0))

    def waiting() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "waiting for Kumori credentials" in r.getMessage()]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        # The file is read in a thread, during which the clock may jump: wait for the first
        # read to have missed the file before creating it.
        while not waiting():  # noqa: ASYNC110 - the log record is the only signal
            await trio.sleep(0.5)
        await trio.sleep(10)
        assert found == []
        path.write_text("ann\n")  # incomplete: still waiting
        await trio.sleep(3)
        assert found == []
        path.write_text(f"ann\n{PASSWORD}\n")
    assert found == [Credentials("ann", PASSWORD)]
    assert len(waiting()) == 1
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


def test_credentials_read_two_lines_and_hide_the_password(tmp_path: Path) -> None:
    path = tmp_path / "creds"
    assert read_credentials(path) is None
    path.write_text(" ann \r\n pass word \r\n")
    credentials = read_credentials(path)
    assert credentials == Credentials("ann", " pass word ")
    assert "pass word" not in repr(credentials)


DESCRIBE_SECTIONS = """\
Deployment dom/faasdep
  Roles:
    worker:
      Instances:
        kd-1-worker-000  Running
        kd-1-worker-001  Running
    scaler:
      kd-1-scaler-000  Running
"""


def test_describe_is_parsed_by_the_role_section() -> None:
    assert parse_role_instances(DESCRIBE_SECTIONS, "worker") == 2
    assert parse_role_instances(DESCRIBE_SECTIONS, "scaler") == 1


def test_describe_without_sections_counts_lines_like_the_old_scaler() -> None:
    flat = "role worker (3 instances)\nkd-worker-a\nkd-worker-b\nkd-frontend-a\n"
    assert parse_role_instances(flat, "worker") == 2
    with pytest.raises(ActuatorError, match="does not mention the role 'worker'"):
        parse_role_instances("Deployment d\n  frontend\n", "worker")


def test_set_num_workers_rewrites_only_the_number() -> None:
    text = "package num_workers\n\n#NUM_WORKERS: 1\n"
    assert set_num_workers(text, 12) == "package num_workers\n\n#NUM_WORKERS: 12\n"
    with pytest.raises(ActuatorError):
        set_num_workers("package num_workers\n", 2)
