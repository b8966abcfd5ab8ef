"""Closing an account: the password, the application's own data through the
signal, every session ended, the user deleted, a notice emailed."""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo.users.signals import user_closing

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from support import CountingStore

pytestmark = pytest.mark.every_store


@pytest.fixture
def member(browser: Browser, verified: str) -> Browser:
    assert browser.log_in(verified).status_code == 302
    return browser


def rows(db: scoped_session[t.Any]) -> list[str]:
    db.remove()
    return list(db.scalars(sa.select(User.email)))


def test_the_page_says_what_is_deleted_and_needs_a_log_in(
    users_app: flask.Flask, member: Browser
) -> None:
    page = member.get("/close-account")
    assert page.status_code == 200
    assert "deletes it for good" in page.text
    assert "every session" in page.text
    anonymous = users_app.test_client().get("/close-account")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=")


def test_a_wrong_password_closes_nothing_and_counts(
    users_app: flask.Flask,
    member: Browser,
    verified: str,
    db: scoped_session[t.Any],
) -> None:
    free = users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for _ in range(free):
        response = member.submit("/close-account", {"password": "not mine at all"})
        assert response.status_code == 400
        assert "not your password" in response.text
    throttled = member.submit("/close-account", {"password": PASSWORD})
    assert throttled.status_code == 429
    assert verified in rows(db)
    assert member.get("/account").status_code == 200


def test_closing_deletes_the_user_ends_every_session_and_tells_the_owner(
    users_app: flask.Flask,
    member: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    store: CountingStore,
) -> None:
    other = Browser(users_app.test_client())
    assert other.log_in(verified).status_code == 302
    mailbox.clear()
    seen: list[tuple[str, bool]] = []

    def receive(sender: flask.Flask, user: User) -> None:
        # The application deletes its own data here: the user still exists.
        seen.append((user.email, verified in rows(db)))

    with user_closing.connected_to(receive, users_app):
        response = member.submit("/close-account", {"password": PASSWORD})
    assert response.status_code == 302
    assert seen == [(verified, True)]
    assert verified not in rows(db)
    assert [r for r in store.records().values() if r.user_id is not None] == []
    assert other.get("/account").status_code == 302
    assert member.get("/account").status_code == 302
    assert "account is closed" in member.get("/login").text
    [notice] = mailbox.to(verified)
    assert "closed" in notice["Subject"]
    # The address is free again.
    assert Browser(users_app.test_client()).sign_up(verified).status_code == 200
    assert "/verify?token=" in mailbox.last_link(verified)


def test_closing_needs_the_csrf_token(
    member: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    response = member.client.post("/close-account", data={"password": PASSWORD})
    assert response.status_code == 400
    assert verified in rows(db)
