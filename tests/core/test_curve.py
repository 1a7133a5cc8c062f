"""CurveZMQ on the component links: keys, and servers that answer only allowed clients.

Real sockets over TCP: a jqmanager-role server answers a worker's key, and gives nothing
(no reply, no error) to a client without CurveZMQ, to a client with a key of its own
making, and to a role it does not serve.
"""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path

import pytest
import trio

from faas_trio.core.config import ConfigError
from faas_trio.core.curve import CurveIdentity, ensure_keys, identity_from_env
from faas_trio.core.errors import PeerUnavailable
from faas_trio.core.messages import Message, Ping, Pong
from faas_trio.core.rpc import open_client, serve_rpc

#: How long a refused client waits for an answer that must never come.
REFUSED_WAIT = 1.5


async def _pong(request: Message) -> Message:
    return Pong(component="jqmanager")


def _identities(tmp_path: Path) -> dict[str, CurveIdentity]:
    ensure_keys(tmp_path / "keys")
    env = {"FAAS_CURVE_KEYS": str(tmp_path / "keys")}
    found = {}
    for role in ("jqmanager", "worker", "dbmanager", "frontend"):
        identity = identity_from_env(role, env)
        assert identity is not None
        found[role] = identity
    return found


def test_keys_are_private_and_kept(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = ensure_keys(keys)
    assert "worker" in made and "supervisor" in made
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(keys / "worker.key_secret").st_mode) == 0o600
    before = (keys / "worker.key_secret").read_bytes()
    assert ensure_keys(keys) == []
    assert (keys / "worker.key_secret").read_bytes() == before
    ensure_keys(keys, force=True)
    assert (keys / "worker.key_secret").read_bytes() != before


def test_keys_from_the_environment_and_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="faas-trio keys"):
        identity_from_env("worker", {"FAAS_HOME": str(tmp_path)})
    assert identity_from_env("worker", {"FAAS_CURVE": "off"}) is None
    ensure_keys(tmp_path / "keys")
    from_dir = identity_from_env("worker", {"FAAS_HOME": str(tmp_path)})
    assert from_dir is not None
    os.chmod(tmp_path / "keys" / "worker.key_secret", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        identity_from_env("worker", {"FAAS_HOME": str(tmp_path)})
    env = {
        "FAAS_CURVE_SECRET": from_dir.secret.decode(),
        "FAAS_CURVE_PUBLIC": f"jqmanager={from_dir.publics['jqmanager'].decode()}",
    }
    from_env = identity_from_env("worker", env)
    assert from_env is not None and from_env.public == from_dir.public
    assert from_env.server_key("jqmanager") == from_dir.publics["jqmanager"]
    with pytest.raises(ConfigError, match="dbmanager"):
        from_env.server_key("dbmanager")
    with pytest.raises(ConfigError, match="FAAS_CURVE_PUBLIC"):
        identity_from_env("worker", {**env, "FAAS_CURVE_PUBLIC": "jqmanager=short"})


async def test_a_server_answers_only_the_clients_it_allows(tmp_path: Path) -> None:
    ids = _identities(tmp_path)
    ensure_keys(tmp_path / "other")
    own = identity_from_env("worker", {"FAAS_CURVE_KEYS": str(tmp_path / "other")})
    assert own is not None
    stranger = CurveIdentity("worker", own.public, own.secret, dict(ids["worker"].publics))
    async with trio.open_nursery() as nursery:
        endpoint = await nursery.start(
            partial(serve_rpc, "tcp://127.0.0.1:*", _pong, identity=ids["jqmanager"])
        )
        async with open_client(endpoint, peer="jqmanager", identity=ids["worker"]) as worker:
            assert await worker.call(Ping(), timeout=5) == Pong(component="jqmanager")
        async with open_client(endpoint, peer="jqmanager", identity=ids["frontend"]) as front:
            assert await front.call(Ping(), timeout=5) == Pong(component="jqmanager")
        refused = [
            open_client(endpoint, identity=None),  # no CurveZMQ at all
            open_client(endpoint, peer="jqmanager", identity=stranger),  # a key of its own
            open_client(endpoint, peer="jqmanager", identity=ids["dbmanager"]),  # not served
        ]
        for opening in refused:
            async with opening as client:
                with pytest.raises(PeerUnavailable):
                    await client.call(Ping(), timeout=REFUSED_WAIT)
        nursery.cancel_scope.cancel()


def test_the_keys_command_writes_every_pair_and_prints_them_for_containers(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    env = {**os.environ, "FAAS_CURVE_KEYS": str(tmp_path / "keys")}
    done = subprocess.run(
        [sys.executable, "-m", "faas_trio", "keys", "--env"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    public = next(line for line in lines if line.startswith("FAAS_CURVE_PUBLIC="))
    secret = next(line for line in lines if line.startswith("worker: FAAS_CURVE_SECRET="))
    from_env = identity_from_env(
        "worker",
        {
            "FAAS_CURVE_PUBLIC": public.split("=", 1)[1],
            "FAAS_CURVE_SECRET": secret.split("=", 1)[1],
        },
    )
    from_files = identity_from_env("worker", env)
    assert from_env is not None and from_files is not None
    assert from_env.public == from_files.public and from_env.publics == from_files.publics
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "jqmanager.key_secret").st_mode) == 0o600
