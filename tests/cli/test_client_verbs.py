"""The client verbs of ``faas-trio`` against a real platform: subprocesses, real HTTP, both
auth modes, exit codes, piped output and what a terminal shows."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

from faas_trio.cli.target import read_profile

from .conftest import StartPlatform
from .runner import Cli

PY_ADD = "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"
PY_BOOM = "def boom():\n    raise ValueError('no good')\n"
PY_SLOW = "import time\n\ndef slow(s):\n    time.sleep(s)\n    return s\n"
JS_MUL = "async function mul(a, b) { return a * b; }\n"


def _files(folder: Path) -> None:
    for name, text in {
        "add.py": PY_ADD,
        "boom.py": PY_BOOM,
        "slow.py": PY_SLOW,
        "mul.js": JS_MUL,
    }.items():
        (folder / name).write_text(text)


def _profile_mode(home: Path) -> int:
    return stat.S_IMODE((home / ".config" / "faas-trio" / "config.toml").stat().st_mode)


async def test_open_mode_deploy_invoke_jobs_and_exit_codes(
    platform: StartPlatform, tmp_path: Path, free_ports: Callable[[int], list[int]]
) -> None:
    up = await platform()
    home = tmp_path / "user-home"
    home.mkdir()
    _files(home)
    cli = Cli(home)
    login = cli("login", up.url, "--user", "ann")
    assert login.code == 0 and "config.toml" in login.out, login
    assert read_profile(home / ".config/faas-trio/config.toml") == {
        "url": up.url,
        "user": "ann",
    }
    assert _profile_mode(home) == 0o600

    assert cli("user", "create", "ann").code == 0
    deployed = cli("fn", "deploy", "add.py")  # the name comes from the file's function
    assert deployed.code == 0, deployed
    assert "deployed add (python, version 1, build ready)" in deployed.out, deployed
    assert cli("fn", "deploy", "mul.js", "--name", "times").code == 0
    assert cli("fn", "deploy", "boom.py").code == 0
    assert cli("fn", "deploy", "slow.py", "--timeout", "30").code == 0

    listed = cli("fn", "ls").out.splitlines()  # piped: one tab-separated row per function
    assert [row.split("\t")[:3] for row in listed] == [
        ["add", "python", "1"],
        ["boom", "python", "1"],
        ["slow", "python", "1"],
        ["times", "node", "1"],
    ]
    assert cli("fn", "get", "add").out == PY_ADD
    assert json.loads(cli("fn", "get", "times", "--json").out)["runtime"] == "node"

    assert cli("invoke", "add", "4", "7").out == "11\n"
    assert cli("invoke", "add", '"a"', "b").out == "ab\n"  # not JSON: a string
    assert cli("invoke", "times", "6", "7").out == "42\n"
    record = json.loads(cli("invoke", "add", "[1]", "[2]", "--json").out)
    assert (record["state"], record["value"]) == ("succeeded", [1, 2])

    job_id = cli("invoke", "add", "1", "2", "--async").out.strip()
    assert cli("job", "res", job_id, "--wait", "20").out == "3\n"
    assert "adding 1 2" in cli("logs", job_id, "--follow").out
    assert "adding 1 2" in cli("job", "logs", job_id).out
    assert json.loads(cli("job", "get", job_id, "--json").out)["state"] == "succeeded"
    assert job_id in [j["id"] for j in json.loads(cli("jobs", "--json").out)]
    succeeded = cli("jobs", "--state", "succeeded", "--limit", "2").out.splitlines()
    assert len(succeeded) == 2 and all("\tsucceeded\t" in row for row in succeeded)

    slow_id = cli("invoke", "slow", "30", "--async").out.strip()
    assert cli("job", "cancel", slow_id).code == 0
    gone = cli("job", "get", slow_id)
    assert gone.code == 3 and "404" in gone.err

    # Exit codes: 1 the call failed, 2 usage, 3 refused, 4 unreachable (URL named).
    failed = cli("invoke", "boom")
    assert failed.code == 1 and "no good" in failed.err, failed
    timed_out = cli("invoke", "slow", "5", "--wait", "0.5")
    assert timed_out.code == 1 and "not finished" in timed_out.err, timed_out
    assert cli("invoke").code == 2
    assert cli("fn", "deploy", "add.py", "--env", "novalue").code == 2
    refused = cli("invoke", "nope", "1")
    assert refused.code == 3 and "404" in refused.err, refused
    (port,) = free_ports(1)
    unreachable = cli("fn", "ls", "--url", f"http://127.0.0.1:{port}")
    assert unreachable.code == 4 and f"http://127.0.0.1:{port}" in unreachable.err

    assert cli("fn", "rm", "times").code == 0
    assert cli("fn", "get", "times").code == 3

    # On a terminal: rich tables and highlighted source.
    table = cli.on_terminal("fn", "ls")
    assert table.code == 0 and "┃ name " in table.screen and "│ add " in table.screen, table.out
    jobs_table = cli.on_terminal("jobs", "--limit", "3")
    assert "┃ id " in jobs_table.screen and "succeeded" in jobs_table.screen, jobs_table.out
    source = cli.on_terminal("fn", "get", "add")
    assert "\x1b[" in source.out and "adding" in source.out, source.out


async def test_keys_mode_user_create_saves_the_key_once(
    platform: StartPlatform, tmp_path: Path
) -> None:
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY="admin-key-0123456789abcdef")
    home = tmp_path / "user-home"
    home.mkdir()
    _files(home)
    cli = Cli(home, FAAS_URL=up.url)
    created = cli("user", "create", "bob", "--save")
    assert created.code == 0, created
    key = created.out.splitlines()[0]
    assert key.startswith("bob.") and len(key) > 40
    assert read_profile(home / ".config/faas-trio/config.toml") == {
        "url": up.url,
        "key": key,
        "user": "bob",
    }
    assert _profile_mode(home) == 0o600

    assert cli("fn", "deploy", "add.py").code == 0  # the key from the profile
    assert cli("invoke", "add", "1", "2").out == "3\n"
    ann = json.loads(cli("user", "create", "ann", "--json").out)
    assert ann["user"] == "ann" and ann["api_key"].startswith("ann.")

    wrong = cli("fn", "ls", FAAS_KEY="bob." + "A" * 43)
    assert wrong.code == 3 and "401" in wrong.err, wrong
    other = cli("fn", "ls", "--user", "ann")  # bob's key on ann's functions
    assert other.code == 3 and "403" in other.err, other
    as_ann = cli("fn", "ls", "--key", ann["api_key"], "--json")
    assert as_ann.code == 0 and json.loads(as_ann.out) == []
