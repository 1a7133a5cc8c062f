"""Functions with requirements through the clients: ``fn deploy --requirements`` waits for the
build (a spinner on a terminal, the build's log when it fails), and ``Client.deploy`` does the
same, against a real platform installing from the tests' own wheelhouse (no index)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.test_packages import reachable_home  # noqa: F401 (a FAAS_HOME sandboxes can enter)

from faas_trio.client import BuildFailed, Client

from .conftest import StartPlatform
from .runner import Cli

TOP = (
    "import os\nimport faasdemo_top\n\n"
    "def top():\n    return [faasdemo_top.answer(), os.environ.get('MODE')]\n"
)
SECRET = "import os\n\ndef peek():\n    return len(os.environ.get('API_TOKEN', ''))\n"


async def test_deploy_with_requirements_waits_for_the_build(
    platform: StartPlatform,
    offline_pip: Path,
    reachable_home: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    up = await platform(home=reachable_home, FAAS_PIP_FIND_LINKS=str(offline_pip))
    home = tmp_path / "user-home"
    home.mkdir()
    (home / "top.py").write_text(TOP)
    (home / "requirements.txt").write_text("faasdemo_top==2.0\nfaasdemo_base==1.0  # pinned\n")
    (home / "sdist.txt").write_text("faasdemo_sdist==1.0\n")
    cli = Cli(home, FAAS_URL=up.url, FAAS_USER="ann")
    assert cli("user", "create", "ann").code == 0

    deployed = cli(
        "fn", "deploy", "top.py", "--requirements", "requirements.txt", "--env", "MODE=fast"
    )
    assert deployed.code == 0 and "build ready" in deployed.out, deployed
    assert cli("invoke", "top").out == '[42, "fast"]\n'
    assert "ready" in cli("fn", "ls").out

    failed = cli("fn", "deploy", "top.py", "--name", "bad", "--requirements", "sdist.txt")
    assert failed.code == 1 and "the build of bad failed" in failed.err, failed
    assert "faasdemo-sdist==1.0" in failed.err  # the build's own words

    with cli.terminal(
        "fn", "deploy", "top.py", "--name", "again", "--requirements", "requirements.txt"
    ) as term:
        term.read_until("deployed again")
        assert term.wait() == 0
    assert "building again's environment" in term.text  # the spinner, drawn while it waited

    with Client(up.url, user="ann") as client:
        client.set_secret("API_TOKEN", "s3cret-value")
        assert client.secrets() == ["API_TOKEN"]
        sdk_top = client.deploy("sdk_top", TOP, requirements=home / "requirements.txt")
        assert sdk_top() == [42, None]
        assert sdk_top.info()["build"]["state"] == "ready"
        assert client.deploy("peek", SECRET, secrets=["API_TOKEN"])() == len("s3cret-value")
        with pytest.raises(BuildFailed) as build_failed:
            client.deploy("sdk_bad", TOP, requirements=["faasdemo_sdist==1.0"])
        assert "faasdemo-sdist==1.0" in build_failed.value.log
