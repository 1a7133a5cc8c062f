"""The settings of running functions and scaling their workers (worker, packages and secrets,
scaler and supervisor): rows of the one settings table (:mod:`.settings`), which joins them in
this order."""

from __future__ import annotations

import os

from .config import Setting

__all__ = ["WORKER_SETTINGS", "default_workers_max"]

#: FAAS_WORKERS_MAX when unset with the Kumori actuator: the old scaler's ceiling.
KUMORI_WORKERS_MAX = 64

_MIB = 1 << 20

S = Setting

#: Rows of :data:`.settings.SETTINGS`, in its order.
WORKER_SETTINGS: tuple[Setting, ...] = (
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
        default=None,
        readers=("scaler", "up"),
        low=0,
        shown="2 per CPU under `up` (at least FAAS_WORKERS_MIN); 64 with kumori",
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


def default_workers_max(actuator: str, workers_min: int) -> int:
    """``FAAS_WORKERS_MAX`` when it is unset. Workers that ``up`` starts share this machine's
    CPUs, and each runs ``FAAS_WORKER_CONCURRENCY`` sandboxes: past two per CPU, more
    workers only add start-up and memory (a big map once asked for 64 on 2 CPUs and starved
    every process of its heartbeats). Kumori's workers bring their own CPUs."""
    if actuator == "kumori":
        return max(KUMORI_WORKERS_MAX, workers_min)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2 * (cpus or 1), workers_min)
