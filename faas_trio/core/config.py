"""Settings: how a row of the settings table becomes a validated value of a component's config.

Every environment variable the platform reads is one :class:`Setting` in
:data:`faas_trio.core.settings.SETTINGS` (name, type, default, range, the components that
read it, one line of help). A component's config is a frozen dataclass whose fields are
declared with :func:`setting`; :func:`from_env` builds it from the environment and
:func:`check_fields` (called from its ``__post_init__``) validates every field against its row,
so a config built in code is checked exactly like one read from the environment. Unset and
empty variables take the default. A malformed value raises :class:`ConfigError` naming the
variable and what was expected; :func:`faas_trio.core.lifecycle.run_component` turns it into
exit code 2.

The old system's variables keep their meaning (``DB_URL``, ``JQ_URL``, ``PORT``,
``KUMORI_CREDENTIALS``); new ones are ``FAAS_*``. Durations are float seconds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "ConfigError",
    "Setting",
    "check_fields",
    "check_value",
    "from_env",
    "lookup",
    "parse",
    "read",
    "setting",
    "tcp_bind",
    "value",
]


class ConfigError(ValueError):
    """A setting is malformed or out of range; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One row of the settings table."""

    name: str
    #: ``int``, ``float``, ``bool`` or ``str``.
    type: type
    #: The value when the variable is unset or empty (None: no value, or computed at start,
    #: then ``shown`` says how).
    default: Any
    #: The components that read it (``up`` is the supervisor).
    readers: tuple[str, ...]
    help: str
    #: Inclusive bounds of a number (``above``: the lower bound is exclusive).
    low: float | None = None
    high: float | None = None
    above: bool = False
    #: The values a string may take (compared lowercased).
    choices: tuple[str, ...] = ()
    #: ``endpoint`` (``tcp://host:port``), ``store`` (a ``sqlite:``/``mongodb://`` URL or
    #: ``memory:``) or "".
    form: str = ""
    #: How the default reads in docs when it is computed at start.
    shown: str | None = None
    #: Never printed (a key).
    secret: bool = False

    def expected(self) -> str:
        """What a valid value looks like, for error messages and docs."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.form == "endpoint":
            return "tcp://host:port"
        if self.form == "store":
            return "sqlite:///abs/path.db, sqlite:rel/path.db, mongodb[+srv]://host or memory:"
        if self.type is bool:
            return "a boolean (1/0, true/false)"
        noun = {int: "a whole number", float: "a number"}.get(self.type)
        if noun is None:
            return f"at least {self.low:g} characters" if self.low else "any text"
        if self.low is not None and self.high is not None:
            return f"{noun} in {_num(self.low)}..{_num(self.high)}"
        if self.low is not None:
            return f"{noun} {'>' if self.above else '>='} {_num(self.low)}"
        return noun

    def show_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        if isinstance(self.default, tuple):
            return ",".join(self.default) or "empty"
        return _num(self.default) if isinstance(self.default, int | float) else str(self.default)


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_ENDPOINT = re.compile(r"tcp://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse(row: Setting, raw: str) -> Any:
    """The value of ``raw`` for ``row``, checked.

    Raises:
        ConfigError: ``NAME='raw' is not <what was expected>``.
    """
    value: Any
    try:
        if row.type is bool:
            low = raw.strip().lower()
            if low not in _TRUE + _FALSE:
                raise ValueError(raw)
            value = low in _TRUE
        elif row.type is int:
            value = int(raw)
        elif row.type is float:
            value = float(raw)
        else:
            value = raw.lower() if row.choices else raw
    except ValueError:
        raise ConfigError(f"{row.name}={raw!r} is not {row.expected()}") from None
    check_value(row, value, raw)
    return value


def check_value(row: Setting, value: Any, raw: str | None = None) -> None:
    """Raise :class:`ConfigError` when ``value`` is not valid for ``row`` (None is valid for a
    row without a default: unset). ``raw``: the text it was read from, for the message."""
    if value is None and row.default is None:
        return
    ok = True
    if row.type in (int, float):
        ok = isinstance(value, int | float) and math.isfinite(value)
        if ok and row.low is not None:
            ok = value > row.low if row.above else value >= row.low
        if ok and row.high is not None:
            ok = value <= row.high
    elif row.choices:
        ok = value in row.choices
    elif row.type is str and row.low is not None:
        ok = len(str(value)) >= row.low
    elif row.form == "endpoint":
        match = _ENDPOINT.fullmatch(str(value))
        ok = match is not None and 0 < int(match["port"]) < 65536
    elif row.form == "store":
        url = str(value)
        ok = url.startswith(("sqlite:", "mongodb://", "mongodb+srv://")) or url == "memory:"
    if not ok:
        shown = "(hidden)" if row.secret else repr(value if raw is None else raw)
        raise ConfigError(f"{row.name}={shown} is not {row.expected()}")


def _table() -> tuple[Setting, ...]:
    from .settings import SETTINGS  # the table imports this module for Setting

    return SETTINGS


def lookup(name: str, component: str | None = None) -> Setting:
    """The row of ``name`` (as ``component`` reads it, when rows differ by reader)."""
    rows = [row for row in _table() if row.name == name]
    if component is not None and len(rows) > 1:
        rows = [row for row in rows if component in row.readers]
    if len(rows) != 1:
        raise KeyError(f"no single setting {name} for {component}")
    return rows[0]


def setting(name: str, component: str | None = None) -> Any:
    """A dataclass field holding setting ``name``: its default is the table's, and
    :func:`from_env` fills it from the variable."""
    row = lookup(name, component)
    return dataclasses.field(default=row.default, metadata={"setting": row})


def read(component: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting ``component`` reads, by name: from ``env`` (default: the process
    environment), else its default.

    Raises:
        ConfigError: a variable is malformed; the first one found is named.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for row in _table():
        if component in row.readers:
            raw = env.get(row.name, "")
            values[row.name] = parse(row, raw) if raw != "" else row.default
    return values


def value(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The value of the (single-row) setting ``name``.

    Raises:
        ConfigError: the variable is malformed.
    """
    row = lookup(name)
    raw = (os.environ if env is None else env).get(name, "")
    return parse(row, raw) if raw != "" else row.default


C = TypeVar("C")


def from_env(
    cls: type[C], component: str, env: Mapping[str, str] | None = None, **computed: Any
) -> C:
    """``cls`` with each :func:`setting` field read from ``env``; ``computed`` gives the
    fields (or overrides) that are derived from several settings.

    Raises:
        ConfigError: a variable is malformed or out of range; the message names it.
    """
    values = read(component, env)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        row = field.metadata.get("setting")
        if row is not None and field.name not in computed:
            kwargs[field.name] = values[row.name]
    return cls(**kwargs, **computed)


def check_fields(config: object) -> None:
    """Validate every :func:`setting` field of the dataclass ``config`` against its row.

    Raises:
        ConfigError: the first field out of range, named by its variable.
    """
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        row = field.metadata.get("setting")
        if row is not None:
            check_value(row, getattr(config, field.name))


def tcp_bind(host: str, port: int) -> str:
    """The ZeroMQ endpoint a server binds: ``tcp://host:port`` (port 0 picks a free one)."""
    return f"tcp://{host}:{'*' if port == 0 else port}"
