"""A reset link is mailed to the address the account has at that moment.

Once the account moves to another address, whoever still reads the old
mailbox must not be able to set the password of the account that now lives
at the new one: the move kills the link, by whatever route it is made.
"""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

if t.TYPE_CHECKING:
    import flask
    from sqlalchemy.orm import scoped_session

pytestmark = pytest.mark.every_store

NEW = "ann.new@example.org"
THEIRS = "otter marimba lantern"


def _reset(browser: Browser) -> int:
    """The status of setting a password with the link this browser opened."""
    page = browser.get("/reset-password")
    if page.status_code != 200:
        return page.status_code  # no form: the link is dead
    response = browser.submit(
        "/reset-password", {"password": THEIRS, "password_confirm": THEIRS}
    )
    return response.status_code


def test_a_confirmed_change_of_address_kills_a_reset_link_sent_to_the_old(
    users_app: flask.Flask,
    browser: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    # Somebody who reads the old mailbox asks for a link, opens it (the
    # token moves into their session), and waits.
    old_reader = Browser(users_app.test_client())
    old_reader.submit("/forgotten-password", {"email": verified})
    link = mailbox.last_link(verified)
    assert old_reader.get(link).status_code == 302
    # Meanwhile the owner moves the account to a new address.
    assert browser.log_in(verified).status_code == 302
    moved = browser.submit(
        "/change",
        {
            "email": NEW,
            "current_password": PASSWORD,
            "password": "",
            "password_confirm": "",
        },
    )
    assert moved.status_code == 302
    assert browser.submit(mailbox.last_link(NEW), {"password": PASSWORD}).status_code
    db.remove()
    assert db.scalars(sa.select(User.email)).all() == [NEW]
    # The link, kept or opened afresh, sets no password.
    assert _reset(old_reader) == 400
    assert Browser(users_app.test_client()).get(link).status_code == 400
    assert Browser(users_app.test_client()).log_in(NEW).status_code == 302


def test_an_address_changed_by_another_route_kills_the_link(
    users_app: flask.Flask,
    browser: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    browser.submit("/forgotten-password", {"email": verified})
    link = mailbox.last_link(verified)
    with users_app.app_context():
        db.remove()
        user = db.scalars(sa.select(User).where(User.email == verified)).one()
        user.email = NEW  # an admin page, flask shell
        db.commit()
    assert browser.get(link).status_code == 400
