"""Knock on the component ports from the intruder host: with no CurveZMQ at all, with a key
pair of its own, and (to show the port is reachable from there) with the frontend's real key.

    ip netns exec NAME-intruder python tests/multihost/intruder.py KEYS_DIR ROLE=ENDPOINT...

Prints one JSON object: ``{role: {"plain": answer, "own key": answer, "frontend key":
answer}}``, each answer ``"answered"`` or ``"nothing"``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import trio

from faas_trio.core.curve import CurveIdentity, ensure_keys, identity_from_env
from faas_trio.core.errors import PeerUnavailable
from faas_trio.core.messages import Ping
from faas_trio.core.rpc import open_client

WAIT = 2.0


async def _knock(endpoint: str, peer: str, identity: CurveIdentity | None) -> str:
    async with open_client(endpoint, peer=peer, identity=identity) as client:
        try:
            await client.call(Ping(), timeout=WAIT)
        except PeerUnavailable:
            return "nothing"
        return "answered"


async def main(keys: str, targets: list[str]) -> None:
    real = identity_from_env("frontend", {"FAAS_CURVE_KEYS": keys})
    assert real is not None
    with tempfile.TemporaryDirectory() as other:
        ensure_keys(Path(other))
        own = identity_from_env("frontend", {"FAAS_CURVE_KEYS": other})
    assert own is not None
    own = CurveIdentity("frontend", own.public, own.secret, dict(real.publics))
    found = {}
    for target in targets:
        peer, _, endpoint = target.partition("=")
        found[peer] = {
            "plain": await _knock(endpoint, peer, None),
            "own key": await _knock(endpoint, peer, own),
            "frontend key": await _knock(endpoint, peer, real),
        }
    print(json.dumps(found))


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2:])
