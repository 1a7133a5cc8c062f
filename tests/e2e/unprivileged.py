"""Running a whole platform as an unprivileged uid from tests that run as root.

``setpriv`` drops to the uid (and its gid, with no supplementary groups) before the
interpreter starts, so every component, and the supervisor that starts them, runs as that
uid from its first instruction. The interpreter must be one that uid can run with this
checkout's packages: the test's own (a virtualenv may link to an interpreter under a folder
only root may enter, like ``/root``), else the system's of the same version, with the
checkout and the virtualenv's site-packages on ``PYTHONPATH``. :func:`run_as` tries each and
fails (a skip outside CI) naming what it tried, rather than testing something else.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

import faas_trio

__all__ = ["owned_home", "run_as"]

#: What the probe does: start its own interpreter again as the supervisor does (without
#: root's capabilities, which ``setpriv`` keeps for its own exec only), which imports the
#: package and a compiled dependency.
_PROBE = (
    "import subprocess, sys;"
    " subprocess.run([sys.executable, '-c', 'import faas_trio, zmq, msgspec'], check=True)"
)


def _drop(uid: int) -> list[str]:
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


@functools.cache
def run_as(uid: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """The command prefix that runs this checkout's Python as ``uid``, and the environment
    it needs (``PYTHONPATH``). Fails the test (skips it outside CI) when there is none."""
    code = str(Path(faas_trio.__file__).resolve().parents[1])
    libs = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    env = {"PYTHONPATH": os.pathsep.join([code, *libs])}
    candidates = [sys.executable]
    if os.path.exists("/usr/bin/python3"):
        candidates.append("/usr/bin/python3")
    tried = []
    for python in candidates:
        command = (*_drop(uid), python)
        try:
            probe = subprocess.run(
                [*command, "-c", _PROBE], env={**env, "PATH": os.environ.get("PATH", "")},
                cwd="/", capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{python}: {exc}")
            continue
        if probe.returncode == 0:
            return command, env
        tried.append(f"{python}: {probe.stderr.decode(errors='replace').strip()[-300:]}")
    message = f"no Python uid {uid} can run with this checkout's packages: " + "; ".join(tried)
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def owned_home(uid: int) -> Path:
    """A fresh folder for ``FAAS_HOME`` owned by ``uid``, in a folder every uid can reach."""
    home = Path(tempfile.mkdtemp(prefix="faas-unprivileged-home-"))
    os.chown(home, uid, uid)
    return home
