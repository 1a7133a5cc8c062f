"""Python packages for functions: requirement lines, environment ids, and running pip.

Shared by the frontend (checking what a registration asks for), the dbmanager (resolving a
requirement set once, :mod:`faas_trio.dbmanager.builds`) and the worker (installing the
resolved set, :mod:`faas_trio.worker.envs`).

Only wheels are ever installed (``--only-binary :all:``): no ``setup.py`` or build backend
runs on the platform. Packages come from ``FAAS_PIP_INDEX_URL`` when set, else from the
wheelhouse ``FAAS_PIP_FIND_LINKS`` alone (``--no-index``), else from pip's own settings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import trio
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import BadRequest

__all__ = [
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_LENGTH",
    "Interpreter",
    "PipOutput",
    "PipSource",
    "env_id",
    "interpreter_of",
    "normalise_requirements",
    "parse_requirements_text",
    "request_key",
    "run_pip",
]

#: The most requirement lines a function may declare.
MAX_REQUIREMENTS = 64
#: The longest requirement line, in characters.
MAX_REQUIREMENT_LENGTH = 200


def _one(line: str, where: str) -> str:
    """``line`` as a normalised requirement (canonical name, sorted extras and specifiers)."""
    if len(line) > MAX_REQUIREMENT_LENGTH:
        raise BadRequest(f"{where} is longer than {MAX_REQUIREMENT_LENGTH} characters")
    if line.startswith("-"):
        raise BadRequest(
            f"{where} {line[:60]!r}: pip options are not allowed; the index is the platform's"
            " (FAAS_PIP_INDEX_URL or FAAS_PIP_FIND_LINKS)"
        )
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        raise BadRequest(f"{where} {line[:60]!r} is not a valid requirement: {exc}") from None
    if requirement.url is not None:
        raise BadRequest(
            f"{where} {line[:60]!r}: direct URLs are not allowed, name a package of the index"
        )
    text: str = str(canonicalize_name(requirement.name))
    if requirement.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in requirement.extras)) + "]"
    text += str(requirement.specifier)
    if requirement.marker is not None:
        text += f"; {requirement.marker}"
    return text


def normalise_requirements(lines: Iterable[object]) -> list[str]:
    """The requirement ``lines`` (a JSON list) normalised, sorted and without duplicates.

    Raises:
        BadRequest: a line is not a string, is malformed (the message names it), or there are
            too many or too long.
    """
    out: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise BadRequest(f"requirement {number} is not a string")
        stripped = line.strip()
        if stripped:
            out.add(_one(stripped, f"requirement {number}"))
        if len(out) > MAX_REQUIREMENTS:
            raise BadRequest(f"more than {MAX_REQUIREMENTS} requirements")
    return sorted(out)


def parse_requirements_text(text: str) -> list[str]:
    """The requirements of a ``requirements.txt`` text: one per line, ``#`` comments and
    blank lines ignored. Raises BadRequest naming the first bad line by its number."""
    out: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            out.add(_one(line, f"requirements line {number}"))
        if len(out) > MAX_REQUIREMENTS:
            raise BadRequest(f"more than {MAX_REQUIREMENTS} requirements")
    return sorted(out)


@dataclass(frozen=True)
class Interpreter:
    """What makes a wheel fit: the sandbox interpreter's version and platform."""

    #: Absolute path of the interpreter.
    path: str
    #: e.g. ``cp311``.
    tag: str
    #: e.g. ``linux-x86_64``.
    platform: str

    @property
    def label(self) -> str:
        return f"{self.tag} {self.platform}"


_PROBE = (
    "import sys, sysconfig; "
    "print(f'{sys.implementation.name[:2]}{sys.version_info[0]}{sys.version_info[1]}'"
    " + ' ' + sysconfig.get_platform())"
)


async def interpreter_of(path: str) -> Interpreter:
    """Ask the interpreter at ``path`` for its tag and platform.

    Raises:
        OSError: it could not be run or answered nonsense.

    Cancellation: the probe is killed.
    """
    with trio.fail_after(30):
        done = await trio.run_process([path, "-I", "-S", "-c", _PROBE], capture_stdout=True)
    parts = done.stdout.decode().split()
    if len(parts) != 2:
        raise OSError(f"{path} did not tell its version and platform")
    return Interpreter(path, parts[0], parts[1])


def request_key(requirements: Sequence[str], interpreter: Interpreter) -> str:
    """Identifies a requirement set for one interpreter: equal sets resolve once, shared."""
    text = json.dumps([sorted(requirements), interpreter.tag, interpreter.platform])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def env_id(resolved: Sequence[str], interpreter: Interpreter) -> str:
    """Names an environment by what is in it: the resolved set and the interpreter. Every
    function whose requirements resolved to the same set shares it."""
    text = json.dumps([sorted(resolved), interpreter.tag, interpreter.platform])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PipSource:
    """Where pip takes packages from (``FAAS_PIP_INDEX_URL``, ``FAAS_PIP_FIND_LINKS``)."""

    index_url: str = ""
    find_links: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipSource:
        env = os.environ if env is None else env
        return cls(env.get("FAAS_PIP_INDEX_URL", ""), env.get("FAAS_PIP_FIND_LINKS", ""))

    def args(self) -> list[str]:
        """pip options: the index, else the wheelhouse only, else nothing (pip's settings)."""
        out: list[str] = []
        if self.index_url:
            out += ["--index-url", self.index_url]
        if self.find_links:
            out += ["--find-links", self.find_links]
            if not self.index_url:
                out.append("--no-index")
        return out


@dataclass(frozen=True)
class PipOutput:
    """How a pip run ended: its exit code (None: killed at its timeout) and output tail."""

    returncode: int | None
    output: str


async def run_pip(
    interpreter: str, args: Sequence[str], *, time_limit: float, output_cap: int
) -> PipOutput:
    """Run this environment's pip against ``interpreter`` (``pip --python``) with ``args``;
    stdout and stderr together, the last ``output_cap`` bytes kept. Never runs user code:
    callers pass ``--only-binary :all:``.

    Cancellation: pip is killed (and reaped) before ``Cancelled`` propagates; the same after
    ``time_limit`` seconds, which is reported as ``returncode=None``.
    """
    argv = [
        sys.executable, "-m", "pip", "--python", interpreter, "--disable-pip-version-check",
        "--no-input", *args,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_SECRETS")}
    kept = bytearray()
    returncode: int | None = None
    async with trio.open_nursery() as nursery:
        start = functools.partial(
            trio.run_process, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, check=False,
        )  # fmt: skip
        process = await nursery.start(start)
        with trio.move_on_after(time_limit):
            assert process.stdout is not None
            async for chunk in process.stdout:
                kept += chunk
                del kept[: max(0, len(kept) - output_cap)]
            returncode = await process.wait()
        if returncode is None:
            process.kill()
    text = kept.decode("utf-8", "replace")
    return PipOutput(returncode, text)
