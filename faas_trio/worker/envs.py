"""Package environments on a worker host: installed once, shared, read-only to sandboxes.

An environment is the resolved set of a function version's build (exact versions and wheel
hashes, :mod:`faas_trio.dbmanager.builds`), installed with pip into
``$FAAS_HOME/envs/<env id>`` the first time a call needs it: ``--no-deps --require-hashes
--only-binary :all:``, so exactly the resolved wheels and nothing else, and no code of theirs
runs. Calls that arrive together wait for one install: a trio lock per environment in this
worker, and a file lock per environment between the workers of the host. The folder is
installed under a temporary name and renamed when complete, owned by the worker's user and
not writable by anyone else; sandboxes get a Landlock read rule for it.

Disk: when the environments are over ``FAAS_ENVS_MAX_BYTES`` in all, the least recently used
ones that no zygote of this worker uses are removed (a worker marks an environment used each
time a call needs it). One eviction runs at a time on the host (a file lock), and it never
removes an environment :meth:`Environments.ensure` handed out that the caller has not yet
released (by then the caller lists it in ``in_use``): a call that found its environment
installed finds it still there when its zygote starts. The file walks of an install and an
eviction (sizes, chmod, removal) run in worker threads, off the event loop.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from ..core.packages import PipSource, run_pip
from ..core.records import Build, BuildState

__all__ = ["EnvironmentFailed", "Environment", "Environments"]

log = logging.getLogger("faas.worker.envs")

#: Written last into a complete environment: its top-level modules.
_MARKER = ".faas-env.json"
_LOCK_WAIT_STEP = 0.05


class EnvironmentFailed(Exception):
    """The environment could not be installed or used here; the message says why."""


@dataclass(frozen=True)
class Environment:
    """An installed environment."""

    id: str
    path: Path
    #: Its distributions' top-level modules (``top_level.txt``, else ``RECORD``), sorted.
    top_level: tuple[str, ...]


class Environments:
    """The environments under ``root`` (``$FAAS_HOME/envs``) for the interpreter ``python``."""

    def __init__(
        self,
        root: Path,
        python: str,
        source: PipSource,
        *,
        max_bytes: int,
        install_timeout: float,
        log_cap: int = 64 * 1024,
    ) -> None:
        self.root = root
        self._python = python
        self._source = source
        self._max_bytes = max_bytes
        self._install_timeout = install_timeout
        self._log_cap = log_cap
        self._locks: dict[str, trio.Lock] = {}
        #: Environments this worker's zygotes use now: never removed by this worker.
        self.in_use: set[str] = set()
        #: Environments handed out by ensure() and not yet released, with how many times.
        self._claims: dict[str, int] = {}
        #: Held by an eviction from its choice of what to remove until it is removed.
        self._evicting = trio.Lock()

    async def ensure(self, build: Build) -> Environment:
        """The installed environment of ``build`` (installing it first if needed).

        Raises:
            EnvironmentFailed: the build is not ready, or the install failed or took longer
                than the install timeout, or sandboxes could not reach the folder.

        This worker does not remove the environment until the caller releases it
        (:meth:`release`), which the caller does once, when its id is in :attr:`in_use`;
        when ``ensure`` raises, nothing is left to release.

        Cancellation: a running install (pip) is killed and its temporary folder removed;
        nothing half-installed is ever used. Nothing is left claimed.
        """
        if build.state is not BuildState.READY or build.env is None:
            raise EnvironmentFailed(f"the function's environment is {build.state.value}")
        env_id = build.env
        if not env_id.isalnum():
            raise EnvironmentFailed(f"malformed environment id {env_id[:40]!r}")
        path = self.root / env_id
        self.claim(env_id)  # before any await: an eviction that starts later keeps it
        try:
            async with self._locks.setdefault(env_id, trio.Lock()):
                async with self._evicting:  # one that started before the claim is done
                    installed = (path / _MARKER).exists()
                if not installed:
                    await self._install_once(build, env_id, path)
                    await self._evict()
                return _open(env_id, path)
        except BaseException:
            self.release(env_id)
            raise

    def claim(self, env_id: str) -> None:
        """Keep ``env_id`` from being removed by this worker until :meth:`release` drops
        this claim."""
        self._claims[env_id] = self._claims.get(env_id, 0) + 1

    def release(self, env_id: str) -> None:
        """Drop one claim on ``env_id`` (of :meth:`claim`, or the one :meth:`ensure` made)."""
        left = self._claims.get(env_id, 0) - 1
        if left > 0:
            self._claims[env_id] = left
        else:
            self._claims.pop(env_id, None)

    async def _install_once(self, build: Build, env_id: str, path: Path) -> None:
        """Install unless another worker of the host did, holding the host-wide lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        _check_reachable(self.root)
        fd = os.open(self.root / f".{env_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with trio.fail_after(self._install_timeout + 5.0):
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await trio.sleep(_LOCK_WAIT_STEP)  # another worker installs it
            if not (path / _MARKER).exists():
                await self._install(build, env_id, path)
        except trio.TooSlowError:
            raise EnvironmentFailed("another worker's install of it took too long") from None
        finally:
            os.close(fd)  # releases the lock

    async def _install(self, build: Build, env_id: str, path: Path) -> None:
        temporary = self.root / f".{env_id}.{os.getpid()}.tmp"
        await trio.to_thread.run_sync(partial(shutil.rmtree, temporary, ignore_errors=True))
        wanted = self.root / f".{env_id}.{os.getpid()}.txt"
        wanted.write_text("\n".join(build.resolved) + "\n")
        args = [
            "install", "--no-deps", "--only-binary", ":all:", "--require-hashes",
            "--target", str(temporary), "--quiet", "-r", str(wanted), *self._source.args(),
        ]  # fmt: skip
        started = time.monotonic()
        try:
            out = await run_pip(
                self._python, args, time_limit=self._install_timeout, output_cap=self._log_cap
            )
            if out.returncode is None:
                raise EnvironmentFailed(
                    f"installing it took longer than {self._install_timeout:g} s"
                    " (FAAS_ENV_INSTALL_TIMEOUT)"
                )
            if out.returncode != 0:
                lines = [line for line in out.output.splitlines() if line.startswith("ERROR")]
                raise EnvironmentFailed(
                    "installing it failed: " + (lines[-1] if lines else out.output[-500:])
                )
            await trio.to_thread.run_sync(_complete, temporary, path)
        finally:
            wanted.unlink(missing_ok=True)
            with trio.CancelScope(shield=True):  # bounded: the folder pip made
                await trio.to_thread.run_sync(partial(shutil.rmtree, temporary, ignore_errors=True))
        log.info("installed environment %s (%d wheels) in %.1f s",
                 env_id, len(build.resolved), time.monotonic() - started)  # fmt: skip

    async def _evict(self) -> None:
        """Remove least recently used environments until under the size cap, but none that
        is in use or claimed.

        Cancellation: waits for the removal in progress (in a thread) to finish.
        """
        async with self._evicting:
            keep = frozenset(self.in_use) | frozenset(self._claims)
            await trio.to_thread.run_sync(self._evict_in_thread, keep)

    def _evict_in_thread(self, keep: frozenset[str]) -> None:
        # One eviction at a time on the host too, so that each sees what the last one left.
        fd = os.open(self.root / ".evict.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._evict_locked(keep)
        finally:
            os.close(fd)

    def _evict_locked(self, keep: frozenset[str]) -> None:
        sizes: list[tuple[float, int, Path]] = []
        total = 0
        for entry in self.root.iterdir():
            if entry.name.startswith("."):
                continue
            try:  # another worker of the host may be removing it
                used = (entry / _MARKER).stat().st_atime
                size = _size(entry)
            except FileNotFoundError:
                continue
            total += size
            sizes.append((used, size, entry))
        for _, size, entry in sorted(sizes):
            if total <= self._max_bytes:
                return
            if entry.name in keep:
                continue
            log.info("removing environment %s (%d bytes): over FAAS_ENVS_MAX_BYTES", entry, size)
            doomed = entry.with_name(f".{entry.name}.{os.getpid()}.removing")
            try:
                entry.rename(doomed)
            except FileNotFoundError:
                pass  # another worker removed it
            else:
                shutil.rmtree(doomed, ignore_errors=True)
            total -= size


def _size(folder: Path) -> int:
    """The bytes of the files under ``folder`` (links not followed); files that vanish while
    it is walked count nothing."""
    total = 0
    for here, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(here, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _complete(temporary: Path, path: Path) -> None:
    """Mark the install in ``temporary`` complete, make it read-only and move it to ``path``
    (in a thread: it walks every file)."""
    top_level = _top_level(temporary)
    (temporary / _MARKER).write_text(json.dumps({"top_level": top_level}))
    _read_only(temporary)
    temporary.rename(path)


def _open(env_id: str, path: Path) -> Environment:
    marker = path / _MARKER
    os.utime(marker)  # recently used: the last to be removed
    top_level = tuple(json.loads(marker.read_text()).get("top_level", []))
    return Environment(env_id, path, top_level)


def _top_level(folder: Path) -> list[str]:
    """The importable top-level modules of the distributions installed in ``folder``."""
    names: set[str] = set()
    for info in folder.glob("*.dist-info"):
        listed = info / "top_level.txt"
        if listed.exists():
            names.update(line.strip() for line in listed.read_text().splitlines())
            continue
        record = info / "RECORD"
        for line in record.read_text().splitlines() if record.exists() else []:
            member = line.split(",", 1)[0]
            first = member.split("/", 1)[0]
            if first.endswith((".dist-info", ".data")) or first.startswith(".."):
                continue
            # A package is its folder; a module file is named up to its first dot.
            names.add(first if "/" in member else first.split(".", 1)[0])
    return sorted(n for n in names if n.isidentifier() and n != "__pycache__")


def _read_only(folder: Path) -> None:
    """Nobody but the owner may change it; everyone may read it (the sandboxes' uids)."""
    for here, dirs, files in os.walk(folder):
        os.chmod(here, 0o755)
        for name in files:
            os.chmod(os.path.join(here, name), 0o644)
        for name in dirs:
            os.chmod(os.path.join(here, name), 0o755)


def _check_reachable(root: Path) -> None:
    """Sandbox uids must be able to walk down to the environments (only checked when the
    worker is root, i.e. sandboxes run as other uids)."""
    if os.geteuid() != 0:
        return
    for folder in [root, *root.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise EnvironmentFailed(
                f"sandboxes cannot reach {root}: {folder} is not searchable by other users"
                f" (chmod o+x {folder}, or set FAAS_HOME to a folder they can reach)"
            )
