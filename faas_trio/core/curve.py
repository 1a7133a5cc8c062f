"""CurveZMQ between components: who each process is, and whom each server lets in.

Every link between components is encrypted and authenticated with CurveZMQ (built into
libzmq). Each role has a key pair; a server knows its own secret key and answers only
clients whose public key belongs to a role allowed to call it (:data:`CLIENTS_OF`), and a
client knows the public key of the server it calls, so neither side can be impersonated.

Where the keys come from, for the role a process runs as (:func:`identity_from_env`):

- ``FAAS_CURVE_SECRET`` (this role's secret key, Z85) and ``FAAS_CURVE_PUBLIC``
  (``role=key,...``: the public keys of the roles it talks to), as containers get them from
  secrets; else
- the directory ``FAAS_CURVE_KEYS`` (default ``$FAAS_HOME/keys``) as ``faas-trio keys``
  writes it: ``<role>.key`` (public) and ``<role>.key_secret`` (secret, mode 0600). A
  container needs only its own role's secret file and the public files.
- ``FAAS_CURVE=off`` turns it off (plain TCP, anyone who reaches a port is trusted): only for
  a network nobody else can reach.

Who checks: libzmq asks the ZAP handler of the server's context for every new connection;
:func:`serve_zap` is that handler, :class:`zmq.auth.base.Authenticator` driven by a trio
task (the library's thread-based authenticator would need a bare thread). Each server gets a
context of its own, so its handler lives and dies with it.

This module and :mod:`.rpc` are the only ones that import :mod:`zmq`.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trio
import zmq
import zmq.auth
from zmq.auth.base import Authenticator

from .config import ConfigError, value
from .socket_io import SocketIO

__all__ = [
    "CLIENTS_OF",
    "ROLES",
    "CurveIdentity",
    "configure_client",
    "configure_server",
    "ensure_keys",
    "identity_from_env",
    "install",
    "installed",
    "keys_dir",
    "wants_key_files",
    "serve_zap",
]

log = logging.getLogger("faas.curve")

#: Every role that has a key pair.
ROLES = ("dbmanager", "jqmanager", "frontend", "worker", "scaler", "supervisor")
#: Server role -> the roles whose clients it answers.
CLIENTS_OF: Mapping[str, tuple[str, ...]] = {
    "dbmanager": ("frontend", "jqmanager"),
    "jqmanager": ("frontend", "worker", "scaler"),
    "supervisor": ("scaler",),
}
_ZAP_DOMAIN = "faas"

# The identity of this process, like libzmq's own context a process-wide fact: set once by
# the component's entry point (:func:`install`), read by every socket :mod:`.rpc` opens.
# None (the default, and in-process tests): plain TCP.
_installed: list[CurveIdentity | None] = [None]


@dataclass(frozen=True)
class CurveIdentity:
    """One process's keys: its role's pair and the public keys of the other roles (Z85)."""

    role: str
    public: bytes
    secret: bytes = field(repr=False)
    publics: Mapping[str, bytes]

    def server_key(self, peer: str) -> bytes:
        """The public key of the ``peer`` role's server.

        Raises:
            ConfigError: it is not known.
        """
        key = self.publics.get(peer)
        if key is None:
            raise ConfigError(f"no CurveZMQ public key for {peer} (FAAS_CURVE_PUBLIC or keys)")
        return key

    def allowed_clients(self) -> frozenset[bytes]:
        """Public keys of the clients this role's server answers."""
        return frozenset(
            self.publics[role] for role in CLIENTS_OF.get(self.role, ()) if role in self.publics
        )


def install(identity: CurveIdentity | None) -> None:
    """Make every socket this process opens from now on use ``identity`` (None: none)."""
    _installed[0] = identity


def installed() -> CurveIdentity | None:
    """The identity :func:`install` set, if any."""
    return _installed[0]


def keys_dir(env: Mapping[str, str] | None = None) -> Path:
    """``FAAS_CURVE_KEYS``, else ``$FAAS_HOME/keys`` (FAAS_HOME defaults to ``./.faas``)."""
    explicit = value("FAAS_CURVE_KEYS", env)
    if explicit:
        return Path(explicit).absolute()
    return Path(value("FAAS_HOME", env)).absolute() / "keys"


def wants_key_files(env: Mapping[str, str] | None = None) -> bool:
    """Whether CurveZMQ is on and its keys come from the key directory (not the environment)."""
    return value("FAAS_CURVE", env) == "on" and not value("FAAS_CURVE_SECRET", env)


def ensure_keys(directory: Path, *, force: bool = False) -> list[str]:
    """Create a key pair for every role that has none in ``directory`` (all of them with
    ``force``); the roles created. The directory is made 0700, secret files are 0600."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    made = []
    for role in ROLES:
        secret_file = directory / f"{role}.key_secret"
        if secret_file.exists() and not force:
            continue
        for suffix in (".key", ".key_secret"):
            (directory / f"{role}{suffix}").unlink(missing_ok=True)
        # create_certificates writes the secret file 0600 and the public one 0644.
        zmq.auth.create_certificates(str(directory), role)
        os.chmod(secret_file, 0o600)
        made.append(role)
    return made


def _parse_publics(raw: str) -> dict[str, bytes]:
    publics = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        role, sep, key = item.partition("=")
        if not sep or role not in ROLES or len(key) != 40:
            raise ConfigError(
                f"FAAS_CURVE_PUBLIC entry {item[:20]!r}: want role=<40-character Z85 key>"
            )
        publics[role] = key.encode()
    return publics


def _from_directory(role: str, directory: Path) -> CurveIdentity:
    secret_file = directory / f"{role}.key_secret"
    if not secret_file.exists():
        raise ConfigError(
            f"no CurveZMQ key for {role} in {directory}: run `faas-trio keys` (FAAS_HOME or "
            "FAAS_CURVE_KEYS names the folder), set FAAS_CURVE_SECRET and FAAS_CURVE_PUBLIC, "
            "or FAAS_CURVE=off on a network nobody else can reach"
        )
    if os.stat(secret_file).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{secret_file} may be read by others: chmod 600 it")
    public, secret = zmq.auth.load_certificate(str(secret_file))
    assert secret is not None
    publics = {}
    for other in ROLES:
        public_file = directory / f"{other}.key"
        if public_file.exists():
            publics[other] = zmq.auth.load_certificate(str(public_file))[0]
    return CurveIdentity(role, public, secret, publics)


def identity_from_env(role: str, env: Mapping[str, str] | None = None) -> CurveIdentity | None:
    """The keys ``role`` runs with (see the module docstring); None when ``FAAS_CURVE=off``.

    Raises:
        ConfigError: no keys, or malformed ones; the message says what to set.
    """
    if value("FAAS_CURVE", env) == "off":
        return None
    secret = value("FAAS_CURVE_SECRET", env)
    if secret:
        if len(secret) != 40:
            raise ConfigError("FAAS_CURVE_SECRET: want a 40-character Z85 secret key")
        try:
            public = zmq.curve_public(secret.encode())
        except (zmq.ZMQError, ValueError) as exc:
            raise ConfigError(f"FAAS_CURVE_SECRET is not a Z85 key: {exc}") from None
        publics = _parse_publics(value("FAAS_CURVE_PUBLIC", env) or "")
        return CurveIdentity(role, public, secret.encode(), publics)
    return _from_directory(role, keys_dir(env))


def configure_client(sock: zmq.Socket[bytes], identity: CurveIdentity, peer: str) -> None:
    """Make ``sock`` a CurveZMQ client of the ``peer`` role's server (before connecting)."""
    sock.curve_secretkey = identity.secret
    sock.curve_publickey = identity.public
    sock.curve_serverkey = identity.server_key(peer)


def configure_server(sock: zmq.Socket[bytes], identity: CurveIdentity) -> None:
    """Make ``sock`` a CurveZMQ server whose clients the ZAP handler checks (before binding)."""
    sock.curve_secretkey = identity.secret
    sock.curve_publickey = identity.public
    sock.curve_server = True
    sock.zap_domain = _ZAP_DOMAIN.encode()


class _AllowList:
    """The credentials provider of :meth:`Authenticator.configure_curve_callback`."""

    def __init__(self, allowed: frozenset[bytes]) -> None:
        self._allowed = allowed

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self._allowed:
            return True
        log.warning("refused a connection with an unknown CurveZMQ key %s", key[:8].decode())
        return False


async def serve_zap(
    context: zmq.Context[zmq.Socket[bytes]],
    identity: CurveIdentity,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer ``context``'s ZAP requests: a client is let in only with an allowed key.
    ``task_status.started()`` once the handler is bound (before any server socket of the
    context binds, so that no connection is ever let in unchecked).

    Cancellation: runs until cancelled; then closes the handler's socket.
    """
    auth = Authenticator(context, log=log)
    auth.start()
    try:
        auth.configure_curve_callback(_ZAP_DOMAIN, _AllowList(identity.allowed_clients()))
        io = SocketIO(auth.zap_socket)
        task_status.started()
        try:
            while True:
                request = await io.receive()
                # Only this task uses the socket, and the check never awaits anything.
                await auth.handle_zap_message(request)
        finally:
            io.notify_closing()
    finally:
        auth.stop()
