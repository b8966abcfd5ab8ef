"""Costly anonymous POSTs (issue 9, item 5).

Sign-up and verification POSTs hash or check a password and may send an
email. Before the fix "20 POSTs reusing one CSRF token cost 4 s of CPU at the
default cost while sending 3 emails". Now each client network (an IPv6 /64)
has ``RIVO_COSTLY_POSTS_PER_HOUR`` of them, checked before any work, and a
sign-up past an address's mail quota hashes nothing.

The CPU spent is the fault, and it cannot be seen from outside without
timing; so the bcrypt calls are counted, by wrapping ``bcrypt.hashpw`` and
``bcrypt.checkpw`` (pure functions; the wrapper calls the real one).
"""

from __future__ import annotations

import typing as t

import bcrypt
import flask
import pytest
import sqlalchemy as sa
from support import CSRF
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo.users import UserState
from flask_rivo.users.throttle import MAIL_PER_HOUR

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

#: The counters live in the session store: the budget's tests run on every
#: store; the counting of hashes needs only one.
every_store = pytest.mark.every_store

TOO_MANY = "Too many requests from your network. Try again in"


class Bcrypt:
    """The bcrypt work done: one entry per hash made and per check."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashes = 0
        self.checks = 0
        real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw

        def hashpw(password: bytes, salt: bytes) -> bytes:
            self.hashes += 1
            return real_hashpw(password, salt)

        def checkpw(password: bytes, hashed: bytes) -> bool:
            self.checks += 1
            return real_checkpw(password, hashed)

        monkeypatch.setattr(bcrypt, "hashpw", hashpw)
        monkeypatch.setattr(bcrypt, "checkpw", checkpw)

    @property
    def work(self) -> int:
        return self.hashes + self.checks

    def reset(self) -> None:
        self.hashes = self.checks = 0


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Bcrypt:
    return Bcrypt(monkeypatch)


class Poster:
    """One client POSTing a form again and again with one CSRF token, as the
    issue's attacker did."""

    def __init__(self, app: flask.Flask, path: str) -> None:
        self.client = app.test_client()
        self.path = path
        found = CSRF.search(self.client.get(path).text)
        assert found is not None
        self.token = found.group(1)

    def post(self, remote: str = "127.0.0.1", **fields: str) -> TestResponse:
        return self.client.post(
            self.path,
            data={"csrf_token": self.token, **fields},
            environ_overrides={"REMOTE_ADDR": remote},
        )


def sign_up_fields(address: str) -> dict[str, str]:
    return {"email": address, "password": PASSWORD, "password_confirm": PASSWORD}


def assert_refused(response: TestResponse, clock_wait_max: int = 3600) -> int:
    """A 429 with Retry-After, and the form shown again with the message."""
    assert response.status_code == 429, response.status_code
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= clock_wait_max
    assert TOO_MANY in response.text
    assert 'role="alert"' in response.text
    assert CSRF.search(response.text) is not None  # the form, ready to send again
    return wait


def state_of(db: scoped_session[t.Any], address: str) -> UserState | None:
    found = db.scalars(sa.select(User.state).where(User.email == address)).first()
    db.remove()
    return t.cast("UserState | None", found)


@every_store
def test_the_issues_twenty_posts_cost_three_hashes_and_the_31st_is_refused(
    users_app: flask.Flask, mailbox: Mailbox, work: Bcrypt, db: scoped_session[t.Any]
) -> None:
    assert users_app.config["RIVO_COSTLY_POSTS_PER_HOUR"] == 30
    victim = "victim@example.com"
    poster = Poster(users_app, "/signup")
    work.reset()
    for _ in range(20):
        answer = poster.post(**sign_up_fields(victim))
        assert answer.status_code == 200
        assert "Check your email" in answer.text or victim in answer.text
    assert work.hashes == MAIL_PER_HOUR
    assert work.checks == 0
    assert len(mailbox.to(victim)) == MAIL_PER_HOUR
    # Ten more costly POSTs from the client are within its budget ...
    for index in range(10):
        assert poster.post(**sign_up_fields(f"n{index}@example.com")).status_code == 200
    assert work.hashes == MAIL_PER_HOUR + 10
    # ... the 31st is not, and costs nothing.
    refused = poster.post(**sign_up_fields("late@example.com"))
    assert_refused(refused)
    assert 'name="email"' in refused.text
    assert work.hashes == MAIL_PER_HOUR + 10
    assert mailbox.to("late@example.com") == []
    assert state_of(db, "late@example.com") is None


def test_new_created_and_verified_addresses_cost_one_hash_each(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, work: Bcrypt
) -> None:
    """Sign-up answers the same for every address, in the same time: one
    hash, one email, whatever the address is."""
    created = "cy@example.com"
    assert Browser(users_app.test_client()).sign_up(created).status_code == 200
    costs = {}
    for address in ("new@example.com", created, verified):
        work.reset()
        assert Browser(users_app.test_client()).sign_up(address).status_code == 200
        costs[address] = (work.hashes, work.checks, len(mailbox.to(address)))
        mailbox.clear()
    assert costs == {
        "new@example.com": (1, 0, 1),
        created: (1, 0, 1),
        verified: (1, 0, 1),
    }


def test_sign_ups_past_the_mail_quota_hash_nothing(
    users_app: flask.Flask,
    verified: str,
    mailbox: Mailbox,
    work: Bcrypt,
    clock: FakeClock,
) -> None:
    clock.advance(3601)  # a new hour: the quota that verified's sign-up used is back
    for address in (verified, "new@example.com"):
        for index in range(MAIL_PER_HOUR + 3):
            work.reset()
            answer = Browser(users_app.test_client()).sign_up(address)
            assert answer.status_code == 200
            assert work.hashes == (1 if index < MAIL_PER_HOUR else 0), (address, index)
        assert len(mailbox.to(address)) == MAIL_PER_HOUR


@every_store
def test_verification_posts_spend_the_budget_too(
    users_app: flask.Flask,
    mailbox: Mailbox,
    work: Bcrypt,
    clock: FakeClock,
    db: scoped_session[t.Any],
) -> None:
    users_app.config["RIVO_COSTLY_POSTS_PER_HOUR"] = 3
    address = "cy@example.com"
    browser = Browser(users_app.test_client())
    assert browser.sign_up(address).status_code == 200  # 1
    link = mailbox.last_link(address)
    for _ in range(2):  # 2, 3
        assert browser.submit(link, {"password": "not it at all"}).status_code == 400
    work.reset()
    refused = browser.submit(link, {"password": PASSWORD})
    wait = assert_refused(refused)
    assert 'name="password"' in refused.text
    assert work.work == 0  # no password checked
    assert state_of(db, address) is UserState.CREATED
    # A sign-up from the same client waits too, and hashes nothing.
    again = Browser(users_app.test_client()).sign_up("dee@example.com")
    assert_refused(again)
    assert work.work == 0
    assert state_of(db, "dee@example.com") is None
    # Log-in has a throttle of its own, not this budget.
    assert (
        Browser(users_app.test_client()).log_in(address, "wrong horse").status_code
        == 400
    )
    # The window ends: the link works.
    clock.advance(wait)
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert state_of(db, address) is UserState.VERIFIED


@every_store
def test_the_budget_is_per_ipv6_64_and_per_ipv4_address(
    users_app: flask.Flask, work: Bcrypt
) -> None:
    users_app.config["RIVO_COSTLY_POSTS_PER_HOUR"] = 2
    poster = Poster(users_app, "/signup")

    def sign_up(remote: str, index: int) -> TestResponse:
        return poster.post(remote, **sign_up_fields(f"p{index}@example.com"))

    assert sign_up("2001:db8:1:2::1", 1).status_code == 200
    assert sign_up("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 2).status_code == 200
    work.reset()
    # Another address in the same /64 is the same client.
    assert_refused(sign_up("2001:db8:1:2:ffff::9", 3))
    assert work.work == 0
    # The next /64, and IPv4 addresses, are other clients.
    assert sign_up("2001:db8:1:3::1", 4).status_code == 200
    assert sign_up("192.0.2.1", 5).status_code == 200
    assert sign_up("192.0.2.1", 6).status_code == 200
    assert_refused(sign_up("192.0.2.1", 7))
    assert sign_up("192.0.2.2", 8).status_code == 200
    # An IPv4-mapped IPv6 address is its IPv4 address.
    assert_refused(sign_up("::ffff:192.0.2.1", 9))
