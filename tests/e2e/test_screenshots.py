"""Every page of the account blueprint, photographed in a real browser.

Each recipe of ``tests/shots.py`` runs on a demo site of its own in
headless Chromium, and its page is checked for what a person would notice
(a style sheet that did not load, a header more than a line high, text that
runs off the side), then photographed. The pictures go to ``tmp_path``, so
the suite checks that every page can still be reached and shot without
touching the docs; ``make screenshots`` sets ``RIVO_SCREENSHOTS`` to write
them into ``docs/_static/screenshots`` instead. No picture is compared
pixel by pixel: fonts and Chromium versions differ between machines.

:func:`test_every_page_has_a_screenshot_in_the_docs` needs no browser: a new
GET route of the blueprint without a recipe and a picture in the docs fails
it.
"""

from __future__ import annotations

import os
import re
import typing as t
from pathlib import Path

import pytest
from e2e.chromium import chromium
from shots import SHOTS
from shots import Shot
from tour import Tour
from tour import optimize
from tour import tours

from flask_rivo.demo import close_demo_app
from flask_rivo.demo import create_demo_app

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FOLDER = DOCS / "_static" / "screenshots"
#: Where the pictures go: ``tmp_path``, unless this names a folder.
TARGET = os.environ.get("RIVO_SCREENSHOTS")
#: A picture is a few tens of kB; more means it is not the flat page it was.
MAX_BYTES = 120_000


@pytest.fixture(scope="module")
def browser() -> Iterator[t.Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def tour(browser: t.Any) -> Iterator[Tour]:
    yield from tours(browser)


#: The height of a header that holds one line: its line, its padding and
#: its bottom border (the log-out button must not make it higher).
ONE_LINE = """header => {
  const style = getComputedStyle(header);
  return [header.getBoundingClientRect().height,
          parseFloat(style.lineHeight) + parseFloat(style.paddingTop)
          + parseFloat(style.paddingBottom) + parseFloat(style.borderBottomWidth)];
}"""


def looks_finished(tour: Tour) -> None:
    """What a visitor would see as broken, checked before the picture."""
    page = tour.page
    page.wait_for_load_state("networkidle")
    assert tour.broken == [], "a style sheet or another part failed"
    stylesheet = page.evaluate("getComputedStyle(document.body).margin")
    assert stylesheet == "0px", "rivo.css did not load"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page runs off the side"
    height, one_line = page.locator("header.rivo-header").evaluate(ONE_LINE)
    assert height == one_line, "the header is not one line high"


@pytest.mark.parametrize("shot", SHOTS, ids=[s.name for s in SHOTS])
def test_screenshot(shot: Shot, tour: Tour, tmp_path: Path) -> None:
    shot.recipe(tour)
    looks_finished(tour)
    folder = Path(TARGET) if TARGET else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{shot.name}.png"
    tour.page.screenshot(path=str(png), full_page=True, animations="disabled")
    optimize(png)
    assert 1_000 < png.stat().st_size < MAX_BYTES


@pytest.mark.skipif(not DOCS.exists(), reason="docs/ is not in this checkout")
def test_every_page_has_a_screenshot_in_the_docs(tmp_path: Path) -> None:
    """Every GET page of ``rivo_users`` has a recipe, each recipe a picture
    in ``docs/_static/screenshots``, and each picture a place in the docs."""
    app = create_demo_app(tmp_path, "http://127.0.0.1:5050")
    try:
        pages = {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("rivo_users.")
            and rule.endpoint != "rivo_users.static"
            and "GET" in (rule.methods or ())
        }
    finally:
        close_demo_app(app)
    shown = {s.endpoint for s in SHOTS}
    assert pages - shown == set(), "pages without a screenshot in tests/shots.py"
    assert shown - pages - {None} == set(), "screenshots of pages that are gone"

    names = {s.name for s in SHOTS}
    files = {png.stem for png in FOLDER.glob("*.png")}
    assert names - files == set(), "run make screenshots"
    assert files - names == set(), "pictures no recipe makes"
    docs = " ".join(rst.read_text() for rst in DOCS.glob("*.rst"))
    used = set(re.findall(r"_static/screenshots/([\w-]+)\.png", docs))
    assert names - used == set(), "pictures the docs do not show"
    gallery = (DOCS / "pages.rst").read_text()
    shown_in_order = re.findall(r"screenshots/([\w-]+)\.png", gallery)
    assert shown_in_order == [s.name for s in SHOTS], (
        "docs/pages.rst shows every picture once, in the order of tests/shots.py"
    )
