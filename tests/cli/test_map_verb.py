"""``faas-trio map``: results in input order, exit codes, the progress bar on a terminal, and
Ctrl-C cancelling the group, against a real platform."""

from __future__ import annotations

import json
import re
from pathlib import Path

from faas_trio.client import Client

from .conftest import StartPlatform
from .runner import Cli

PY_ADD = "def add(a, b):\n    return a + b\n"
PY_INVERSE = "def inverse(x):\n    return 1 / x\n"
PY_NAP = "import time\n\ndef nap(s):\n    time.sleep(s)\n    return s\n"


async def test_map_writes_results_in_input_order_and_draws_a_progress_bar(
    platform: StartPlatform, tmp_path: Path
) -> None:
    up = await platform()
    home = tmp_path / "user-home"
    home.mkdir()
    with Client(up.url, user="ann") as client:
        client.create_user("ann")
        client.deploy("add", PY_ADD)
        client.deploy("inverse", PY_INVERSE)
        client.deploy("nap", PY_NAP, timeout=60)
    (home / "pairs.jsonl").write_text("".join(f"[{i}, {i}]\n" for i in range(1000)))
    cli = Cli(home, FAAS_URL=up.url, FAAS_USER="ann")

    piped = cli("map", "add", "--input", "pairs.jsonl")
    assert piped.code == 0, piped
    lines = [json.loads(line) for line in piped.out.splitlines()]
    assert lines == [{"index": i, "state": "succeeded", "value": 2 * i} for i in range(1000)]
    assert piped.err == ""  # no progress bar when stderr is not a terminal

    from_stdin = cli("map", "inverse", "--input", "-", stdin="[1]\n\n4\n[0]\n")
    assert from_stdin.code == 1, from_stdin  # an item failed
    results = [json.loads(line) for line in from_stdin.out.splitlines()]
    assert [r["state"] for r in results] == ["succeeded", "succeeded", "failed"]
    assert [r.get("value") for r in results[:2]] == [1.0, 0.25]
    assert "ZeroDivisionError" in results[2]["error"]
    assert cli("map", "add", "--input", "-", stdin="[1, 2]\nnot json\n").code == 2

    # On a terminal: the bar reaches 1000/1000 with a rate; the results go to the file.
    drawn = cli.on_terminal("map", "add", "--input", "pairs.jsonl", "--output", "sums.jsonl")
    assert drawn.code == 0, drawn.out
    assert re.search(r"100%\s+1000/1000\s+[\d,]+ items/s", drawn.screen), drawn.screen
    assert "1000 results in sums.jsonl (0 not succeeded)" in drawn.screen
    sums = [json.loads(line)["value"] for line in (home / "sums.jsonl").read_text().splitlines()]
    assert sums == [2 * i for i in range(1000)]

    # Ctrl-C cancels the group: what was not final ends cancelled.
    (home / "naps.jsonl").write_text("[5]\n" * 20)
    with cli.terminal("map", "nap", "--input", "naps.jsonl", "--output", "naps.out") as term:
        term.read_until("items/s")
        term.interrupt()
        assert term.wait() == 130
        drawn_text = term.read_until("cancelled group")
    group_id = re.search(r"cancelled group ([0-9a-f]{24})", drawn_text)
    assert group_id, drawn_text
    with Client(up.url, user="ann") as client:
        group = client.run(client.api.group(group_id[1], wait=30))
    assert group["counts"]["cancelled"] >= 1 and group["counts"]["queued"] == 0, group
