"""A never-verified account with a change of address pending.

An application may let an unconfirmed account in (``login_user(force=True)``),
and such an account can ask to move to another address. Every link asked
for *by the account's own address* (signing up again, a fresh link, a
forgotten password) must then go to that address, as the account has it:
not to the pending one, which nobody asked about, whose hourly quota the
request did not count, and whose owner could never confirm the address that
was typed.
"""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import login_user

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session

pytestmark = pytest.mark.every_store

TYPED = "carol@example.com"
PENDING = "victim@example.org"
OWNERS = "walrus tangerine oboe"


@pytest.fixture
def pending(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> Browser:
    """A never-verified account of ``TYPED``, let in by the application, that
    asked to move to ``PENDING``."""

    @users_app.get("/force/<address>")
    def force(address: str) -> str:
        user = db.scalars(sa.select(User).where(User.email == address)).one()
        done = login_user(user, force=True)
        db.commit()
        return str(done)

    browser.sign_up(TYPED)
    assert browser.get(f"/force/{TYPED}").text == "True"
    moved = browser.submit(
        "/change",
        {
            "email": PENDING,
            "current_password": PASSWORD,
            "password": "",
            "password_confirm": "",
        },
    )
    assert moved.status_code == 302
    assert len(mailbox.to(PENDING)) == 1
    mailbox.clear()
    return browser


def _recipients(mailbox: Mailbox) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in mailbox.messages]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (
            "/signup",
            {"email": TYPED, "password": OWNERS, "password_confirm": OWNERS},
        ),
        ("/verify/resend", {"email": TYPED}),
        ("/forgotten-password", {"email": TYPED}),
    ],
)
def test_a_link_asked_for_an_address_goes_to_that_address(
    users_app: flask.Flask,
    pending: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    path: str,
    fields: dict[str, str],
) -> None:
    owner = Browser(users_app.test_client())
    assert owner.submit(path, fields).status_code == 200
    assert _recipients(mailbox) == [TYPED]
    # Followed, the link confirms the address it was sent to.
    password = OWNERS if path == "/signup" else PASSWORD
    confirmed = owner.submit(mailbox.last_link(TYPED), {"password": password})
    assert confirmed.status_code == 302
    db.remove()
    assert db.scalars(sa.select(User.email)).all() == [TYPED]


def test_links_for_an_address_do_not_flood_the_pending_one(
    users_app: flask.Flask, pending: Browser, mailbox: Mailbox
) -> None:
    for _ in range(3):
        for path in ("/verify/resend", "/forgotten-password"):
            Browser(users_app.test_client()).submit(path, {"email": TYPED})
    assert mailbox.to(PENDING) == []


def test_a_new_password_keeps_the_forced_session_logged_in(
    pending: Browser,
) -> None:
    fresh = "kettle marmot bassoon"
    changed = pending.submit(
        "/change",
        {
            "email": TYPED,
            "current_password": PASSWORD,
            "password": fresh,
            "password_confirm": fresh,
        },
    )
    assert changed.status_code == 302
    # As for a verified account: this session goes on, under a new ID.
    assert pending.get("/account").text == f"Account of {TYPED}"
