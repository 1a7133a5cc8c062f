"""Resolving a function's requirements into the exact set every worker host installs.

Why here: the dbmanager is the one process that owns function versions, so a build's result
(the resolved set, exact versions and wheel hashes) is written with the version it belongs to,
once, whatever the number of frontends and workers; workers then install exactly that set
(:mod:`faas_trio.worker.envs`) without resolving anything themselves, so two hosts can never
end up with different packages for one version.

A build runs pip (``install --dry-run --report``) for the sandbox interpreter
(``FAAS_SANDBOX_PYTHON``) with ``--only-binary :all:``: no ``setup.py`` or build backend runs,
and no user code. It runs outside any sandbox, but under a timeout (``FAAS_BUILD_TIMEOUT``),
with its output capped (``FAAS_BUILD_LOG_CAP``); builds of one requirement set are
serialised (the second one takes the first's result), and at most ``FAAS_BUILDS_MAX`` run at
once. A function version's build goes ``pending -> building -> ready | failed``, each step a
conditional :class:`~faas_trio.core.messages.SetBuild` that never touches another version.

A build left unfinished by a restart is resumed the first time someone waits for it.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import trio
from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename

from ..core.errors import FaasError
from ..core.messages import SetBuild
from ..core.packages import Interpreter, PipSource, env_id, interpreter_of, request_key, run_pip
from ..core.records import Build, BuildState, Function

__all__ = ["BuildSettings", "Builder"]

log = logging.getLogger("faas.dbmanager.builds")


@dataclass(frozen=True)
class BuildSettings:
    """How builds run (from the dbmanager's configuration)."""

    python: str
    source: PipSource
    timeout: float = 300.0
    max_builds: int = 2
    log_cap: int = 64 * 1024


#: Function version: (user, name, version).
_Key = tuple[str, str, int]


#: Finished resolutions the dbmanager remembers (oldest forgotten first): a forgotten set is
#: resolved again by pip, which finds it in its cache.
_RESOLVED_KEEP = 1024


class Builder:
    """Runs builds in ``nursery`` and lets callers wait for them. ``write`` applies a
    ``SetBuild`` (through the group committer) and says whether it applied."""

    def __init__(
        self,
        nursery: trio.Nursery,
        settings: BuildSettings,
        write: Callable[[SetBuild], Awaitable[bool]],
    ) -> None:
        self._nursery = nursery
        self._settings = settings
        self._write = write
        self._limiter = trio.CapacityLimiter(max(1, settings.max_builds))
        self._set_locks: dict[str, trio.Lock] = {}
        #: Finished resolutions by request key: a set resolves once per dbmanager life.
        self._resolved: dict[str, Build] = {}
        #: Builds running now, each with the event set when it ends.
        self._running: dict[_Key, trio.Event] = {}
        self._interpreter: Interpreter | None = None

    def start(self, function: Function) -> None:
        """Build ``function``'s environment in the background, unless its build is final or
        already running here."""
        key = (function.user, function.name, function.version)
        if function.build is None or function.build.is_final or key in self._running:
            return
        self._running[key] = trio.Event()
        self._nursery.start_soon(self._run, function, key)

    async def wait(self, function: Function, wait: float) -> None:
        """Wait up to ``wait`` seconds for ``function``'s build to end (starting it if it is
        not running, e.g. after a restart).

        Cancellation: only waits; the build goes on.
        """
        self.start(function)
        event = self._running.get((function.user, function.name, function.version))
        if event is not None:
            with trio.move_on_after(wait):
                await event.wait()

    async def _run(self, function: Function, key: _Key) -> None:
        """Cancellation: the build (pip) is killed; the version stays ``building`` and is
        built again when next waited for."""
        try:
            build = await self._build(function)
            await self._set(function, build)
        except FaasError as exc:
            log.warning("build of %s/%s v%d not stored: %s", *key, exc)
        finally:
            self._running.pop(key).set()

    async def _set(self, function: Function, build: Build) -> bool:
        return await self._write(SetBuild(function.user, function.name, function.version, build))

    async def _build(self, function: Function) -> Build:
        try:
            interpreter = await self._sandbox_interpreter()
        except OSError as exc:
            return _failed(f"the sandbox interpreter cannot be used: {exc}", "")
        request = request_key(function.requirements, interpreter)
        lock = self._set_locks.setdefault(request, trio.Lock())
        try:
            async with lock:
                done = self._resolved.get(request)
                if done is not None:
                    return done
                await self._set(function, Build(state=BuildState.BUILDING))
                try:
                    async with self._limiter:
                        build = await self._resolve(function.requirements, interpreter)
                except OSError as exc:
                    # pip could not be started or its folder written (disk full, no memory):
                    # the build fails with the reason; the dbmanager goes on.
                    return _failed(f"the build could not run: {exc}", "")
                if build.state is BuildState.READY:
                    self._resolved[request] = build
                    while len(self._resolved) > _RESOLVED_KEEP:
                        del self._resolved[next(iter(self._resolved))]
                return build
        finally:
            # One lock per requirement set only while someone builds it, so that many
            # distinct sets registered over time do not pile up locks.
            if not lock.statistics().tasks_waiting and not lock.locked():
                self._set_locks.pop(request, None)

    async def _sandbox_interpreter(self) -> Interpreter:
        if self._interpreter is None:
            self._interpreter = await interpreter_of(self._settings.python)
        return self._interpreter

    async def _resolve(self, requirements: list[str], interpreter: Interpreter) -> Build:
        """Resolve with pip, wheels only; never raises for what pip does."""
        settings = self._settings
        with tempfile.TemporaryDirectory(prefix="faas-build-") as folder:
            report = Path(folder) / "report.json"
            wanted = Path(folder) / "requirements.txt"
            wanted.write_text("\n".join(requirements) + "\n")
            # --target: resolve as for an empty folder, whatever the interpreter has installed
            # (and no "externally managed" refusal from a distribution's Python).
            args = [
                "install", "--dry-run", "--target", str(Path(folder) / "target"),
                "--only-binary", ":all:", "-r", str(wanted), *settings.source.args(),
            ]  # fmt: skip
            started = time.monotonic()
            out = await run_pip(
                interpreter.path,
                [*args, "--quiet", "--report", str(report)],
                time_limit=settings.timeout,
                output_cap=settings.log_cap,
            )
            took = time.monotonic() - started
            if out.returncode is None:
                return _failed(
                    f"the build took longer than FAAS_BUILD_TIMEOUT ({settings.timeout:g} s)",
                    out.output,
                )
            if out.returncode != 0:
                # Run again, verbose, to tell why no candidate fit (sdist only, other tags).
                verbose = await run_pip(
                    interpreter.path,
                    [*args, "-vv"],
                    time_limit=settings.timeout,
                    output_cap=4 * settings.log_cap,
                )
                return _failed(_explain(out.output, verbose.output, interpreter), out.output)
            try:
                resolved = _resolved_set(json.loads(report.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return _failed(f"pip's report could not be read: {exc}", out.output)
        log.info("resolved %d requirements to %d wheels in %.1f s",
                 len(requirements), len(resolved), took)  # fmt: skip
        summary = "\n".join(resolved)
        return Build(
            state=BuildState.READY,
            env=env_id(resolved, interpreter),
            resolved=resolved,
            log=f"{out.output}resolved for {interpreter.label}:\n{summary}\n"[-settings.log_cap :],
            finished_at=time.time(),
        )


def _failed(error: str, output: str) -> Build:
    return Build(state=BuildState.FAILED, error=error, log=output, finished_at=time.time())


_NO_SOURCES = re.compile(r"Skipping link: No sources permitted for ([A-Za-z0-9._-]+): (\S+)")


def _sdist_only(verbose: str) -> list[str]:
    """The projects pip found only a source distribution of (pip also says "no sources
    permitted" of other projects' sdists, so the file's own name is checked)."""
    found = set()
    for project, url in _NO_SOURCES.findall(verbose):
        try:
            name, _ = parse_sdist_filename(unquote(url.rsplit("/", 1)[-1]))
        except InvalidSdistFilename:
            continue
        if name == canonicalize_name(project):
            found.add(project)
    return sorted(found)


def _explain(output: str, verbose: str, interpreter: Interpreter) -> str:
    """The build's error: pip's own last error line, and what it means here (``verbose``
    is the output of the same resolution with ``-vv``)."""
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    last = errors[-1][len("ERROR:") :].strip() if errors else "pip failed"
    if "No matching distribution" in output or "Could not find a version" in output:
        sdist_only = _sdist_only(verbose)
        if sdist_only:
            return (
                f"{last}: {', '.join(sdist_only)} is published only as a source distribution"
                " (sdist) there; the platform installs wheels only (--only-binary :all:) and"
                " never runs setup.py or a build backend"
            )
        return (
            f"{last}: no wheel of it for {interpreter.label} was found in the index. The"
            " platform installs wheels only (--only-binary :all:)"
        )
    if "ResolutionImpossible" in output or "conflict" in output.lower():
        return f"the requirements conflict: {last}"
    return last


def _resolved_set(report: dict[str, object]) -> list[str]:
    """``name==version --hash=sha256:H`` per wheel of pip's installation report."""
    lines = []
    installs = report["install"]
    assert isinstance(installs, list)
    for item in installs:
        name = item["metadata"]["name"]
        version = item["metadata"]["version"]
        info = item["download_info"]
        hashes = info.get("archive_info", {}).get("hashes") or {}
        digest = hashes.get("sha256")
        if digest is None:
            legacy = info.get("archive_info", {}).get("hash", "")
            if not legacy.startswith("sha256="):
                raise ValueError(f"no sha256 for {name}")
            digest = legacy[len("sha256=") :]
        if not str(info.get("url", "")).endswith(".whl"):
            raise ValueError(f"{name} is not a wheel")
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    return sorted(lines)
