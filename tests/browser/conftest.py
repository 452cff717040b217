"""A real browser for the page tests: Debian's chromium driven by Playwright (never a downloaded browser).

``make test`` installs chromium when missing and sets ``AIMUX_REQUIRE_BROWSER=1``, so there a missing
browser fails these tests; a plain pytest run without it skips them, saying why. Screenshots are kept
under ``build/artifacts/`` (``support/browser.py``); each test prints the path of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
]  # fmt: skip


def _chromium() -> str | None:
    """Debian's chromium: ``/usr/bin/chromium``, else a ``chromium`` on PATH."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _missing() -> str | None:
    if _chromium() is None:
        return f"no {CHROMIUM} (apt-get install chromium; make test installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API runs an event loop on this
    thread while it is open, and later tests' ``asyncio.run`` would find it running."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("AIMUX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (AIMUX_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: no storage shared between tests) that fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors in the page: {errors}"
