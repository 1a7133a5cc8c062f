"""Routes for a user's secrets: ``PUT`` (write-only), ``GET`` (names only), ``DELETE``.

``PUT /u/:u/secrets/:name`` takes the raw body as the value (UTF-8, at most
:data:`~faas_trio.core.secrets.MAX_SECRET_BYTES`), seals it here (:mod:`faas_trio.core.secrets`)
and stores only the sealed token. No route ever answers a value; a function that names a
secret gets it as an environment variable of its sandbox. Secrets are per user: a function
can name only its own user's.
"""

from __future__ import annotations

from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import BadRequest, InternalError, PayloadTooLarge
from ..core.messages import DeleteSecret, ListSecrets, PutSecret
from ..core.secrets import MAX_SECRET_BYTES, SECRET_NAME, lazy_secret_box
from . import inputs
from .auth import Auth
from .peers import Peers
from .responses import envelope

__all__ = ["register"]


def _check_secret_name(name: str) -> str:
    if SECRET_NAME.fullmatch(name) is None:
        raise BadRequest(
            "a secret name is an environment variable name: A-Z a-z 0-9 _, not starting with"
            " a digit, at most 64"
        )
    return name


def register(app: QuartTrio, peers: Peers, auth: Auth) -> None:
    """Add the ``/u/<user>/secrets`` routes to ``app``."""
    # Loaded at first use: a frontend that never sees a secret needs no key.
    box = lazy_secret_box(lambda why: InternalError(f"secrets cannot be sealed: {why}"))

    @app.put("/u/<user>/secrets/<name>")
    async def put_secret(user: str, name: str) -> TrioResponse:
        """Create or replace a secret; the raw body is its value. res: 1.

        Cancellation: blocks reading the body, then on dbmanager; a cancel may leave the
        write done or not.
        """
        user = inputs.check_name("user", user)
        name = _check_secret_name(name)
        await auth.require_user(user)
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        if len(body) > MAX_SECRET_BYTES:
            raise PayloadTooLarge(f"a secret's value is at most {MAX_SECRET_BYTES} bytes")
        value = inputs.body_text(body)
        if value == "" or "\0" in value:
            raise BadRequest("a secret's value is the request body: not empty, no NUL")
        await peers.ask_db(PutSecret(user, name, box().seal(value)))
        await peers.forget_functions(user)
        return envelope(1)

    @app.get("/u/<user>/secrets")
    async def list_secrets(user: str) -> TrioResponse:
        """The names of the user's secrets, sorted (never their values).

        Cancellation: blocks on dbmanager; nothing changes.
        """
        user = inputs.check_name("user", user)
        await auth.require_user(user)
        return envelope((await peers.ask_db(ListSecrets(user))).names)

    @app.delete("/u/<user>/secrets/<name>")
    async def delete_secret(user: str, name: str) -> TrioResponse:
        """Remove a secret. res: 1; 404 when there is none of that name.

        Cancellation: blocks on dbmanager; a cancel may leave the write done or not.
        """
        user = inputs.check_name("user", user)
        name = _check_secret_name(name)
        await auth.require_user(user)
        await peers.ask_db(DeleteSecret(user, name))
        await peers.forget_functions(user)
        return envelope(1)
