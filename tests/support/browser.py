"""Chromium for the page tests, defined once: where the browser is, how it is launched, the
window sizes the pages are checked at, signing in to a page, and keeping screenshots.

The e2e conftest's session `browser` fixture launches it; a test that runs outside that
session's browser (none today) would use `launch_chromium()` the same way."""

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize, async_playwright

# Debian's Chromium, not `playwright install`'s; LEADLOOP_CHROMIUM points elsewhere, as it does
# for tests/prerequisites.sh, which checks the same path before the suite runs.
CHROMIUM = os.environ.get("LEADLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

DESKTOP = ViewportSize(width=1280, height=900)  # the dashboards: wide enough for every chart
PHONE = ViewportSize(width=390, height=844)  # the sales page: a rep on the road

# Copies of the screenshots go here when set (to look at them, or for the docs).
SCREENSHOTS_ENV = "LEADLOOP_SCREENSHOTS"


@asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """Headless Chromium driven by Playwright, closed when the block ends."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def desktop_page(browser: Browser) -> Page:
    """A new page in a desktop-sized window."""
    return await browser.new_page(viewport=DESKTOP)


async def submit_api_key(page: Page, key: str) -> None:
    """Fill a sign-in form (dashboard or sales page) with an API key and send it."""
    await page.fill("input[name=api_key]", key)
    await page.click("button[type=submit]")


def keep_screenshot(path: Path) -> Path:
    """Copy a screenshot where LEADLOOP_SCREENSHOTS points, if it does; returns the shot."""
    target = os.environ.get(SCREENSHOTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path
