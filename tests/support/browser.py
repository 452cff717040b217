"""Screenshots kept as test artifacts, under ``build/artifacts/`` (ignored by git)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "artifacts"


def screenshot(page: Any, name: str) -> Path:
    """Keep a full-page screenshot of ``page`` (Playwright) and print where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def wait_until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression until it is truthy. Playwright's ``wait_for_function`` evaluates its
    predicate with ``eval`` inside the page, which the dashboard's Content-Security-Policy forbids (as it
    should); ``page.evaluate`` goes through the DevTools protocol, which the policy does not govern."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:g} s: {expression}")
        page.wait_for_timeout(50)
