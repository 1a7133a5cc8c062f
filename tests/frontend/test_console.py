"""``/ui``: the console's files, their headers, and what the files may not contain."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from faas_trio.frontend.console import CONTENT_SECURITY_POLICY, FILES

from .neighbours import AppClient

_FOLDER = resources.files("faas_trio.frontend").joinpath("console")


def _text(name: str) -> str:
    return _FOLDER.joinpath(name).read_text()


async def test_the_page_and_every_file_are_served_with_a_strict_policy(
    keys_client: AppClient,
) -> None:
    # Keys mode, no key: the console's files hold no data, so they need none.
    for path, name in [("/ui", "index.html"), *((f"/ui/{n}", n) for n in FILES)]:
        response = await keys_client.get(path)
        assert response.status_code == 200, path
        assert response.content_type == FILES[name]
        assert await response.get_data() == _FOLDER.joinpath(name).read_bytes()
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("name", ["secrets.txt", "..%2F..%2Fconfig.py", "console.py", "APP.JS"])
async def test_any_other_name_is_a_404_envelope(keys_client: AppClient, name: str) -> None:
    response = await keys_client.get(f"/ui/{name}")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["error"] is True and ("no file" in body["res"] or "no such route" in body["res"])


def test_every_file_in_the_folder_is_served_and_nothing_is_fetched_from_elsewhere() -> None:
    present = {entry.name for entry in _FOLDER.iterdir() if entry.is_file()}
    assert present == set(FILES)
    for name in FILES:
        text = _text(name)
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name  # no CDN
        if name.endswith(".js"):
            # Strings become text nodes only: nothing here parses HTML or code.
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in text, (name, sink)


def test_the_page_has_no_inline_script_or_style() -> None:
    page = _text("index.html")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
