"""Which platform a client verb talks to, as whom: options, environment, profile file.

Each setting comes from the first of: its option (``--url``, ``--key``, ``--user``), its
environment variable (``FAAS_URL``, ``FAAS_KEY``, ``FAAS_USER``), the profile file
(``$XDG_CONFIG_HOME/faas-trio/config.toml``, else ``~/.config/faas-trio/config.toml``,
written by ``faas-trio login``), the default (``http://127.0.0.1:8080``, no key). The user
defaults to the one the key names (``<user>.<secret>``): a key given as an option or in the
environment acts as its own user, not as the profile's.

The profile holds a secret, so it is written mode 0600 (its folder 0700), replaced whole
through a temporary file so that it is never seen half written or readable by others.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Target",
    "client_for",
    "client_options",
    "profile_path",
    "read_profile",
    "resolve",
    "write_profile",
]

DEFAULT_URL = "http://127.0.0.1:8080"
_KEYS = ("url", "key", "user")


def profile_path() -> Path:
    """Where the profile lives (see the module doc)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "faas-trio" / "config.toml"


def read_profile(path: Path | None = None) -> dict[str, str]:
    """The profile's settings (empty when there is no file).

    Raises:
        ValueError: the file is not TOML (the message names the file).
    """
    path = path or profile_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML ({exc}); fix or remove it") from None
    return {k: str(data[k]) for k in _KEYS if isinstance(data.get(k), str)}


def write_profile(settings: dict[str, str], path: Path | None = None) -> Path:
    """Replace the profile with ``settings`` (url, key, user), readable by its owner only."""
    path = path or profile_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A JSON string is a valid TOML basic string (same escapes), so json.dumps quotes safely.
    lines = [f"{k} = {json.dumps(settings[k])}" for k in _KEYS if settings.get(k)]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# faas-trio client profile (written by `faas-trio login`)\n")
            out.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


@dataclass(frozen=True)
class Target:
    """A platform and who acts on it."""

    url: str
    key: str | None
    user: str | None


def client_options() -> argparse.ArgumentParser:
    """A parent parser with the options every client verb takes."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("target")
    group.add_argument("--url", help=f"the platform (FAAS_URL; default {DEFAULT_URL})")
    group.add_argument("--key", help="your API key, keys mode (FAAS_KEY)")
    group.add_argument("--user", help="act as this user (FAAS_USER; default: the key's user)")
    group.add_argument("--json", action="store_true", help="print JSON, for programs")
    return options


def _user_of(key: str | None) -> str | None:
    return key.split(".", 1)[0] if key and "." in key else None


def resolve(args: argparse.Namespace) -> Target:
    """The target from options, environment and profile (see the module doc)."""
    profile = read_profile()

    def given(name: str) -> str | None:
        return getattr(args, name, None) or os.environ.get(f"FAAS_{name.upper()}") or None

    key = given("key") or profile.get("key")
    # A key given here acts as its own user, not as the profile's.
    user = given("user") or _user_of(given("key")) or profile.get("user") or _user_of(key)
    url = given("url") or profile.get("url") or DEFAULT_URL
    return Target(url=url.rstrip("/"), key=key, user=user)


def client_for(args: argparse.Namespace, timeout: float = 30.0, need_user: bool = True) -> Any:
    """A :class:`faas_trio.client.Client` for the target the arguments name.

    Raises:
        ValueError: ``need_user`` and no user is named anywhere.
    """
    from ..client import Client

    target = resolve(args)
    if need_user and target.user is None:
        raise ValueError(
            "which user? pass --user NAME (or --key), set FAAS_USER, "
            "or save one with `faas-trio login URL --user NAME`"
        )
    return Client(target.url, target.key, user=target.user, timeout=timeout)
