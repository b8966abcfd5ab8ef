"""Forgotten password, reset, and a fresh verification link, through the real
blueprint with CSRF on and a real SMTP server, following the emailed links
as a person would."""

from __future__ import annotations

import logging
import typing as t

import flask
import pytest
import sqlalchemy as sa
from support import FakeClock
from support import csrf_token
from support import free_port
from support import without_csrf
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo.users import UserState
from flask_rivo.users.passwords import hash_password
from flask_rivo.users.signals import user_password_reset

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

pytestmark = pytest.mark.every_store

NEW = "otter marimba lantern"


def ask(
    browser: Browser, address: str, path: str = "/forgotten-password"
) -> TestResponse:
    return browser.submit(path, {"email": address})


def reset_link(mailbox: Mailbox, address: str) -> str:
    link = mailbox.last_link(address)  # the path, checked to be on SITE
    assert link.startswith("/reset-password?token="), link
    return link


def set_password(browser: Browser, password: str = NEW) -> TestResponse:
    return browser.submit(
        "/reset-password", {"password": password, "password_confirm": password}
    )


def user_row(db: scoped_session[t.Any], address: str) -> User | None:
    db.remove()
    return t.cast(
        "User | None", db.scalars(sa.select(User).where(User.email == address)).first()
    )


def page_of(response: TestResponse, address: str) -> str:
    """The page with what may differ between addresses blanked."""
    text = without_csrf(response.text)
    return text.replace(address, "ADDRESS")


# -- the forgotten-password page -----------------------------------------------


def test_every_address_gets_the_same_page_and_one_email(
    users_app: flask.Flask,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    Browser(users_app.test_client()).sign_up("carl@example.com")
    closed = "dora@example.com"
    db.add(User(email=closed, password_hash="x", state=UserState.EXPIRED))
    db.commit()
    mailbox.clear()
    answers = {}
    for address in (verified, "carl@example.com", "nobody@example.com", closed):
        response = ask(Browser(users_app.test_client()), address)
        assert response.status_code == 200
        answers[address] = page_of(response, address)
        assert len(mailbox.to(address)) == 1, address
    assert len(set(answers.values())) == 1
    assert "/reset-password?token=" in mailbox.last_link(verified)
    assert "/verify?token=" in mailbox.last_link("carl@example.com")
    assert "No account uses this address" in Mailbox.text(
        mailbox.to("nobody@example.com")[0]
    )
    assert "is closed" in Mailbox.text(mailbox.to(closed)[0])
    assert "token" not in Mailbox.text(mailbox.to(closed)[0])


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_opening_the_link_consumes_nothing_and_hides_the_token(
    method: str, browser: Browser, verified: str, mailbox: Mailbox
) -> None:
    ask(browser, verified)
    link = reset_link(mailbox, verified)
    for _ in range(2):
        opened = browser.client.open(link, method=method)
        assert opened.status_code == 302
        assert opened.headers["Location"] == "/reset-password"
        assert opened.headers["Referrer-Policy"] == "no-referrer"
    page = browser.get("/reset-password")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert verified in page.text
    assert "token=" not in page.text


def test_a_reset_sets_the_password_ends_every_session_and_logs_in(
    users_app: flask.Flask, browser: Browser, verified: str, mailbox: Mailbox
) -> None:
    thief = Browser(users_app.test_client())
    assert thief.log_in(verified).status_code == 302
    seen: list[str] = []

    def receive(sender: flask.Flask, user: User) -> None:
        seen.append(user.email)

    ask(browser, verified)
    browser.get(reset_link(mailbox, verified))
    before = browser.client.get_cookie("session")
    mailbox.clear()
    with user_password_reset.connected_to(receive, users_app):
        response = set_password(browser)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    after = browser.client.get_cookie("session")
    assert after is not None and before is not None and after.value != before.value
    assert browser.get("/account").text == f"Account of {verified}"
    assert thief.get("/account").status_code == 302
    assert seen == [verified]
    [notice] = mailbox.to(verified)
    assert "password" in notice["Subject"].lower()
    assert "/forgotten-password" in Mailbox.text(notice)
    browser.log_out()
    assert browser.log_in(verified, PASSWORD).status_code == 400
    assert browser.log_in(verified, NEW).status_code == 302


def test_the_new_password_must_be_reasonable(
    browser: Browser, verified: str, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    ask(browser, verified)
    browser.get(reset_link(mailbox, verified))
    before = user_row(db, verified)
    assert before is not None
    for weak in ("password", "ann@example.com", "Flask-Rivo"):
        response = set_password(browser, weak)
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.text
    mismatch = browser.submit(
        "/reset-password", {"password": NEW, "password_confirm": NEW + "x"}
    )
    assert mismatch.status_code == 400
    after = user_row(db, verified)
    assert after is not None and after.password_hash == before.password_hash


def test_a_used_link_is_dead(browser: Browser, verified: str, mailbox: Mailbox) -> None:
    ask(browser, verified)
    link = reset_link(mailbox, verified)
    browser.get(link)
    assert set_password(browser).status_code == 302
    other = Browser(browser.client.application.test_client())
    assert other.get(link).status_code == 400
    assert "does not work" in other.get(link).text
    assert 'href="/forgotten-password"' in other.get(link).text


def test_a_link_dies_when_it_expires(
    browser: Browser, verified: str, mailbox: Mailbox, clock: FakeClock
) -> None:
    ask(browser, verified)
    link = reset_link(mailbox, verified)
    browser.get(link)  # opened in time
    page = browser.get("/reset-password")
    assert page.status_code == 200
    clock.advance(24 * 3600 + 1)
    late = browser.client.post(
        "/reset-password",
        data={
            "csrf_token": csrf_token(page.text),
            "password": NEW,
            "password_confirm": NEW,
        },
    )
    assert late.status_code == 400
    assert "does not work" in late.text
    assert browser.get(link).status_code == 400


def test_a_newer_link_kills_the_older(
    browser: Browser, verified: str, mailbox: Mailbox
) -> None:
    ask(browser, verified)
    first = reset_link(mailbox, verified)
    ask(browser, verified)
    second = reset_link(mailbox, verified)
    assert first != second
    assert browser.get(first).status_code == 400
    assert browser.get(second).status_code == 302


def test_a_password_changed_by_another_route_kills_the_link(
    users_app: flask.Flask,
    browser: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    ask(browser, verified)
    link = reset_link(mailbox, verified)
    with users_app.app_context():
        user = user_row(db, verified)
        assert user is not None
        user.password_hash = hash_password("a different passphrase", 4)
        db.commit()
    assert browser.get(link).status_code == 400


def test_reset_emails_are_limited_per_address_and_the_page_stays_the_same(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, clock: FakeClock
) -> None:
    clock.advance(3601)  # past the hour of the sign-up's email
    pages = set()
    for _ in range(5):
        response = ask(Browser(users_app.test_client()), verified)
        assert response.status_code == 200
        pages.add(page_of(response, verified))
    assert len(pages) == 1
    assert len(mailbox.to(verified)) == 3


@pytest.mark.parametrize(
    "typed",
    [
        # Full-width letters: the same domain once IDNA maps them.
        "ANN@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.COM",
        "Ann@Example.com",
    ],
)
def test_the_mail_goes_to_the_address_on_record(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, typed: str
) -> None:
    ask(Browser(users_app.test_client()), typed)
    [message] = mailbox.messages
    assert message["To"].addresses[0].addr_spec == verified


@pytest.mark.parametrize("typed", ["ann@examp\u0131e.com", "ann@examp1e.com"])
def test_a_look_alike_address_reaches_no_other_account(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, typed: str
) -> None:
    response = ask(Browser(users_app.test_client()), typed)
    assert response.status_code == 200
    assert mailbox.to(verified) == []
    [message] = mailbox.messages
    assert "No account uses this address" in Mailbox.text(message)


def test_a_failing_mail_server_changes_nothing_visible(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    working = make_users_app()
    browser = Browser(working.test_client())
    browser.sign_up("ann@example.com")
    browser.submit(mailbox.last_link("ann@example.com"), {"password": PASSWORD})
    good = ask(Browser(working.test_client()), "ann@example.com")
    broken = make_users_app(MAIL_PORT=free_port())
    with caplog.at_level(logging.ERROR):
        bad = ask(Browser(broken.test_client()), "ann@example.com")
    assert bad.status_code == good.status_code == 200
    assert page_of(bad, "x") == page_of(good, "x")
    assert "Could not send email" in caplog.text
    user = user_row(db, "ann@example.com")
    assert user is not None and user.reset_token_hash is not None  # the first one


def test_costly_requests_are_limited_per_client(
    make_users_app: Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    app = make_users_app(RIVO_COSTLY_POSTS_PER_HOUR=2)
    browser = Browser(app.test_client())
    assert ask(browser, "a@example.com").status_code == 200
    assert ask(browser, "b@example.com").status_code == 200
    refused = ask(browser, "c@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many requests" in refused.text
    assert mailbox.to("c@example.com") == []


# -- a fresh verification link -------------------------------------------------


def test_resend_sends_a_fresh_link_only_to_a_never_verified_account(
    users_app: flask.Flask, verified: str, mailbox: Mailbox
) -> None:
    browser = Browser(users_app.test_client())
    browser.sign_up("carl@example.com")
    old = mailbox.last_link("carl@example.com")
    pages = set()
    for address in ("carl@example.com", verified, "nobody@example.com"):
        response = ask(Browser(users_app.test_client()), address, "/verify/resend")
        assert response.status_code == 200
        pages.add(page_of(response, address))
    assert len(pages) == 1
    new = mailbox.last_link("carl@example.com")
    assert new != old and "/verify?token=" in new
    assert browser.get(old).status_code == 400
    assert browser.submit(new, {"password": PASSWORD}).status_code == 302
    [notice] = mailbox.to(verified)
    assert "confirmed already" in Mailbox.text(notice)
    assert "/verify" not in Mailbox.text(notice)
