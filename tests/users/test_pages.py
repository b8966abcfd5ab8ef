"""Pages that look finished: the markup of fields, the favicon, the messages
around logging in, and the error pages, through the blueprint with CSRF on.

How they look in a browser (colours, lines, heights) is in
``tests/e2e/test_browser.py``.
"""

from __future__ import annotations

import logging
import re
import typing as t
from datetime import timedelta

import flask
import pytest
from support import CountingStore
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import add_user
from werkzeug.exceptions import HTTPException

from flask_rivo import RivoUsers
from flask_rivo import StoreUnavailable
from flask_rivo.users.errors import error_page

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session

_INPUT = re.compile(r"<input [^>]*>")


def inputs(html: str) -> dict[str, str]:
    """Each visible input's tag, by its id."""
    found = {}
    for tag in _INPUT.findall(html):
        ident = re.search(r' id="([^"]+)"', tag)
        if ident is not None and 'type="hidden"' not in tag:
            found[ident.group(1)] = tag
    return found


# -- fields ----------------------------------------------------------------


def test_fields_describe_themselves_only_by_what_exists(browser: Browser) -> None:
    page = browser.get("/signup").text
    assert '"None"' not in page
    tags = inputs(page)
    # No help, no error: no aria-describedby at all (not "None").
    assert "aria-describedby" not in tags["email"]
    # Help only: the help.
    assert 'aria-describedby="password-help"' in tags["password"]
    assert 'id="password-help"' in page

    refused = browser.submit(
        "/signup", {"email": "not an address", "password": "x", "password_confirm": "y"}
    )
    assert refused.status_code == 400
    tags = inputs(refused.text)
    assert 'aria-describedby="email-error"' in tags["email"]
    assert 'aria-invalid="true"' in tags["email"]
    assert 'aria-describedby="password-help password-error"' in tags["password"]
    assert '"None"' not in refused.text


def test_the_checkbox_comes_before_its_label_in_a_row_of_its_own(
    browser: Browser,
) -> None:
    page = browser.get("/login").text
    row = re.search(r'<div class="rivo-field rivo-check">(.*?)</div>', page, re.S)
    assert row is not None
    assert row.group(1).index('type="checkbox"') < row.group(1).index("<label")
    assert "aria-describedby" not in inputs(page)["remember"]


def test_every_page_has_an_icon_that_needs_no_request(browser: Browser) -> None:
    for path in ("/login", "/signup", "/forgotten-password"):
        icon = re.search(r'<link rel="icon" href="([^"]+)">', browser.get(path).text)
        assert icon is not None, path
        assert icon.group(1).startswith("data:image/svg+xml,")


# -- messages around logging in ----------------------------------------------


def test_a_private_page_sends_to_the_log_in_page_with_a_message(
    browser: Browser, verified: str
) -> None:
    sent = browser.get("/account")
    assert sent.status_code == 302
    page = browser.get(sent.headers["Location"])
    assert "Please log in to see this page." in page.text
    assert "rivo-flash-info" in page.text
    # Once only.
    assert "Please log in" not in browser.get("/login").text


def test_json_requests_get_a_401_and_no_message_waiting(browser: Browser) -> None:
    refused = browser.get("/account", headers={"Accept": "application/json"})
    assert refused.status_code == 401
    assert "Please log in" not in browser.get("/login").text


def test_logging_in_says_so_on_the_next_page(browser: Browser, verified: str) -> None:
    assert browser.log_in(verified, next="/signup").headers["Location"] == "/signup"
    page = browser.get("/signup").text
    assert "You are logged in." in page
    assert "rivo-flash-success" in page


def test_a_failed_log_in_says_nothing_of_success(
    browser: Browser, verified: str
) -> None:
    assert browser.log_in(verified, "not the password").status_code == 400
    assert "You are logged in." not in browser.get("/signup").text


@pytest.mark.parametrize(
    ("query", "landing"),
    [
        ("", "/"),
        ("?next=/account", "/account"),
        ("?next=//evil.example/", "/"),
        ("?next=https://evil.example/", "/"),
    ],
)
def test_the_log_in_page_of_someone_logged_in_moves_on(
    browser: Browser, verified: str, query: str, landing: str
) -> None:
    assert browser.log_in(verified).status_code == 302
    moved = browser.get("/login" + query)
    assert moved.status_code == 302
    assert moved.headers["Location"] == landing


def test_a_landing_page_that_is_the_log_in_page_shows_the_form(
    make_users_app: t.Callable[..., flask.Flask], verified: str
) -> None:
    app = make_users_app(RIVO_LOGIN_REDIRECT="/login")
    browser = Browser(app.test_client())
    assert browser.log_in(verified).headers["Location"] == "/login"
    page = browser.get("/login")
    assert page.status_code == 200  # no redirect loop
    assert 'name="password"' in page.text


# -- durations and names in emails ------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "words"),
    [
        (timedelta(minutes=30), "for 30 minutes."),
        (timedelta(days=3), "for 3 days."),
        (timedelta(hours=36), "for 36 hours."),
        (90, "for 90 seconds."),
    ],
)
def test_the_verification_email_says_how_long_its_link_works(
    make_users_app: t.Callable[..., flask.Flask],
    mailbox: Mailbox,
    ttl: timedelta | int,
    words: str,
) -> None:
    app = make_users_app(RIVO_VERIFICATION_TTL=ttl)
    Browser(app.test_client()).sign_up("new@example.com")
    [message] = mailbox.to("new@example.com")
    assert f"The link works once, {words}" in Mailbox.text(message)
    assert f"The link works once, {words}" in Mailbox.html(message)


def test_the_reset_email_says_24_hours_by_default(
    browser: Browser, verified: str, mailbox: Mailbox
) -> None:
    browser.submit("/forgotten-password", {"email": verified})
    [message] = mailbox.to(verified)
    assert "The link works once, for 24 hours." in Mailbox.text(message)


def test_debug_mode_asks_for_a_site_name(
    make_users_app: t.Callable[..., flask.Flask], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_users_app(debug=True)
    assert "RIVO_SITE_NAME is not set" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_users_app(debug=True, RIVO_SITE_NAME="Ann's Shop")
        make_users_app()  # not in debug: a test suite or a live site
    assert "RIVO_SITE_NAME" not in caplog.text


# -- error pages ---------------------------------------------------------------


def in_layout(html: str) -> bool:
    """Whether a page is one of flask_rivo's, not werkzeug's bare one."""
    return 'class="rivo-header"' in html and "rivo.css" in html


def test_an_expired_log_out_form_gets_a_page_in_the_layout(browser: Browser) -> None:
    refused = browser.client.post("/logout", data={"csrf_token": "stale"})
    assert refused.status_code == 400
    assert in_layout(refused.text)
    assert "The log-out form expired. Please try again." in refused.text
    assert "<title>Bad request · Flask-Rivo</title>" in refused.text


def test_the_store_down_gets_the_503_page_without_the_account_nav(
    users_app: flask.Flask, browser: Browser, verified: str, store: CountingStore
) -> None:
    assert browser.log_in(verified).status_code == 302
    store.down = True
    refused = browser.get("/account")
    assert refused.status_code == 503
    assert in_layout(refused.text)
    assert StoreUnavailable.description in refused.text
    assert "Log out" not in refused.text
    assert 'aria-label="Account"' not in refused.text
    store.down = False
    assert browser.get("/account").text == f"Account of {verified}"


def test_the_store_lost_while_saving_gets_the_503_page(
    users_app: flask.Flask, browser: Browser, store: CountingStore
) -> None:
    @users_app.get("/remember")
    def remember() -> str:
        flask.session["seen"] = True
        store.down = True  # gone before the session is written
        return "ok"

    refused = browser.get("/remember")
    assert refused.status_code == 503
    assert in_layout(refused.text)
    assert StoreUnavailable.description in refused.text


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
@pytest.mark.parametrize("key", [503, StoreUnavailable, HTTPException, Exception])
def test_the_applications_own_error_page_wins(
    db: scoped_session[t.Any],
    store: CountingStore,
    before: bool,
    key: int | type[Exception],
) -> None:
    """Whether the application registers its page before RivoUsers or after."""

    def own(error: HTTPException) -> tuple[str, int]:
        return f"own page {error.code}", error.code or 500

    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="s", RIVO_SESSION_STORE=store, TESTING=True)
    if before:
        app.register_error_handler(key, own)
    RivoUsers(app, user_model=User, db_session=db)
    if not before:
        app.register_error_handler(key, own)

    @app.get("/cart")
    def cart() -> str:
        return str(flask.session.get("cart"))

    client = app.test_client()
    stale = client.post("/logout", data={"csrf_token": "stale"})
    assert stale.status_code == 400
    # A page for any error answers the account pages' errors too.
    catch_all = key in (HTTPException, Exception)
    assert (stale.text == "own page 400") is catch_all
    store.down = True
    refused = client.get("/cart")
    assert (refused.status_code, refused.text) == (503, "own page 503")


def test_an_application_can_use_the_pages_for_its_own_errors(
    users_app: flask.Flask, browser: Browser
) -> None:
    users_app.register_error_handler(404, error_page)
    missing = browser.get("/no/such/page")
    assert missing.status_code == 404
    assert in_layout(missing.text)
    assert "<h1>Page not found</h1>" in missing.text
    # Without it, the application's 404 stays werkzeug's (not taken over).


def test_without_registering_the_applications_404_is_its_own(
    browser: Browser,
) -> None:
    missing = browser.get("/no/such/page")
    assert missing.status_code == 404
    assert not in_layout(missing.text)


def test_error_pages_keep_the_logged_in_nav_where_the_session_works(
    make_users_app: t.Callable[..., flask.Flask], db: scoped_session[t.Any]
) -> None:
    app = make_users_app()
    app.register_error_handler(404, error_page)
    add_user(db, "ann@example.com")
    browser = Browser(app.test_client())
    assert browser.log_in("ann@example.com").status_code == 302
    missing = browser.get("/no/such/page").text
    assert "ann@example.com" in missing
    assert 'action="/logout"' in missing
