"""``faas-trio keys``: write a CurveZMQ key pair for every role into ``FAAS_CURVE_KEYS``
(default ``$FAAS_HOME/keys``), which every component of a deployment then reads.

Existing pairs are kept unless ``--force`` is given. Secret files are mode 0600 in a 0700
folder. For containers, give each role its own ``<role>.key_secret`` and every
``<role>.key`` (or ``FAAS_CURVE_SECRET`` and ``FAAS_CURVE_PUBLIC``, which ``--env`` prints).
``faas-trio up`` makes the keys itself when they are missing.
"""

from __future__ import annotations

import argparse

from .verbs import Commands

__all__ = ["register"]

_HELP = "write CurveZMQ key pairs for every component role (into FAAS_HOME/keys)"


def _run(args: argparse.Namespace) -> int:
    import zmq.auth

    from ..core.curve import ROLES, ensure_keys, keys_dir

    directory = keys_dir()
    made = ensure_keys(directory, force=args.force)
    print(f"faas-trio keys: {directory} ({', '.join(made) or 'nothing new'})")
    if args.env:
        pairs = {r: zmq.auth.load_certificate(str(directory / f"{r}.key_secret")) for r in ROLES}
        publics = ",".join(f"{role}={pair[0].decode()}" for role, pair in pairs.items())
        print(f"FAAS_CURVE_PUBLIC={publics}")
        for role, (_, secret) in pairs.items():
            assert secret is not None
            print(f"{role}: FAAS_CURVE_SECRET={secret.decode()}")
    return 0


def register(commands: Commands) -> None:
    """Add ``keys``."""
    parser = commands.add_parser("keys", help=_HELP, description=__doc__)
    parser.add_argument("--force", action="store_true", help="replace existing key pairs")
    parser.add_argument(
        "--env", action="store_true",
        help="also print FAAS_CURVE_PUBLIC and each role's FAAS_CURVE_SECRET, for containers",
    )  # fmt: skip
    parser.set_defaults(run=_run)
