"""The Kumori actuator: resizes the worker role of a Kumori deployment with ``kumorictl``.

The count is the CUE variable ``#NUM_WORKERS`` in ``variables/num_workers/manifest.cue`` of the
scaler's own copy of the deployment manifests; applying a count rewrites it and runs
``kumorictl update deployment``. The count in effect is read with ``kumorictl describe
deployment``. Credentials come from a file (user name, then password, one per line) that may
appear after the scaler starts; the password goes to ``kumorictl login`` on stdin, never on
the command line, and never into a log line or an error message.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from .base import ActuatorError

__all__ = [
    "Credentials",
    "KumoriActuator",
    "open_kumori_actuator",
    "parse_role_instances",
    "read_credentials",
    "set_num_workers",
    "wait_for_credentials",
]

log = logging.getLogger("faas.scaler.kumori")

NUM_WORKERS_FILE = Path("variables", "num_workers", "manifest.cue")
_NUM_WORKERS = re.compile(r"(#NUM_WORKERS\s*:\s*)\d+")


@dataclass(frozen=True)
class Credentials:
    """A Kumori login. The password is left out of ``repr``."""

    user: str
    password: str = field(repr=False)


def read_credentials(path: Path) -> Credentials | None:
    """The credentials in ``path``, or None while the file is missing or incomplete."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 2 or not lines[0].strip() or not lines[1]:
        return None
    return Credentials(lines[0].strip(), lines[1].rstrip("\r\n"))


async def wait_for_credentials(path: Path, *, poll: float = 1.0) -> Credentials:
    """Read ``path`` every ``poll`` seconds until it holds a user and a password.

    Logs once that it is waiting, and once when the credentials are found.

    Cancellation: waits in ``trio.sleep``; a cancel leaves nothing behind.
    """
    announced = False
    while True:
        credentials = await trio.to_thread.run_sync(read_credentials, path)
        if credentials is not None:
            if announced:
                log.info("found Kumori credentials in %s for user %s", path, credentials.user)
            return credentials
        if not announced:
            log.info("waiting for Kumori credentials in %s (user, password)", path)
            announced = True
        await trio.sleep(poll)


def parse_role_instances(describe: str, role: str) -> int:
    """The number of instances of ``role`` in ``kumorictl describe deployment`` output.

    The role's section starts at a line naming just the role (``worker`` or ``worker:``) and
    holds the more indented lines after it; each of those naming the role is one instance.
    Without such a section, every line naming the role but one (the role itself) counts, as
    the old scaler did.

    Raises:
        ActuatorError: the output does not mention the role.
    """
    lines = describe.splitlines()
    header = re.compile(rf"\s*(?:-\s*)?(?:role\s+)?{re.escape(role)}\s*:?\s*", re.IGNORECASE)
    for index, line in enumerate(lines):
        if not header.fullmatch(line):
            continue
        depth = len(line) - len(line.lstrip())
        count = 0
        for inner in lines[index + 1 :]:
            if not inner.strip():
                continue
            if len(inner) - len(inner.lstrip()) <= depth:
                break
            count += role in inner
        return count
    naming = sum(role in line for line in lines)
    if naming == 0:
        raise ActuatorError(f"kumorictl describe does not mention the role {role!r}")
    return naming - 1


def set_num_workers(manifest: str, count: int) -> str:
    """``manifest`` with ``#NUM_WORKERS`` set to ``count``.

    Raises:
        ActuatorError: the manifest declares no ``#NUM_WORKERS``.
    """
    updated, found = _NUM_WORKERS.subn(rf"\g<1>{count}", manifest, count=1)
    if not found:
        raise ActuatorError("the num_workers manifest declares no #NUM_WORKERS")
    return updated


class KumoriActuator:
    """Reads and sets the instance count of the ``worker`` role through ``kumorictl``."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        deployment: str,
        manifests: Path,
        kumorictl: str = "kumorictl",
        command_timeout: float = 60.0,
        role: str = "worker",
    ) -> None:
        self._credentials = credentials
        self._deployment = deployment
        self._manifests = manifests
        self._kumorictl = kumorictl
        self._timeout = command_timeout
        self._role = role
        self._logged_in = False
        self._applied: int | None = None

    async def current(self) -> int:
        """The count last applied, or before any, the instances ``describe`` lists.

        ``describe`` runs every time, so a deployment that cannot be read is reported even
        after a count was applied (instances may lag behind an applied count while they start).

        Raises:
            ActuatorError: login or describe failed, or its output has no worker role.

        Cancellation: as :meth:`_run`.
        """
        output = await self._run(["describe", "deployment", self._deployment])
        described = parse_role_instances(output, self._role)
        if self._applied is None:
            return described
        if described != self._applied:
            log.debug("%d %s instances listed, %d applied", described, self._role, self._applied)
        return self._applied

    async def apply(self, count: int) -> None:
        """Rewrite ``#NUM_WORKERS`` and run ``kumorictl update deployment``.

        When the update fails the manifest is restored, so the copy keeps matching what was
        last deployed.

        Raises:
            ActuatorError: the manifest could not be rewritten or the update failed.

        Cancellation: as :meth:`_run`; a cancel during the update restores the manifest
        (shielded, bounded).
        """
        path = trio.Path(self._manifests / NUM_WORKERS_FILE)
        try:
            previous = await path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ActuatorError(f"cannot read {path}: {exc}") from exc
        await _replace_text(path, set_num_workers(previous, count))
        update = ["update", "deployment", self._deployment]
        try:
            await self._run([*update, "--deployment", str(self._manifests / "deployment")])
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await _replace_text(path, previous)
            raise
        self._applied = count

    async def aclose(self) -> None:
        """Nothing to release: every command ran to completion."""

    async def _run(self, args: Sequence[str]) -> str:
        """Log in when needed, run ``kumorictl *args`` and return its stdout.

        Raises:
            ActuatorError: the command exited non-zero or took longer than the timeout.

        Cancellation: a cancel or the timeout terminates kumorictl (SIGTERM, then SIGKILL
        after 5 s) and it has exited before the exception propagates. After any failure the
        next command logs in again.
        """
        if not self._logged_in:
            login = ["login", self._credentials.user, "--password-stdin"]
            await self._exec(login, stdin=self._credentials.password.encode() + b"\n")
            self._logged_in = True
        try:
            return await self._exec(args)
        except BaseException:
            self._logged_in = False
            raise

    async def _exec(self, args: Sequence[str], stdin: bytes = b"") -> str:
        command = " ".join(["kumorictl", *args])
        try:
            with trio.fail_after(self._timeout):
                done = await trio.run_process(
                    [self._kumorictl, *args],
                    stdin=stdin,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
        except trio.TooSlowError as exc:
            raise ActuatorError(f"{command} took longer than {self._timeout:g} s") from exc
        except OSError as exc:
            raise ActuatorError(f"cannot run {self._kumorictl}: {exc}") from exc
        if done.returncode != 0:
            raise ActuatorError(f"{command} exited {done.returncode}: {self._tail(done)}")
        return bytes(done.stdout).decode(errors="replace")

    def _tail(self, done: subprocess.CompletedProcess[bytes]) -> str:
        text = (bytes(done.stderr) or bytes(done.stdout)).decode(errors="replace").strip()
        # kumorictl might echo its input; the password must not reach a log line.
        return text.replace(self._credentials.password, "***")[-500:] or "(no output)"


async def _replace_text(path: trio.Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader sees the old or the new content).

    Raises:
        ActuatorError: the file could not be written.
    """
    temporary = trio.Path(f"{path}.tmp")
    try:
        await temporary.write_text(text, encoding="utf-8")
        await temporary.replace(path)
    except OSError as exc:
        raise ActuatorError(f"cannot write {path}: {exc}") from exc


@asynccontextmanager
async def open_kumori_actuator(
    credentials_file: Path,
    *,
    deployment: str,
    manifests: Path,
    kumorictl: str = "kumorictl",
    command_timeout: float = 60.0,
    poll: float = 1.0,
) -> AsyncIterator[KumoriActuator]:
    """Wait for the credentials file, then yield a :class:`KumoriActuator`.

    Cancellation: may wait forever for the credentials file, in ``trio.sleep``.
    """
    credentials = await wait_for_credentials(credentials_file, poll=poll)
    actuator = KumoriActuator(
        credentials,
        deployment=deployment,
        manifests=manifests,
        kumorictl=kumorictl,
        command_timeout=command_timeout,
    )
    try:
        yield actuator
    finally:
        await actuator.aclose()
