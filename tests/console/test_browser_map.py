"""A map in the web console: the group page's progress bar reaches 100 % and shows the
results in input order, in a real headless Chromium against a real platform."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from faas_trio.client import Client

from .conftest import StartPlatform
from .pages import (
    STEP_TIMEOUT,
    console_errors,
    deploy,
    find,
    go,
    set_value,
    shoot,
    sign_in,
    wait_text,
)

PY_SQUARE = "def square(x):\n    return x * x\n"


async def test_a_map_shows_its_progress_and_results(
    platform: StartPlatform, browser: WebDriver, screenshots: Path
) -> None:
    up = await platform()
    sign_in(browser, up.url, "ann")
    with Client(up.url, user="ann") as client:
        client.create_user("ann")
    deploy(browser, up.url, "square", "python", PY_SQUARE)
    set_value(browser, "#map-inputs", "".join(f"[{i}]\n" for i in range(300)))
    find(browser, "#map button[type=submit]").click()
    assert wait_text(browser, "#group-done", "100 %") == "300 / 300 done (100 %)"
    assert browser.execute_script("return document.getElementById('group-progress').value") == 300
    cells = "return [...document.querySelectorAll('#group-results td')].map(e => e.textContent)"
    WebDriverWait(browser, STEP_TIMEOUT).until(
        lambda d: d.execute_script(cells)[:6] == ["0", "succeeded", "0", "1", "succeeded", "1"]
    )
    assert "The first 200 of 300 items." in find(browser, "#group-results").text
    shoot(browser, screenshots, "group")
    go(browser, up.url, "groups")
    assert "square" in wait_text(browser, "main table", "300")
    shoot(browser, screenshots, "groups")
    assert console_errors(browser) == []
