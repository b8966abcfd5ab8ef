"""Confirming an address takes the account's password (account pre-hijacking),
and logs the person in. Through the real blueprint, CSRF on, real SMTP."""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo.users import UserState

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session

pytestmark = pytest.mark.every_store

MALLORY = "mallory's own passphrase"
OWNER = "ann@example.com"
WRONG_TEXT = "not the password this account was signed up with"


def state_of(db: scoped_session[t.Any], address: str) -> UserState:
    db.remove()
    return t.cast(
        "UserState",
        db.scalars(sa.select(User.state).where(User.email == address)).one(),
    )


def test_an_owner_cannot_confirm_with_a_strangers_password(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    # Mallory signs the owner's address up three times: the hour's quota.
    mallory = Browser(users_app.test_client())
    for _ in range(3):
        assert mallory.sign_up(OWNER, MALLORY).status_code == 200
    # The owner's own sign-up sends nothing more, yet looks the same.
    assert browser.sign_up(OWNER).status_code == 200
    assert len(mailbox.to(OWNER)) == 3
    # The owner clicks the newest mail (Mallory's link) and types their own
    # password: the account is not confirmed, and says what to do.
    link = mailbox.last_link(OWNER)
    page = browser.get(link)
    assert page.status_code == 200
    assert OWNER in page.text
    refused = browser.submit(link, {"password": PASSWORD})
    assert refused.status_code == 400
    assert WRONG_TEXT in refused.text
    assert 'href="/signup"' in refused.text
    assert state_of(db, OWNER) is UserState.CREATED
    assert browser.get("/account").status_code == 302
    # Mallory cannot log in: the account was never confirmed.
    assert mallory.log_in(OWNER, MALLORY).status_code == 400


def test_a_puzzled_owner_clicking_a_strangers_link_confirms_nothing(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    Browser(users_app.test_client()).sign_up(OWNER, MALLORY)
    link = mailbox.last_link(OWNER)
    for guess in ["", PASSWORD, "whatever it was"]:
        response = browser.submit(link, {"password": guess})
        assert response.status_code == 400
    assert state_of(db, OWNER) is UserState.CREATED


def test_the_right_password_confirms_and_logs_in_with_a_new_session_id(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up(OWNER)
    link = mailbox.last_link(OWNER)
    browser.get(link)
    before = browser.client.get_cookie("session")
    assert before is not None  # the form's CSRF secret
    response = browser.submit(link, {"password": PASSWORD})
    assert response.status_code == 302
    after = browser.client.get_cookie("session")
    assert after is not None and after.value != before.value
    assert state_of(db, OWNER) is UserState.VERIFIED
    assert browser.get("/account").text == f"Account of {OWNER}"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_opening_the_link_consumes_nothing(
    method: str, browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up(OWNER)
    link = mailbox.last_link(OWNER)
    for _ in range(3):
        response = browser.client.open(link, method=method)
        assert response.status_code == 200
    assert state_of(db, OWNER) is UserState.CREATED
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302


def test_head_of_a_dead_link_answers_as_get_does(browser: Browser) -> None:
    assert browser.client.head("/verify?token=" + "A" * 32).status_code == 400


def test_wrong_passwords_count_toward_the_log_in_throttle(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    clock: FakeClock,
    db: scoped_session[t.Any],
) -> None:
    browser.sign_up(OWNER)
    link = mailbox.last_link(OWNER)
    free = users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for _ in range(free):
        assert browser.submit(link, {"password": "not it at all"}).status_code == 400
    throttled = browser.submit(link, {"password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert "Too many failed attempts" in throttled.text
    assert state_of(db, OWNER) is UserState.CREATED
    clock.advance(1)
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302


def test_a_missing_password_is_a_form_error(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up(OWNER)
    link = mailbox.last_link(OWNER)
    response = browser.submit(link, {})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert state_of(db, OWNER) is UserState.CREATED


def test_a_used_link_says_the_address_is_confirmed(
    users_app: flask.Flask, browser: Browser, mailbox: Mailbox
) -> None:
    browser.sign_up(OWNER)
    link = mailbox.last_link(OWNER)
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    for client in (browser.client, users_app.test_client()):
        again = client.get(link)
        assert again.status_code == 400
        assert "already confirmed" in again.text
        assert 'href="/login"' in again.text
