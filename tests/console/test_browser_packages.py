"""A function with requirements deployed through the console's form: the page follows its
build to ``ready`` and the call imports the package (wheels from the tests' own wheelhouse)."""

from __future__ import annotations

from pathlib import Path

from e2e.test_packages import reachable_home  # noqa: F401 (a FAAS_HOME sandboxes can enter)
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from faas_trio.client import Client

from .conftest import StartPlatform
from .pages import STEP_TIMEOUT, find, go, set_value, shoot, sign_in, type_into, wait_text

TOP = "import faasdemo_top\n\ndef top():\n    return faasdemo_top.answer()\n"


async def test_deploy_form_with_requirements_shows_the_build(
    platform: StartPlatform,
    browser: WebDriver,
    screenshots: Path,
    offline_pip: Path,
    reachable_home: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    up = await platform(home=reachable_home, FAAS_PIP_FIND_LINKS=str(offline_pip))
    with Client(up.url, user="ann") as client:
        client.create_user("ann")
    sign_in(browser, up.url, "ann")
    go(browser, up.url, "functions/new")
    type_into(browser, "#deploy-name", "top")
    Select(find(browser, "#deploy-runtime")).select_by_value("python")
    set_value(browser, "#deploy-requirements", "faasdemo_top==2.0\nfaasdemo_base==1.0\n")
    set_value(browser, "#deploy-source", TOP)
    find(browser, "#deploy button[type=submit]").click()
    wait_text(browser, "#function-name", "top")
    assert "ready" in wait_text(browser, "main table", "ready", timeout=90)
    type_into(browser, "#run-args", "[]")
    find(browser, "#run button[type=submit]").click()
    assert wait_text(browser, "#run-result .result", "42") == "42"
    shoot(browser, screenshots, "function-with-requirements")

    go(browser, up.url, "functions/top/edit")  # the form shows what was registered
    wait_text(browser, "h1", "Edit top")
    requirements = "return document.getElementById('deploy-requirements').value"
    WebDriverWait(browser, STEP_TIMEOUT).until(lambda d: d.execute_script(requirements))
    assert "faasdemo-top==2.0" in browser.execute_script(requirements).replace("_", "-")
