"""Headless Chromium for the browser tests, from Debian's ``chromium``.

Playwright's own browser download cannot work on the test machines, so
every browser test launches the system's Chromium through here.
"""

from __future__ import annotations

import contextlib
import shutil
import typing as t
from pathlib import Path

from support import require

if t.TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: As the machine notes say: no background traffic, no sandbox as root;
#: no font hinting, so that screenshots come out the same from run to run.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--font-render-hinting=none",
]


@contextlib.contextmanager
def chromium() -> Iterator[t.Any]:
    """A headless Chromium (Playwright's ``Browser``), closed afterwards.

    Skips the test where Playwright or Chromium is missing, and fails it
    in CI (see :func:`support.require`).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "Playwright is not installed")
    require(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}")
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
