"""The settings table: every environment variable faas-trio reads, once.

One row per variable (two for ``PORT`` and ``DB_URL``, whose meaning the old system made
depend on the component). Readers: ``frontend``, ``dbmanager``, ``jqmanager``, ``worker``,
``scaler``, ``up`` (the supervisor). The rows of the services (frontend, jqmanager, dbmanager)
are in :mod:`.settings_services`, those of the workers and their scaling in
:mod:`.settings_workers`. Adding a setting is one row there plus the field that
holds it (``x: int = setting("FAAS_X")`` in the component's config). The README's
configuration table is generated from this one (``make settings-doc``; a test compares them),
and ``faas-trio config`` prints the effective values.

Why ``FAAS_DEFAULT_MEMORY_MB`` is 256 everywhere: the frontend stores it on every function
registered without ``?memory_mb=``, so it is the limit users actually get and the README
promises; the worker's copy only covers functions stored with no limit at all, which must get
the same limit rather than a smaller one.
"""

from __future__ import annotations

from .config import Setting
from .settings_services import SERVICE_SETTINGS
from .settings_workers import WORKER_SETTINGS

__all__ = ["COMPONENTS", "SETTINGS", "effective", "markdown_table"]

#: Every component that reads settings, in the order ``faas-trio config`` prints them.
COMPONENTS = ("up", "frontend", "dbmanager", "jqmanager", "worker", "scaler")

_ALL = COMPONENTS

S = Setting

SETTINGS: tuple[Setting, ...] = (
    # ---- where things are ----------------------------------------------------------------
    S(
        name="PORT",
        type=int,
        default=8080,
        readers=("frontend", "up"),
        low=0,
        high=65535,
        help="the frontend's HTTP port (0: any free one; not 0 under `up`)",
    ),
    S(
        name="PORT",
        type=int,
        default=27444,
        readers=("dbmanager",),
        low=0,
        high=65535,
        help="the dbmanager's RPC port (0: any free one)",
    ),
    S(
        name="PORT",
        type=int,
        default=27445,
        readers=("jqmanager",),
        low=0,
        high=65535,
        help="the jqmanager's RPC port (0: any free one)",
    ),
    S(
        name="FAAS_DB_PORT",
        type=int,
        default=27444,
        readers=("up",),
        low=1,
        high=65535,
        help="the dbmanager's RPC port under `up` (it sets the dbmanager's PORT)",
    ),
    S(
        name="FAAS_JQ_PORT",
        type=int,
        default=27445,
        readers=("up",),
        low=1,
        high=65535,
        help="the jqmanager's RPC port under `up` (it sets the jqmanager's PORT)",
    ),
    S(
        name="DB_URL",
        type=str,
        default=None,
        readers=("dbmanager", "up"),
        form="store",
        shown="sqlite:///$FAAS_HOME/faas.db",
        help="the store: `sqlite:///abs/path.db`, `sqlite:rel.db`, `mongodb://…` or `memory:`"
        " (nothing kept after exit)",
    ),
    S(
        name="DB_URL",
        type=str,
        default="tcp://127.0.0.1:27444",
        readers=("frontend", "jqmanager"),
        form="endpoint",
        help="the dbmanager's endpoint",
    ),
    S(
        name="JQ_URL",
        type=str,
        default="tcp://127.0.0.1:27445",
        readers=("frontend", "worker", "scaler"),
        form="endpoint",
        help="the jqmanager's endpoint",
    ),
    S(
        name="FAAS_HOST",
        type=str,
        default="127.0.0.1",
        readers=("frontend", "dbmanager", "jqmanager"),
        help="the address servers bind (containers: 0.0.0.0)",
    ),
    S(
        name="FAAS_HOME",
        type=str,
        default=".faas",
        readers=_ALL,
        help="state folder: the SQLite store, sandbox scratch folders, CurveZMQ keys, package"
        " environments, the secrets key file",
    ),
    S(
        name="FAAS_LOG_LEVEL",
        type=str,
        default="info",
        readers=_ALL,
        choices=("debug", "info", "warning", "error", "critical"),
        help="log level",
    ),
    # ---- component links (CurveZMQ) -------------------------------------------------------
    S(
        name="FAAS_CURVE",
        type=str,
        default="on",
        readers=_ALL,
        choices=("on", "off"),
        help="encrypt and authenticate every component link; `off` only on a network nobody "
        "else can reach",
    ),
    S(
        name="FAAS_CURVE_KEYS",
        type=str,
        default=None,
        readers=_ALL,
        shown="$FAAS_HOME/keys",
        help="folder of the component key pairs (`faas-trio keys` writes it)",
    ),
    S(
        name="FAAS_CURVE_SECRET",
        type=str,
        default=None,
        readers=_ALL,
        secret=True,
        help="instead of the folder: this component's secret key (Z85), as a container secret",
    ),
    S(
        name="FAAS_CURVE_PUBLIC",
        type=str,
        default=None,
        readers=_ALL,
        help="with `FAAS_CURVE_SECRET`: the public keys, `role=key,...` (Z85)",
    ),
    *SERVICE_SETTINGS,
    *WORKER_SETTINGS,
)


def markdown_table() -> str:
    """The README's configuration table, one line per row of :data:`SETTINGS`."""
    lines = ["| variable | read by | default | valid | meaning |", "|---|---|---|---|---|"]
    for row in SETTINGS:
        readers = ", ".join(row.readers) if row.readers != _ALL else "all"
        cells = (f"`{row.name}`", readers, row.show_default(), row.expected(), row.help)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def effective(component: str, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """``component``'s settings as ``(name, value, "set" or "default")``, keys hidden.

    Raises:
        ConfigError: a variable is malformed.
    """
    from .config import read

    values = read(component, env)
    out = []
    for row in SETTINGS:
        if component in row.readers:
            value = values[row.name]
            shown = (
                "(hidden)"
                if row.secret and value
                else (row.show_default() if value is None else str(value))
            )
            out.append((row.name, shown, "set" if env.get(row.name) else "default"))
    return out
