"""A MongoDB-protocol server for the tests, backed by mongoeco.

This is a test tool, not platform code: it runs under its own interpreter (Python >= 3.13, the
``.venv-mongo`` virtualenv, see ``tests/find_python313.sh``) and uses asyncio because mongoeco's
wire server is asyncio. Usage::

    .venv-mongo/bin/python tests/mongo_server.py [PORT] [--sqlite PATH]

PORT 0 (the default) picks a free port. Once the server accepts connections it prints one line
``MONGO_URI=<uri>`` on stdout and flushes it. It runs until SIGTERM or SIGINT, then closes its
listener and exits 0. With ``--sqlite PATH`` the data lives in that SQLite file (so a restart on
the same path keeps it); otherwise it lives in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sqlite", metavar="PATH", help="keep the data in this SQLite file")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    engine = SQLiteEngine(args.sqlite) if args.sqlite else MemoryEngine()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(engine=engine, host=args.host, port=args.port) as server:
        print(f"MONGO_URI={server.address.uri}", flush=True)
        await stop.wait()


def main() -> None:
    asyncio.run(run(parse_args(sys.argv[1:])))


if __name__ == "__main__":
    main()
