"""The web console in a real headless Chromium against a real platform: deploy through the
form, run, read the result and logs, cancel a running job, watch the overview; keys mode;
and user strings made of HTML/JS that must show as text and never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from faas_trio.client import Client, NotFound

from .conftest import StartPlatform
from .pages import (
    STEP_TIMEOUT,
    console_errors,
    deploy,
    find,
    go,
    shoot,
    sign_in,
    type_into,
    wait_text,
)

PY_ADD = "def add(a, b):\n    print('adding', a, b)\n    return a + b\n"
JS_NAP = (
    "async function nap(ms) {\n  await new Promise((r) => setTimeout(r, ms));\n  return ms;\n}\n"
)


async def test_deploy_run_logs_cancel_and_overview(
    platform: StartPlatform, browser: WebDriver, screenshots: Path
) -> None:
    up = await platform()
    browser.get(f"{up.url}/ui")
    find(browser, "#sign-in")
    shoot(browser, screenshots, "sign-in")
    type_into(browser, "#sign-in input[name=user]", "ann")
    find(browser, "#register").click()  # open mode: registers ann, no key
    wait_text(browser, "#who", "ann")

    deploy(browser, up.url, "add", "python", PY_ADD)
    assert find(browser, "#source").text == PY_ADD.rstrip("\n")
    type_into(browser, "#run-args", "[4, 7]")
    find(browser, "#run button[type=submit]").click()
    assert wait_text(browser, "#run-result .result", "11") == "11"
    assert find(browser, "#run-result [data-state]").text == "succeeded"
    shoot(browser, screenshots, "function")

    find(browser, "#run-result a").click()  # the job's page
    assert wait_text(browser, "#result", "11") == "11"
    assert "adding 4 7" in wait_text(browser, "#logs", "adding")
    shoot(browser, screenshots, "job")

    deploy(browser, up.url, "nap", "node", JS_NAP)
    go(browser, up.url, "functions")
    rows = wait_text(browser, "main table", "nap")
    assert "add python 1" in rows and "nap node 1" in rows
    shoot(browser, screenshots, "functions")

    with Client(up.url, user="ann") as client:
        napping = client.function("nap").submit(60_000)
        go(browser, up.url, f"jobs/{napping.id}")
        find(browser, "#cancel").click()
        wait_text(browser, "#cancelled", "cancelled")
        with pytest.raises(NotFound):
            napping.record()  # cancelled and removed

    go(browser, up.url, "jobs")
    wait_text(browser, "#jobs", "succeeded")
    Select(find(browser, "#state-filter")).select_by_value("succeeded")
    # Read in one script: the list is redrawn every 2 s, so elements found go stale.
    states = "return [...document.querySelectorAll('#jobs [data-state]')].map(e => e.textContent)"
    WebDriverWait(browser, STEP_TIMEOUT).until(
        lambda d: set(d.execute_script(states)) == {"succeeded"}
    )
    shoot(browser, screenshots, "jobs")

    with Client(up.url, user="ann") as client:
        naps = [client.function("nap").submit(3_000) for _ in range(4)]
    go(browser, up.url, "overview")
    WebDriverWait(browser, STEP_TIMEOUT).until(
        lambda d: d.find_element(By.ID, "value-workers").text not in ("–", "0")
    )
    # Samples every 2 s while the naps queue and run, so the charts have lines to show.
    samples = "return Number(document.getElementById('overview-status').dataset.samples || 0)"
    WebDriverWait(browser, STEP_TIMEOUT).until(lambda d: d.execute_script(samples) >= 6)
    assert browser.execute_script("return document.getElementById('chart-workers').width") > 0
    with Client(up.url, user="ann") as client:
        assert [client.job(n.id).result(timeout=STEP_TIMEOUT) for n in naps] == [3_000] * 4
    shoot(browser, screenshots, "overview")
    assert console_errors(browser) == []


PAYLOAD = (
    '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
    "<script>window.__xss=(window.__xss||0)+1</script>"
    '<svg onload="window.__xss=1"></svg><b>bold</b>'
)
PY_EVIL = (
    f"# {PAYLOAD}\n"
    f"PAYLOAD = {PAYLOAD!r}\n\n"
    "def evil(kind):\n"
    "    print(PAYLOAD)\n"
    "    if kind == 'raise':\n"
    "        raise ValueError(PAYLOAD)\n"
    "    return PAYLOAD\n"
)
_NO_MARKUP = "return document.querySelectorAll('main img, main script, main svg, main b').length"


async def test_user_strings_made_of_html_show_as_text_and_never_run(
    platform: StartPlatform, browser: WebDriver, screenshots: Path
) -> None:
    up = await platform()
    with Client(up.url, user="mallory") as client:
        client.create_user("mallory")
        evil = client.deploy("evil", PY_EVIL)
        ok, failed = evil.submit("return"), evil.submit("raise")
        assert ok.result(timeout=STEP_TIMEOUT) == PAYLOAD
        failed.wait(timeout=STEP_TIMEOUT)
    sign_in(browser, up.url, "mallory")
    for page, shown, text in [
        ("functions", "#main", "evil"),
        ("functions/evil", "#source", "<img src=x"),
        (f"jobs/{ok.id}", "#result", "<img src=x"),
        (f"jobs/{failed.id}", "#result", "<img src=x"),
        ("jobs", "#jobs", "evil"),
    ]:
        go(browser, up.url, page)
        wait_text(browser, shown, text)
        if page.startswith("jobs/"):
            assert PAYLOAD in wait_text(browser, "#logs", "<script>")
        assert browser.execute_script(_NO_MARKUP) == 0, page
    go(browser, up.url, f"jobs/{ok.id}")
    assert find(browser, "#result").text == PAYLOAD
    shoot(browser, screenshots, "xss-as-text")
    assert browser.execute_script("return window.__xss === undefined")
    # The console's own markup is intact (it is built from elements, not parsed from text).
    assert browser.execute_script("return document.querySelectorAll('header nav a').length") == 4


async def test_keys_mode_keeps_the_key_in_the_tab_only(
    platform: StartPlatform, browser: WebDriver, screenshots: Path
) -> None:
    admin_key = "admin-key-0123456789abcdef"
    up = await platform(FAAS_AUTH="keys", FAAS_ADMIN_KEY=admin_key)
    browser.get(f"{up.url}/ui")
    type_into(browser, "#sign-in input[name=user]", "ann")
    find(browser, "#register").click()
    key = wait_text(browser, "#new-key .key", "ann.")
    stored = browser.execute_script(
        "return [sessionStorage.getItem('faas.user'), sessionStorage.getItem('faas.key'),"
        " localStorage.length, document.cookie]"
    )
    assert stored == ["ann", key, 0, ""]
    shoot(browser, screenshots, "keys-registered")

    deploy(browser, up.url, "add", "python", PY_ADD)  # with the key from the tab
    with Client(up.url, key) as client:
        assert client.function("add")(1, 2) == 3

    go(browser, up.url, "overview")  # /metrics needs the admin key
    assert "admin key" in wait_text(browser, "#overview-status", "admin key")

    find(browser, "#sign-out").click()
    find(browser, "#sign-in")
    assert browser.execute_script("return sessionStorage.length") == 0
    go(browser, up.url, "functions")
    find(browser, "#sign-in")  # signed out: the console asks again

    sign_in(browser, up.url, "ann", admin_key)
    go(browser, up.url, "overview")
    WebDriverWait(browser, STEP_TIMEOUT).until(
        lambda d: d.find_element(By.ID, "value-workers").text not in ("–", "")
    )
    assert console_errors(browser) == []
