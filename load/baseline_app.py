"""The baseline: the smallest quart-trio app on hypercorn, one route answering the platform's
envelope ``{"error": false, "res": 1}``. The platform's sync throughput is reported as a ratio
of this app's, measured by the same generator on the same machine.

``python -m load.baseline_app [PORT]`` binds 127.0.0.1:PORT (default 0, a free port), prints
``http://127.0.0.1:<port>`` on one line of stdout once it serves, and runs until SIGTERM or
SIGINT, then exits 0.
"""

from __future__ import annotations

import signal
import sys

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from quart_trio import QuartTrio

__all__ = ["main", "make_app", "serve"]


def make_app() -> QuartTrio:
    """The app: ``GET /`` answers ``{"error": false, "res": 1}``."""
    app = QuartTrio("baseline")

    @app.get("/")
    async def root() -> dict[str, object]:
        return {"error": False, "res": 1}

    return app


async def serve(
    port: int = 0, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the app on 127.0.0.1:``port`` until cancelled; ``task_status.started`` gets the URL.

    Cancellation: the only way it ends; hypercorn closes its sockets on the way out.
    """
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(_serve_app, config)
        task_status.started(binds[0])


async def _serve_app(
    config: Config, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    await hypercorn_serve(make_app(), config, task_status=task_status)


async def _main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve, port)
        print(url, flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main() -> None:
    """Run the app from the command line (see the module doc)."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    trio.run(_main, port)


if __name__ == "__main__":
    main()
