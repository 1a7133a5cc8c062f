"""The frontend's Quart application: the old REST API plus its extensions.

The app holds no connections of its own; it is built around :class:`~.peers.Peers` opened by
``serve`` (or by a test), so building one is cheap and every request reuses the same clients.

========================================  ==================================================
route                                     res on success
========================================  ==================================================
POST   /u/<user>                          1
DELETE /u/<user>                          1
GET    /u/<user>/time                     execution time, ms
GET    /u/<user>/fn                       {name: source}
GET    /u/<user>/fn/<fn>                  {f_name, src, runtime, timeout, memory_mb, version}
POST   /u/<user>/fn/<fn>                  1   (?runtime= ?timeout= ?memory_mb=)
DELETE /u/<user>/fn/<fn>                  1
POST   /u/<user>/fn/<fn>/run              job id; with ?wait=S the record (200 / 202)
GET    /j/<id>                            0 or 1
GET    /j/<id>/res                        result string (202 while not final; ?wait=S)
GET    /j/<id>/record                     the job record (?wait=S)
GET    /j/<id>/logs                       the job's output
DELETE /j/<id>                            1
GET    /healthz, /readyz                  "ok"
========================================  ==================================================
"""

from __future__ import annotations

from quart_trio import QuartTrio

from . import functions, health, jobs, users
from .config import FrontendConfig
from .peers import Peers
from .responses import register_error_handlers

__all__ = ["create_app"]


def create_app(config: FrontendConfig, peers: Peers) -> QuartTrio:
    """A ready-to-serve app answering every route above through ``peers``."""
    app = QuartTrio("faas_trio.frontend")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    # OPTIONS would answer an empty 200 outside the envelope; let it be a 405 instead.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    # The longest handler holds ?wait= plus an RPC deadline before it answers.
    app.config["RESPONSE_TIMEOUT"] = config.max_wait + config.rpc_timeout + 5.0
    register_error_handlers(app, max_body=config.max_body)
    users.register(app, peers)
    functions.register(app, peers, config)
    jobs.register(app, peers, config)
    health.register(app, peers, config)
    return app
