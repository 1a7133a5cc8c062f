"""The settings the frontend, the jqmanager and the dbmanager read: rows of the one settings
table (:mod:`.settings`), which joins them in this order."""

from __future__ import annotations

from .config import Setting

__all__ = ["SERVICE_SETTINGS"]

_MIB = 1 << 20
_DAY = 24 * 3600.0

S = Setting

#: Rows of :data:`.settings.SETTINGS`, in its order.
SERVICE_SETTINGS: tuple[Setting, ...] = (
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
)
