"""The environment variables a function's sandbox gets: its ``env``, and its secrets.

Secrets arrive sealed (Fernet tokens, :mod:`faas_trio.core.secrets`) with the function of the
job, and are opened here, just before the sandbox starts: a plain value exists only in this
worker's memory and in the sandbox's environment, never in a message, record or log line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from ..core.records import Function
from ..core.secrets import SecretBox, SecretUnreadable

__all__ = ["VariablesFailed", "sandbox_variables", "variables_digest"]


class VariablesFailed(Exception):
    """A secret the function names is missing or cannot be opened; the message names the
    secret, never a value."""


def sandbox_variables(function: Function, box: Callable[[], SecretBox]) -> dict[str, str]:
    """``function.env`` plus each secret it names, opened with ``box()`` (asked only when
    there is a secret).

    Raises:
        VariablesFailed: see the class.
    """
    variables = dict(function.env)
    for name in function.secrets:
        sealed = function.sealed.get(name)
        if sealed is None:
            raise VariablesFailed(
                f"the secret {name} is not set for user {function.user!r}"
                f" (PUT /u/{function.user}/secrets/{name})"
            )
        try:
            variables[name] = box().open(sealed)
        except SecretUnreadable:
            raise VariablesFailed(
                f"the secret {name} cannot be opened with this worker's key (FAAS_SECRETS_KEY"
                " must be the same for frontends and workers)"
            ) from None
    return variables


def variables_digest(function: Function) -> str:
    """Changes whenever the function's env or sealed secrets do, so that a warm sandbox is
    reused only with the variables it was started with."""
    text = json.dumps([function.env, sorted(function.sealed.items())], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
