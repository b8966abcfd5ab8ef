"""Re-authentication ("sudo mode"): sensitive pages ask for the password
again once the log-in is older than RIVO_REAUTH_WINDOW, then go on."""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from support import csrf_token
from users_support import PASSWORD
from users_support import Browser
from users_support import User

from flask_rivo import fresh_login_required
from flask_rivo.users import is_fresh
from flask_rivo.users.auth import AUTHENTICATED_AT

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from support import FakeClock

WINDOW = 600  # the default: 10 minutes
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def member(browser: Browser, verified: str) -> Browser:
    assert browser.log_in(verified).status_code == 302
    return browser


def session_cookie(browser: Browser) -> str | None:
    cookie = browser.client.get_cookie("session")
    return None if cookie is None else cookie.value


def test_a_fresh_log_in_opens_sensitive_pages(member: Browser) -> None:
    for path in ("/change", "/close-account"):
        assert member.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/change", "/close-account"])
def test_an_old_log_in_is_asked_for_the_password_first(
    member: Browser, clock: FakeClock, path: str
) -> None:
    clock.advance(WINDOW + 1)
    response = member.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/reauthenticate?next={path}"
    assert response.headers["Cache-Control"] == "no-store"
    page = member.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Please enter your password again to continue." in page.text
    assert "ann@example.com" in page.text


def test_just_inside_the_window_is_still_fresh(
    member: Browser, clock: FakeClock
) -> None:
    clock.advance(WINDOW - 1)
    assert member.get("/change").status_code == 200


def test_the_right_password_goes_on_with_a_new_session_id(
    member: Browser, clock: FakeClock
) -> None:
    clock.advance(WINDOW + 1)
    before = session_cookie(member)
    response = member.submit("/reauthenticate?next=/change", {"password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/change"
    assert session_cookie(member) not in (None, before)
    assert member.get("/change").status_code == 200
    assert member.get("/account").status_code == 200
    # ... for a new window, then it closes again.
    clock.advance(WINDOW + 1)
    assert member.get("/change").status_code == 302


def test_a_wrong_password_is_refused_and_counted(
    users_app: flask.Flask, member: Browser, clock: FakeClock
) -> None:
    clock.advance(WINDOW + 1)
    free = users_app.config.get("RIVO_LOGIN_FREE_ATTEMPTS", 5)
    for _ in range(free):
        response = member.submit("/reauthenticate", {"password": "not mine at all"})
        assert response.status_code == 400
        assert "not your password" in response.text
    throttled = member.submit("/reauthenticate", {"password": PASSWORD})
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert member.get("/change").status_code == 302  # still not fresh


def test_a_stolen_old_session_cannot_change_the_password(
    member: Browser, clock: FakeClock, db: scoped_session[t.Any]
) -> None:
    """The threat sudo mode answers: someone with the session but not the
    password. A change posted after the window changes nothing."""
    db.remove()
    before = db.scalar(sa.select(User.password_hash))
    member.get("/change")  # the form, with its CSRF token, in the window
    clock.advance(WINDOW + 1)
    response = member.submit(
        "/change",
        {
            "email": "ann@example.com",
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/reauthenticate?next=")
    db.remove()
    assert db.scalar(sa.select(User.password_hash)) == before


def test_ending_sessions_needs_it_listing_does_not(
    users_app: flask.Flask, member: Browser, clock: FakeClock, verified: str
) -> None:
    other = Browser(users_app.test_client())
    assert other.log_in(verified).status_code == 302
    clock.advance(WINDOW + 1)
    page = member.get("/sessions")
    assert page.status_code == 200
    end_others = {"others": "1", "csrf_token": csrf_token(page.text)}
    response = member.client.post("/sessions", data=end_others)
    assert response.status_code == 302
    assert response.headers["Location"] == "/reauthenticate?next=/sessions"
    assert member.reauthenticate().status_code == 302
    ended = member.client.post("/sessions", data=end_others)
    assert ended.status_code == 302
    assert ended.headers["Location"] == "/sessions"
    assert other.get("/account").status_code == 302  # logged out


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"]
)
def test_next_stays_on_the_site(member: Browser, clock: FakeClock, target: str) -> None:
    clock.advance(WINDOW + 1)
    response = member.submit(f"/reauthenticate?next={target}", {"password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_anonymous_visitors_log_in_instead(users_app: flask.Flask) -> None:
    client = users_app.test_client()
    for path in ("/reauthenticate", "/change"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


@pytest.fixture
def payout(users_app: flask.Flask) -> None:
    """An application's own sensitive view."""

    @users_app.route("/payout", methods=["GET", "POST"])
    @fresh_login_required
    def payout() -> str:
        return f"fresh: {is_fresh()}"


def test_the_application_protects_its_own_views(
    payout: None, users_app: flask.Flask, member: Browser, clock: FakeClock
) -> None:
    assert member.get("/payout").text == "fresh: True"
    clock.advance(WINDOW + 1)
    stale = member.get("/payout")
    assert stale.status_code == 302
    assert stale.headers["Location"] == "/reauthenticate?next=/payout"
    as_json = member.client.get("/payout", headers={"Accept": "application/json"})
    assert as_json.status_code == 401
    assert as_json.json == {"error": "re-authentication required"}
    assert users_app.test_client().get("/payout").status_code == 302
    assert member.reauthenticate().status_code == 302
    assert member.get("/payout").text == "fresh: True"


def test_the_window_is_configurable(make_users_app: t.Any, mailbox: t.Any) -> None:
    app = make_users_app(RIVO_REAUTH_WINDOW=60)
    browser = Browser(app.test_client())
    browser.sign_up("bob@example.com")
    assert browser.submit(mailbox.last_link("bob@example.com"), {"password": PASSWORD})
    clock = app.extensions["rivo_sessions"].clock
    assert browser.get("/change").status_code == 200
    clock.advance(61)
    assert browser.get("/change").status_code == 302


@pytest.mark.parametrize("stamp", [None, "yesterday", True, 10**12])
def test_a_missing_or_odd_stamp_is_not_fresh(member: Browser, stamp: object) -> None:
    """A session from before sudo mode, or a stamp no clock near now wrote."""
    agent = member.client.environ_base["HTTP_USER_AGENT"]
    with member.client.session_transaction(headers={"User-Agent": agent}) as current:
        if stamp is None:
            current.pop(AUTHENTICATED_AT)
        else:
            current[AUTHENTICATED_AT] = stamp
    assert member.get("/change").status_code == 302
    assert member.get("/account").status_code == 200  # still logged in
