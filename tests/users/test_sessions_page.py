"""The active-sessions page, ``/sessions`` (issue 10), on every store.

Each browser is a test client with a real User-Agent; the page's forms are
read and submitted as a browser would, CSRF token included.
"""

from __future__ import annotations

import html
import re
import typing as t

import flask
import pytest
from support import CSRF
from support import CountingStore
from support import FakeClock
from users_support import Browser
from users_support import add_user

pytestmark = pytest.mark.every_store

FIREFOX = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

_ROW = re.compile(
    r'name="csrf_token" value="([^"]+)">\s*'
    r'<input type="hidden" name="key" value="([0-9a-f]{64})">\s*'
    r'<input type="hidden" name="created" value="([^"]+)">'
)


class Row(t.NamedTuple):
    csrf: str
    key: str
    created: str


def rows(page: str) -> list[Row]:
    """The end-buttons of a sessions page, in its order."""
    return [Row(*(html.unescape(g) for g in m.groups())) for m in _ROW.finditer(page)]


def end(browser: Browser, row: Row, **override: str) -> t.Any:
    data = {"csrf_token": row.csrf, "key": row.key, "created": row.created}
    data.update(override)
    return browser.client.post("/sessions", data=data)


def browser_as(app: flask.Flask, user_agent: str) -> Browser:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return Browser(client)


def logged_in(
    app: flask.Flask, email: str, user_agent: str, clock: FakeClock
) -> Browser:
    """A browser logged in as ``email``; the clock moves on a second, so
    that no two sessions begin at the same moment."""
    clock.advance(1)
    browser = browser_as(app, user_agent)
    assert browser.log_in(email).status_code == 302
    assert browser.get("/account").status_code == 200
    return browser


@pytest.fixture
def two(
    users_app: flask.Flask, verified: str, clock: FakeClock
) -> tuple[Browser, Browser]:
    """Ann logged in with Firefox on Windows and with Chrome on a Mac."""
    return (
        logged_in(users_app, verified, FIREFOX, clock),
        logged_in(users_app, verified, CHROME, clock),
    )


def test_lists_each_browser_in_words_and_marks_the_current(
    two: tuple[Browser, Browser], clock: FakeClock
) -> None:
    firefox, _ = two
    clock.advance(3 * 60)
    page = firefox.get("/sessions")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.text
    assert "Firefox 128 on Windows</strong> (this browser)" in text
    assert "Chrome 126 on Mac OS X</strong><br>" in text
    assert "From 127.0.0.1" in text
    assert "UTC (3 minutes ago)" in text
    # One end-button: the other session's, never the current one's.
    assert len(rows(text)) == 1
    assert "End all other sessions" in text


def test_the_page_is_behind_log_in(users_app: flask.Flask) -> None:
    response = users_app.test_client().get("/sessions")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=/sessions")


def test_ending_the_other_session_logs_it_out(
    two: tuple[Browser, Browser], store: CountingStore
) -> None:
    firefox, chrome = two
    [row] = rows(firefox.get("/sessions").text)
    response = end(firefox, row)
    assert response.status_code == 302
    assert response.location == "/sessions"
    after = firefox.get("/sessions").text
    assert "The session is ended" in after
    assert rows(after) == []
    assert "Chrome" not in after
    assert chrome.get("/account").location.startswith("/login")
    assert firefox.get("/account").status_code == 200


def test_a_forged_or_foreign_key_ends_nothing(
    users_app: flask.Flask,
    two: tuple[Browser, Browser],
    db: t.Any,
    clock: FakeClock,
) -> None:
    firefox, chrome = two
    add_user(db, "bob@example.com")
    bob = logged_in(users_app, "bob@example.com", SAFARI, clock)
    bob_other = logged_in(users_app, "bob@example.com", CHROME, clock)
    [bobs_row] = rows(bob.get("/sessions").text)
    [row] = rows(firefox.get("/sessions").text)

    # Bob's key (and when it began) from Ann's browser: not hers to end.
    foreign = end(firefox, row, key=bobs_row.key, created=bobs_row.created)
    assert foreign.status_code == 404
    assert "not one of yours" in foreign.text
    # A key of no session, begun at a moment none of Ann's began. (With
    # the moment of one of hers, it would end that one: see the stale test.)
    forged = end(firefox, row, key="0" * 64, created="2001-01-01T00:00:00+00:00")
    assert forged.status_code == 404
    # Not even the shape of a key, or no moment.
    assert end(firefox, row, key="../etc").status_code == 400
    assert end(firefox, row, created="yesterday").status_code == 400
    assert end(firefox, row, created="2024-05-01T10:00:00").status_code == 400

    for browser in (firefox, chrome, bob, bob_other):
        assert browser.get("/account").status_code == 200


def test_a_post_without_the_csrf_token_is_refused(two: tuple[Browser, Browser]) -> None:
    firefox, chrome = two
    [row] = rows(firefox.get("/sessions").text)
    response = firefox.client.post(
        "/sessions", data={"key": row.key, "created": row.created}
    )
    assert response.status_code == 400
    others = firefox.client.post("/sessions", data={"others": "1"})
    assert others.status_code == 400
    assert chrome.get("/account").status_code == 200


@pytest.mark.parametrize("wait", [0, 10 * 60], ids=["in-grace", "after-grace"])
def test_a_stale_listing_ends_the_rotated_session(
    two: tuple[Browser, Browser],
    store: CountingStore,
    clock: FakeClock,
    wait: float,
) -> None:
    """Chrome's ID is rotated between Firefox's listing and its click: the
    listed key is now a pointer (or, after the grace period, nothing), and
    the click still ends Chrome's session, and only that one."""
    firefox, chrome = two
    [row] = rows(firefox.get("/sessions").text)
    clock.advance(3601)  # past RIVO_SESSION_ID_LIFETIME
    assert chrome.get("/account").status_code == 200  # rotates Chrome's ID
    clock.advance(wait)
    assert (
        store.inner.load(row.key) is None or store.inner.load(row.key).user_id is None
    )
    assert firefox.reauthenticate().status_code == 302  # an hour later: sudo mode
    response = end(firefox, row)
    assert response.status_code == 302
    assert chrome.get("/account").location.startswith("/login")
    assert firefox.get("/account").status_code == 200


def test_end_all_others_keeps_the_current(
    users_app: flask.Flask, two: tuple[Browser, Browser], clock: FakeClock
) -> None:
    firefox, chrome = two
    safari = logged_in(users_app, "ann@example.com", SAFARI, clock)
    page = firefox.get("/sessions").text
    assert len(rows(page)) == 2
    [csrf, *_] = CSRF.findall(page)
    response = firefox.client.post(
        "/sessions", data={"csrf_token": csrf, "others": "1"}
    )
    assert response.status_code == 302
    after = firefox.get("/sessions").text
    assert "Ended 2 other sessions" in after
    assert rows(after) == []
    assert "Firefox 128 on Windows</strong> (this browser)" in after
    assert chrome.get("/account").location.startswith("/login")
    assert safari.get("/account").location.startswith("/login")
    assert firefox.get("/account").status_code == 200


def test_a_forged_address_is_shown_as_unknown(
    users_app: flask.Flask, verified: str, clock: FakeClock
) -> None:
    """A session's stored address is what the client sent behind a proxy
    fix; the owner's page shows only an address, never a stranger's words."""
    browser = browser_as(users_app, FIREFOX)
    browser.client.environ_base["REMOTE_ADDR"] = "call +1 555 0100 now"
    assert browser.log_in(verified).status_code == 302
    other = logged_in(users_app, verified, CHROME, clock)
    text = other.get("/sessions").text
    assert "call +1 555" not in text
    assert "From an unknown address" in text
    assert "From 127.0.0.1" in text  # the other's, a real one
