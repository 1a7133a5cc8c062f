"""A worker's zygotes: the standard-library one, and one per package environment in use.

A function without requirements is forked from the stdlib zygote (the default). A function
with requirements is forked from the zygote of its environment, which has the environment on
its module path and its top-level packages (or the function's ``preload`` list) imported, so
its cold start is a fork, not an import. At most ``max_env`` environment zygotes live at once
(``FAAS_ZYGOTES_MAX``); past that, the least recently used one whose sandboxes are all idle is
stopped (its sandboxes die with it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from .envs import Environment
from .sandbox.zygote_client import Zygote

__all__ = ["STDLIB", "ZygoteKey", "ZygoteSet"]

#: (environment id, preloaded modules); the stdlib zygote's is :data:`STDLIB`.
ZygoteKey = tuple[str, tuple[str, ...]]
STDLIB: ZygoteKey = ("", ())


class ZygoteSet:
    """Zygotes by key. Pure bookkeeping: the caller stops what :meth:`get` evicts."""

    def __init__(self, python: str, *, max_env: int, preload: bool = True) -> None:
        self._python = python
        self._max_env = max(1, max_env)
        self._preload = preload
        self.stdlib = Zygote(python)
        #: Least recently used first.
        self._env: OrderedDict[ZygoteKey, Zygote] = OrderedDict()

    def get(
        self,
        env: Environment | None,
        preload: Sequence[str] | None,
        busy: Callable[[ZygoteKey], bool],
    ) -> tuple[ZygoteKey, Zygote, list[tuple[ZygoteKey, Zygote]]]:
        """The zygote for ``env`` (None: the stdlib one) preloading ``preload`` (None: the
        environment's top-level modules), and the zygotes evicted to make room for it (the
        caller closes them and their sandboxes); ``busy(key)`` says whether one may not be."""
        if env is None:
            return STDLIB, self.stdlib, []
        modules = tuple(env.top_level if preload is None else preload) if self._preload else ()
        key: ZygoteKey = (env.id, modules)
        found = self._env.get(key)
        if found is not None:
            self._env.move_to_end(key)
            return key, found, []
        evicted: list[tuple[ZygoteKey, Zygote]] = []
        for old in list(self._env):
            if len(self._env) < self._max_env:
                break
            if not busy(old):
                evicted.append((old, self._env.pop(old)))
        zygote = Zygote(self._python, str(env.path), modules)
        self._env[key] = zygote
        return key, zygote, evicted

    def env_ids(self) -> set[str]:
        """The environments the live zygotes use."""
        return {key[0] for key in self._env}

    def all(self) -> list[Zygote]:
        return [self.stdlib, *self._env.values()]
