"""Sealing users' secrets: Fernet (``cryptography``) with one key for the whole platform.

The frontend seals a secret's value as it arrives (``PUT /u/:u/secrets/:name``); only the
sealed token is sent to the dbmanager and stored, and travels with a job's function to the
worker, which opens it just before it hands the value to the sandbox as an environment
variable. So a plain value is never in the store, a job record, a message between the
platform's processes other than the worker's, a log line or an error.

The key is ``FAAS_SECRETS_KEY`` (a Fernet key: 32 url-safe base64-encoded bytes), or else the
key file ``$FAAS_HOME/secrets.key``, made once (mode 0600) by the first process that needs it;
the frontends and workers must share it (they do under ``faas-trio up``, which gives them one
``FAAS_HOME``; elsewhere set ``FAAS_SECRETS_KEY`` for both).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from .config import ConfigError

__all__ = [
    "MAX_SECRET_BYTES",
    "SECRET_NAME",
    "SecretBox",
    "SecretUnreadable",
    "lazy_secret_box",
    "load_secret_box",
]

#: What a secret (and an env variable) may be called: an environment variable name.
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: The largest value of a secret, bytes of UTF-8.
MAX_SECRET_BYTES = 4096
_KEY_FILE = "secrets.key"


class SecretUnreadable(Exception):
    """A sealed value could not be opened (another key sealed it, or it is damaged). The
    message never holds the value."""


class SecretBox:
    """Seals and opens secret values with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """Raises SecretUnreadable."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretUnreadable("a secret could not be opened with this key") from None


def load_secret_box(env: Mapping[str, str] | None = None) -> SecretBox:
    """The platform's box: ``FAAS_SECRETS_KEY``, else the key file in ``FAAS_HOME`` (made
    now, mode 0600, if there is none; two processes making it at once agree on one).

    Raises:
        ConfigError: the key is malformed, or the key file cannot be read or made.
    """
    env = os.environ if env is None else env
    given = env.get("FAAS_SECRETS_KEY", "")
    if given:
        try:
            return SecretBox(given.encode("ascii"))
        except (ValueError, UnicodeError):
            raise ConfigError(
                "FAAS_SECRETS_KEY is not a Fernet key (32 url-safe base64 bytes; make one with"
                " python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                ".decode())')"
            ) from None
    path = Path(env.get("FAAS_HOME", "") or ".faas").absolute() / _KEY_FILE
    try:
        return SecretBox(_key_file(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the secrets key file {path} cannot be used: {exc}") from None


def _key_file(path: Path) -> bytes:
    """The key in ``path``; made first if missing. The new key is written to a file of its
    own and linked into place, so a reader never sees a half-written key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return path.read_bytes().strip()


def lazy_secret_box(failed: Callable[[str], Exception]) -> Callable[[], SecretBox]:
    """The platform's box (:func:`load_secret_box`), loaded at its first use, so a process
    that never meets a secret needs no key; while the key cannot be read, each use raises
    ``failed(why)``."""
    boxes: list[SecretBox] = []

    def box() -> SecretBox:
        if not boxes:
            try:
                boxes.append(load_secret_box())
            except ConfigError as exc:
                raise failed(str(exc)) from None
        return boxes[0]

    return box
