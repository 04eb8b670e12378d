"""Headless Chromium from Debian's `chromium` package, driven by Playwright's Python API (no browser
download: `playwright install` is never needed)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian packages: apt-get install -y chromium chromium-driver)"
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium_page(width: int = 1400, height: int = 900, timeout_ms: float = 60_000) -> Iterator[object]:
    """A Playwright page in a fresh headless Chromium; generous default timeouts for a loaded 2-core box."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            page.set_default_navigation_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def marks() -> list:
    """The marks of a browser test: browser and slow, skipped with the reason where it cannot run."""
    import pytest

    reason = unavailable_reason()
    return [pytest.mark.browser, pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=reason or "")]
