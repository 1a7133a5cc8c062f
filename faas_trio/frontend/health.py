"""Liveness and readiness probes.

``/healthz`` says the process serves HTTP. ``/readyz`` also pings dbmanager and jqmanager
(both at once, each bounded by ``ready_timeout``) and answers 503 naming those that did not
answer, so a load balancer sends no traffic to a frontend that cannot serve it.
"""

from __future__ import annotations

import trio
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.rpc import Client
from .config import FrontendConfig
from .peers import Peers
from .responses import envelope

__all__ = ["register"]


def register(app: QuartTrio, peers: Peers, config: FrontendConfig) -> None:
    """Add ``/healthz`` and ``/readyz`` to ``app``."""

    @app.get("/healthz")
    async def healthz() -> TrioResponse:
        return envelope("ok")

    @app.get("/readyz")
    async def readyz() -> TrioResponse:
        """200 "ok" when both neighbours answer a ping, else 503 naming the silent ones.

        Cancellation: blocks up to ``ready_timeout``; a cancel abandons the pings.
        """
        up = {"dbmanager": False, "jqmanager": False}

        async def check(name: str, client: Client) -> None:
            with trio.move_on_after(config.ready_timeout):
                up[name] = await peers.ping(client)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(check, "dbmanager", peers.db)
            nursery.start_soon(check, "jqmanager", peers.jq)
        down = [name for name in ("dbmanager", "jqmanager") if not up[name]]
        if down:
            return envelope(f"not ready: {', '.join(down)} not answering", 503, error=True)
        return envelope("ok")
