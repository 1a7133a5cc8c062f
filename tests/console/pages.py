"""Small steps a person takes in the console, for the browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

#: Seconds a page may take to show what a step waits for (the platform runs the calls).
STEP_TIMEOUT = 30.0


def find(driver: WebDriver, css: str, timeout: float = STEP_TIMEOUT) -> WebElement:
    """The element ``css`` selects, once it is on the page."""
    element: WebElement = WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )
    return element


def wait_text(driver: WebDriver, css: str, text: str, timeout: float = STEP_TIMEOUT) -> str:
    """The text of ``css`` once it contains ``text``."""
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )
    return find(driver, css).text


def go(driver: WebDriver, url: str, page: str) -> None:
    """Open ``#/page`` of the console at ``url``."""
    driver.get(f"{url}/ui#/{page}")


def type_into(driver: WebDriver, css: str, text: str) -> None:
    field = find(driver, css)
    field.clear()
    field.send_keys(text)


def set_value(driver: WebDriver, css: str, text: str) -> None:
    """Set a field's value at once (send_keys would type a long source key by key)."""
    driver.execute_script("arguments[0].value = arguments[1];", find(driver, css), text)


def sign_in(driver: WebDriver, url: str, user: str, key: str = "") -> None:
    driver.get(f"{url}/ui#/functions")
    type_into(driver, "#sign-in input[name=user]", user)
    if key:
        type_into(driver, "#sign-in input[name=key]", key)
    find(driver, "#sign-in button[type=submit]").click()
    wait_text(driver, "#who", user)


def deploy(driver: WebDriver, url: str, name: str, runtime: str, source: str) -> None:
    """Deploy through the form; returns on the function's page."""
    go(driver, url, "functions/new")
    type_into(driver, "#deploy-name", name)
    Select(find(driver, "#deploy-runtime")).select_by_value(runtime)
    set_value(driver, "#deploy-source", source)
    find(driver, "#deploy button[type=submit]").click()
    wait_text(driver, "#function-name", name)
    find(driver, "#source")


def shoot(driver: WebDriver, folder: Path, name: str) -> Path:
    """Save a screenshot of the whole window as ``folder/name.png``."""
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: WebDriver) -> list[str]:
    """Script errors and Content-Security-Policy refusals in the browser's console (not the
    failed requests a page shows as errors itself, such as a 403)."""
    signs = ("Uncaught", "Refused", "Content Security Policy", "SyntaxError", "TypeError")
    # get_log is Chromium's, not every WebDriver's.
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        entry["message"]
        for entry in entries
        if entry["level"] == "SEVERE" and any(sign in entry["message"] for sign in signs)
    ]
