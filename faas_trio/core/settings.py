"""The settings table: every environment variable faas-trio reads, once.

One row per variable (two for ``PORT`` and ``DB_URL``, whose meaning the old system made
depend on the component). Readers: ``frontend``, ``dbmanager``, ``jqmanager``, ``worker``,
``scaler``, ``up`` (the supervisor). Adding a setting is one row here plus the field that
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

__all__ = ["COMPONENTS", "SETTINGS", "effective", "markdown_table"]

#: Every component that reads settings, in the order ``faas-trio config`` prints them.
COMPONENTS = ("up", "frontend", "dbmanager", "jqmanager", "worker", "scaler")

_ALL = COMPONENTS
_MIB = 1 << 20
_DAY = 24 * 3600.0

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
        help="the store: `sqlite:///abs/path.db`, `sqlite:rel.db` or `mongodb://…`",
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
    # ---- frontend ------------------------------------------------------------------------
    S(
        name="FAAS_AUTH",
        type=str,
        default=None,
        readers=("frontend", "jqmanager"),
        choices=("keys", "open"),
        shown="open on loopback, else keys",
        help="`keys`: every request needs a user's key; `open`: the old API, no keys",
    ),
    S(
        name="FAAS_ADMIN_KEY",
        type=str,
        default=None,
        readers=("frontend",),
        low=16,
        secret=True,
        help="a key that may do anything (at least 16 characters)",
    ),
    S(
        name="FAAS_CALLBACK_ALLOW",
        type=str,
        default="",
        readers=("frontend",),
        shown="empty: callbacks refused",
        help="hosts (`host` or `host:port`, comma-separated) `?callback=` may name",
    ),
    S(
        name="FAAS_KEY_CACHE_TTL",
        type=float,
        default=5.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="seconds a user's key hash is reused before it is read again",
    ),
    S(
        name="FAAS_DEFAULT_TIMEOUT",
        type=float,
        default=60.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="seconds a function may run when its registration sets none",
    ),
    S(
        name="FAAS_MAX_TIMEOUT",
        type=float,
        default=900.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="the largest `?timeout=` a function may ask for",
    ),
    S(
        name="FAAS_DEFAULT_MEMORY_MB",
        type=int,
        default=256,
        readers=("frontend", "worker"),
        low=1,
        help="MB of memory of a function that sets none",
    ),
    S(
        name="FAAS_MAX_MEMORY_MB",
        type=int,
        default=4096,
        readers=("frontend",),
        low=1,
        help="the largest `?memory_mb=` a function may ask for",
    ),
    S(
        name="FAAS_MAX_BODY",
        type=int,
        default=_MIB,
        readers=("frontend",),
        low=1,
        help="bytes of a request body at most (413 beyond)",
    ),
    S(
        name="FAAS_MAP_MAX_ITEMS",
        type=int,
        default=100_000,
        readers=("frontend",),
        low=1,
        help="items of one map at most (413 beyond)",
    ),
    S(
        name="FAAS_MAP_MAX_BODY",
        type=int,
        default=64 * _MIB,
        readers=("frontend",),
        low=1,
        help="bytes of a map's body at most (413 beyond)",
    ),
    S(
        name="FAAS_MAX_WAIT",
        type=float,
        default=60.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="the longest `?wait=` a request may hold, seconds",
    ),
    S(
        name="FAAS_RPC_TIMEOUT",
        type=float,
        default=5.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="seconds a call to dbmanager or jqmanager may take beyond its wait",
    ),
    S(
        name="FAAS_READY_TIMEOUT",
        type=float,
        default=1.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="seconds each ping made by `/readyz` may take",
    ),
    S(
        name="FAAS_MAX_FUNCTIONS",
        type=int,
        default=200,
        readers=("frontend",),
        low=1,
        help="functions one user may hold (429 beyond)",
    ),
    S(
        name="FAAS_MAX_SOURCE_BYTES",
        type=int,
        default=8 * _MIB,
        readers=("frontend",),
        low=1,
        help="bytes all of one user's function sources may add up to (413 beyond)",
    ),
    S(
        name="FAAS_REGISTRATION",
        type=str,
        default="open",
        readers=("frontend",),
        choices=("open", "admin"),
        help="who creates users in keys mode: `open` (anyone, at FAAS_REGISTRATION_RATE) or"
        " `admin` (the admin key only)",
    ),
    S(
        name="FAAS_REGISTRATION_RATE",
        type=float,
        default=20.0,
        readers=("frontend",),
        low=0,
        above=True,
        help="new users one client address may create an hour in keys mode (429"
        " beyond; the admin key is not limited)",
    ),
    # ---- jqmanager -----------------------------------------------------------------------
    S(
        name="FAAS_MAX_QUEUE",
        type=int,
        default=1_000_000,
        readers=("jqmanager",),
        low=1,
        help="queued jobs at most, each item of a map counted (429 beyond)",
    ),
    S(
        name="FAAS_USER_MAX_ACTIVE",
        type=int,
        default=100_000,
        readers=("jqmanager",),
        low=1,
        help="queued plus running jobs per user at most, each item of a map counted (429"
        " beyond); the default admits one map of `FAAS_MAP_MAX_ITEMS`",
    ),
    S(
        name="FAAS_USER_RATE",
        type=float,
        default=None,
        readers=("jqmanager",),
        low=0,
        shown="0 (no limit) in open mode; 6000 with `FAAS_AUTH=keys`",
        help="submissions (a call or a whole map) per user and minute, over all frontends;"
        " 0: no limit (429 beyond)",
    ),
    S(
        name="FAAS_MAX_BATCH",
        type=int,
        default=16,
        readers=("jqmanager",),
        low=1,
        high=1000,
        help="queued jobs of one function a worker slot takes in one dispatch",
    ),
    S(
        name="FAAS_LEASE_TIMEOUT",
        type=float,
        default=3.0,
        readers=("jqmanager",),
        low=0,
        above=True,
        help="seconds without heartbeats after which a worker is lost",
    ),
    S(
        name="FAAS_MAX_ATTEMPTS",
        type=int,
        default=3,
        readers=("jqmanager",),
        low=1,
        help="dispatches of one job at most; then it fails with `worker lost`",
    ),
    S(
        name="FAAS_DISPATCH_GRACE",
        type=float,
        default=1.0,
        readers=("jqmanager",),
        low=0,
        above=True,
        help="seconds a fresh dispatch may be missing from its worker's heartbeats",
    ),
    # ---- dbmanager -----------------------------------------------------------------------
    S(
        name="FAAS_JOB_RETENTION",
        type=float,
        default=7 * _DAY,
        readers=("dbmanager",),
        low=0,
        above=True,
        shown="604800 (7 days)",
        help="seconds a finished job and its logs are kept",
    ),
    S(
        name="FAAS_SWEEP_INTERVAL",
        type=float,
        default=3600.0,
        readers=("dbmanager",),
        low=0,
        above=True,
        help="seconds between two sweeps of expired jobs",
    ),
    S(
        name="FAAS_MAX_STORED_BYTES",
        type=int,
        default=4 << 30,
        readers=("dbmanager",),
        low=1,
        shown="4294967296 (4 GiB)",
        help="bytes of arguments, results and logs one user's jobs may hold in the store; a"
        " call or map past it is refused (413)",
    ),
    S(
        name="FAAS_SQLITE_SYNC",
        type=str,
        default="full",
        readers=("dbmanager",),
        choices=("full", "normal"),
        help="SQLite commits: `full` survive a power loss; `normal` (faster) a process crash only",
    ),
    # ---- worker --------------------------------------------------------------------------
    S(
        name="FAAS_WORKER_CONCURRENCY",
        type=int,
        default=4,
        readers=("worker", "scaler"),
        low=1,
        help="jobs one worker runs at once",
    ),
    S(
        name="FAAS_DRAIN_TIMEOUT",
        type=float,
        default=4.0,
        readers=("worker", "up"),
        low=0,
        help="on stop, seconds running jobs may take before they are handed back",
    ),
    S(
        name="FAAS_WARM_TTL",
        type=float,
        default=60.0,
        readers=("worker",),
        low=0,
        help="seconds an idle warm process is kept",
    ),
    S(
        name="FAAS_WARM_MAX",
        type=int,
        default=16,
        readers=("worker",),
        low=1,
        help="idle warm processes per worker at most",
    ),
    S(
        name="FAAS_LOG_CAP",
        type=int,
        default=_MIB,
        readers=("worker",),
        low=1,
        help="bytes of a call's output kept",
    ),
    S(
        name="FAAS_RESULT_CAP",
        type=int,
        default=_MIB,
        readers=("worker",),
        low=1,
        help="bytes a call's result may have (larger: the call fails, `ResultTooLarge`)",
    ),
    S(
        name="FAAS_INIT_TIMEOUT",
        type=float,
        default=10.0,
        readers=("worker",),
        low=0,
        help="seconds to start a sandbox and load a function's source",
    ),
    S(
        name="FAAS_SANDBOX_PYTHON",
        type=str,
        default=None,
        readers=("worker", "dbmanager"),
        shown="/usr/bin/python3, else this Python",
        help="the interpreter of Python functions (the dbmanager resolves packages for it)",
    ),
    S(
        name="FAAS_NODE",
        type=str,
        default=None,
        readers=("worker",),
        shown="node on PATH",
        help="the Node.js executable of JavaScript functions",
    ),
    S(
        name="FAAS_SANDBOX_UID_BASE",
        type=int,
        default=2_000_000_000,
        readers=("worker",),
        low=1,
        help="the first uid sandboxes run as (in no range systemd assigns; a range overlapping"
        " its DynamicUser uids 61184-65519 is refused)",
    ),
    S(
        name="FAAS_SANDBOX_UID_COUNT",
        type=int,
        default=1000,
        readers=("worker",),
        low=1,
        help="uids sandboxes may use, shared by all workers (>= concurrency + warm max)",
    ),
    S(
        name="FAAS_SANDBOX_NPROC",
        type=int,
        default=64,
        readers=("worker",),
        low=1,
        help="processes and threads per sandbox",
    ),
    S(
        name="FAAS_SANDBOX",
        type=str,
        default="strict",
        readers=("worker", "frontend"),
        choices=("strict", "off"),
        help="`strict`: confine every sandbox, refuse to start when this machine cannot; `off`:"
        " run functions unconfined (not allowed with `FAAS_AUTH=keys`)",
    ),
    S(
        name="FAAS_SANDBOX_SCRATCH_MB",
        type=int,
        default=64,
        readers=("worker",),
        low=1,
        help="MB of a sandbox's scratch tmpfs (it counts towards its memory too)",
    ),
    # ---- packages and secrets --------------------------------------------------------------
    S(
        name="FAAS_PIP_INDEX_URL",
        type=str,
        default="",
        readers=("dbmanager", "worker"),
        shown="unset: pip's settings",
        help="the package index wheels come from",
    ),
    S(
        name="FAAS_PIP_FIND_LINKS",
        type=str,
        default="",
        readers=("dbmanager", "worker"),
        shown="unset",
        help="a folder or URL of wheels; without FAAS_PIP_INDEX_URL, the only source (no index)",
    ),
    S(
        name="FAAS_BUILD_TIMEOUT",
        type=float,
        default=300.0,
        readers=("dbmanager",),
        low=0,
        above=True,
        help="seconds one resolution of a function's requirements may take",
    ),
    S(
        name="FAAS_BUILDS_MAX",
        type=int,
        default=2,
        readers=("dbmanager",),
        low=1,
        help="resolutions running at once",
    ),
    S(
        name="FAAS_BUILD_LOG_CAP",
        type=int,
        default=64 * 1024,
        readers=("dbmanager",),
        low=1024,
        help="bytes of a build's output kept",
    ),
    S(
        name="FAAS_ENV_INSTALL_TIMEOUT",
        type=float,
        default=300.0,
        readers=("worker",),
        low=0,
        above=True,
        help="seconds one install of a package environment may take",
    ),
    S(
        name="FAAS_ENVS_MAX_BYTES",
        type=int,
        default=10 << 30,
        readers=("worker",),
        low=1,
        help="bytes of disk the package environments may take (LRU removal beyond)",
    ),
    S(
        name="FAAS_ZYGOTES_MAX",
        type=int,
        default=4,
        readers=("worker",),
        low=1,
        help="zygotes of package environments a worker keeps (LRU)",
    ),
    S(
        name="FAAS_ZYGOTE_PRELOAD",
        type=bool,
        default=False,
        readers=("worker",),
        help="whether an environment's zygote imports its packages (as the worker's user) "
        "before it forks",
    ),
    S(
        name="FAAS_SECRETS_KEY",
        type=str,
        default=None,
        readers=("frontend", "worker"),
        secret=True,
        shown="a key file made in FAAS_HOME",
        help="the Fernet key users' secrets are sealed with (the same for frontends and workers)",
    ),
    # ---- scaler and supervisor -----------------------------------------------------------
    S(
        name="FAAS_WORKERS",
        type=int,
        default=1,
        readers=("up",),
        low=0,
        help="worker processes `up` starts",
    ),
    S(
        name="FAAS_WORKERS_MIN",
        type=int,
        default=1,
        readers=("scaler", "up"),
        low=0,
        help="fewest workers the scaler keeps",
    ),
    S(
        name="FAAS_WORKERS_MAX",
        type=int,
        default=64,
        readers=("scaler", "up"),
        low=0,
        help="most workers the scaler starts",
    ),
    S(
        name="FAAS_SHUTDOWN_GRACE",
        type=float,
        default=4.5,
        readers=("up",),
        low=0,
        help="on stop, seconds between SIGTERM and SIGKILL of a child",
    ),
    S(
        name="FAAS_SCALER_INTERVAL",
        type=float,
        default=2.0,
        readers=("scaler",),
        low=0,
        above=True,
        help="seconds between two scaling decisions",
    ),
    S(
        name="FAAS_SCALER_POLICY",
        type=str,
        default="target",
        readers=("scaler",),
        choices=("target", "double"),
        help="`target` (work / concurrency) or `double` (the old)",
    ),
    S(
        name="FAAS_SCALER_ACTUATOR",
        type=str,
        default="local",
        readers=("scaler",),
        choices=("local", "kumori"),
        help="who runs workers: `local` (`up`) or `kumori`",
    ),
    S(
        name="FAAS_SCALE_DOWN_DELAY",
        type=float,
        default=30.0,
        readers=("scaler",),
        low=0,
        help="seconds of low demand before the worker count shrinks",
    ),
    S(
        name="FAAS_SUPERVISOR_URL",
        type=str,
        default=None,
        readers=("scaler",),
        form="endpoint",
        shown="set by `up`",
        help="the supervisor's endpoint, for the `local` actuator",
    ),
    S(
        name="KUMORI_CREDENTIALS",
        type=str,
        default="KUMORI_CREDENTIALS",
        readers=("scaler",),
        help="file with the Kumori user and password",
    ),
    S(
        name="FAAS_KUMORI_DEPLOYMENT",
        type=str,
        default="faasdep",
        readers=("scaler",),
        help="the Kumori deployment to resize",
    ),
    S(
        name="FAAS_KUMORI_MANIFESTS",
        type=str,
        default="./manifests",
        readers=("scaler",),
        help="the scaler's copy of the CUE manifests",
    ),
    S(
        name="FAAS_KUMORICTL",
        type=str,
        default="kumorictl",
        readers=("scaler",),
        help="the kumorictl executable",
    ),
    S(
        name="FAAS_KUMORICTL_TIMEOUT",
        type=float,
        default=60.0,
        readers=("scaler",),
        low=0,
        above=True,
        help="seconds one kumorictl command may take",
    ),
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
