"""Sign-up and email verification, end to end.

Everything goes through the real ``rivo_users`` blueprint with CSRF on, a real
SMTP server on loopback (``mailbox``) and a real SQLite user table (``db``).
Links are followed from the received emails, as a person would.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import typing as t
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import flask
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support import CSRF
from support import FakeClock
from support import free_port
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import RivoUsers
from flask_rivo import random_id
from flask_rivo.users import UserState
from flask_rivo.users.mail import DEBUG_URL
from flask_rivo.users.mail import site_url
from flask_rivo.users.signals import user_signed_up
from flask_rivo.users.signals import user_verified

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import EmailMessage

    from flask.testing import FlaskClient
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

NEW_PASSWORD = "walrus tangerine oboe"
THREE_DAYS = 3 * 24 * 3600
_HREF = re.compile(r'href="([^"]+)"')


# Helpers ------------------------------------------------------------------

# Every test here that uses a store runs on every store.
pytestmark = pytest.mark.every_store


def rows(db: scoped_session[t.Any]) -> list[dict[str, t.Any]]:
    """Every row of the users table, as stored (no ORM in between)."""
    db.remove()
    result = db.execute(sa.select(User.__table__)).mappings().all()
    db.remove()
    return [dict(row) for row in result]


def user(db: scoped_session[t.Any], address: str) -> User | None:
    """The user with this (normalized) address, freshly read."""
    db.remove()
    return db.scalars(sa.select(User).where(User.email == address)).one_or_none()


def token_of(link: str) -> str:
    """The raw token in a verification link (path or absolute URL)."""
    found = re.search(r"[?&]token=([^&\s]+)", link)
    assert found is not None, link
    return found.group(1)


def csrf(browser: Browser) -> str:
    """A valid CSRF token of the browser's session, read from a form."""
    found = CSRF.search(browser.get("/signup").text)
    assert found is not None
    return found.group(1)


def post_token(browser: Browser, token: str | None) -> TestResponse:
    """POST the verify form with a valid CSRF token and ``token`` (if any)."""
    data = {"csrf_token": csrf(browser), "password": PASSWORD}
    if token is not None:
        data["token"] = token
    return browser.client.post("/verify", data=data)


def assert_link_used(response: TestResponse) -> None:
    """The page of a link that confirmed its address already."""
    assert response.status_code == 400
    assert "already confirmed" in response.text
    assert 'href="/login"' in response.text
    assert 'name="token"' not in response.text


def assert_link_invalid(response: TestResponse) -> None:
    assert response.status_code == 400
    assert "link does not work" in response.text.lower()
    assert 'name="token"' not in response.text  # no form to confirm


def only_message_to(mailbox: Mailbox, address: str) -> EmailMessage:
    assert len(mailbox.messages) == 1, [m["Subject"] for m in mailbox.messages]
    [message] = mailbox.to(address)
    return message


def html_links(message: EmailMessage) -> list[str]:
    return [html.unescape(href) for href in _HREF.findall(Mailbox.html(message))]


def input_tag(page: str, field_id: str) -> str:
    found = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', page)
    assert found is not None, f"no input #{field_id}"
    return found.group(0)


def field_error(page: str, field_id: str) -> str | None:
    found = re.search(
        rf'<p class="rivo-error" id="{field_id}-error">(.*?)</p>', page, re.S
    )
    return None if found is None else html.unescape(found.group(1))


def signup_data(
    address: str, password: str = PASSWORD, confirm: str | None = None
) -> dict[str, str]:
    return {
        "email": address,
        "password": password,
        "password_confirm": password if confirm is None else confirm,
    }


# A new address --------------------------------------------------------------


def test_new_address_gets_page_email_and_created_account(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.sign_up("bob@example.com")

    assert response.status_code == 200
    assert "<h1>Check your email</h1>" in response.text
    assert "bob@example.com" in response.text

    message = only_message_to(mailbox, "bob@example.com")
    assert "Flask-Rivo" in message["Subject"]
    assert message.is_multipart()
    assert message.get_body(preferencelist=("plain",)) is not None
    assert message.get_body(preferencelist=("html",)) is not None
    [link] = mailbox.links(message)
    assert link.startswith(f"{SITE}/verify?token=")
    assert html_links(message) == [link]

    [row] = rows(db)
    assert row["email"] == "bob@example.com"
    assert row["state"] == "created"
    assert row["verified_at"] is None
    raw = token_of(link)
    assert row["verification_token_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert row["verification_created_at"] is not None
    for column, value in row.items():
        assert raw not in str(value), f"raw token stored in {column}"
        assert PASSWORD not in str(value), f"password stored in {column}"
    assert row["password_hash"]


def test_subject_and_page_name_the_configured_site(
    users_app: flask.Flask, browser: Browser, mailbox: Mailbox
) -> None:
    users_app.config["RIVO_SITE_NAME"] = "Quokka Shop"
    response = browser.sign_up("bob@example.com")
    assert response.status_code == 200
    assert "Quokka Shop" in response.text
    message = only_message_to(mailbox, "bob@example.com")
    assert "Quokka Shop" in message["Subject"]
    assert "Quokka Shop" in Mailbox.text(message)
    assert "Quokka Shop" in Mailbox.html(message)


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"base_url": "http://evil.test"},
        {"base_url": "https://evil.test:8443"},
        {"headers": {"Host": "evil.test"}},
        {"headers": {"X-Forwarded-Host": "evil.test", "Host": "evil.test"}},
    ],
    ids=["base_url", "base_url_https_port", "host_header", "forwarded_host"],
)
def test_link_ignores_the_request_host(
    users_app: flask.Flask,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    request_kwargs: dict[str, t.Any],
) -> None:
    @users_app.get("/host")
    def host() -> str:
        return flask.request.host

    client = users_app.test_client()
    # The forged host really reaches the app...
    assert "evil.test" in client.get("/host", **request_kwargs).text
    page = client.get("/signup", **request_kwargs)
    found = CSRF.search(page.text)
    assert found is not None
    response = client.post(
        "/signup",
        data={**signup_data("bob@example.com"), "csrf_token": found.group(1)},
        **request_kwargs,
    )
    assert response.status_code == 200
    # ...but the emailed link points at RIVO_EXTERNAL_URL only.
    message = only_message_to(mailbox, "bob@example.com")
    text = Mailbox.text(message) + Mailbox.html(message)
    assert "evil.test" not in text
    [link] = mailbox.links(message)
    assert link.startswith(f"{SITE}/verify?token=")
    assert html_links(message) == [link]
    assert user(db, "bob@example.com") is not None


def test_notice_link_ignores_the_request_host(
    users_app: flask.Flask, verified: str, mailbox: Mailbox
) -> None:
    client = users_app.test_client()
    kwargs = {"base_url": "http://evil.test"}
    found = CSRF.search(client.get("/signup", **kwargs).text)
    assert found is not None
    data = {**signup_data(verified, NEW_PASSWORD), "csrf_token": found.group(1)}
    assert client.post("/signup", data=data, **kwargs).status_code == 200
    message = only_message_to(mailbox, verified)
    assert "evil.test" not in Mailbox.text(message) + Mailbox.html(message)
    assert mailbox.links(message) == [f"{SITE}/login"]


def test_created_account_can_verify_then_log_in(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    # Not verified yet: no log-in.
    assert browser.log_in("bob@example.com").status_code == 400
    assert browser.get("/account").status_code == 302
    browser.submit(mailbox.last_link("bob@example.com"), {"password": PASSWORD})
    assert browser.log_in("bob@example.com").status_code == 302
    assert browser.get("/account").text == "Account of bob@example.com"


# Normalization and uniqueness ---------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Ann@Example.COM",
        "  ann@example.com  ",
        "\tANN@EXAMPLE.COM\n",
        "ann@EXAMPLE.com",
    ],
)
def test_address_is_normalized(
    typed: str, browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.sign_up(typed)
    assert response.status_code == 200
    assert "ann@example.com" in response.text
    [row] = rows(db)
    assert row["email"] == "ann@example.com"
    message = only_message_to(mailbox, "ann@example.com")
    assert message["To"].addresses[0].addr_spec == "ann@example.com"


def test_address_stays_unique_across_spellings(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any], clock: FakeClock
) -> None:
    for typed in ["ann@example.com", "Ann@Example.com", " ANN@EXAMPLE.COM "]:
        assert browser.sign_up(typed).status_code == 200
    assert [row["email"] for row in rows(db)] == ["ann@example.com"]
    assert len(mailbox.to("ann@example.com")) == 3

    browser.submit(mailbox.last_link("ann@example.com"), {"password": PASSWORD})
    mailbox.clear()
    clock.advance(3600)  # past the hour's quota of emails to one address
    assert browser.sign_up("ANN@example.com", NEW_PASSWORD).status_code == 200
    assert [row["email"] for row in rows(db)] == ["ann@example.com"]
    assert mailbox.links(only_message_to(mailbox, "ann@example.com")) == [
        f"{SITE}/login"
    ]


def test_address_is_unique_in_the_database(db: scoped_session[t.Any]) -> None:
    db.add(User(email="ann@example.com", password_hash="x"))
    db.commit()
    db.add(User(email="ann@example.com", password_hash="y"))
    with pytest.raises(sa.exc.IntegrityError):
        db.commit()
    db.rollback()


# An address that already has a verified account ---------------------------


def test_verified_address_gets_the_same_answer(
    users_app: flask.Flask,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    before = user(db, verified)
    assert before is not None
    hash_before, state_before = before.password_hash, before.state
    verified_at_before = before.verified_at

    new = Browser(users_app.test_client()).sign_up("bob@example.com")
    mailbox.clear()
    existing = Browser(users_app.test_client()).sign_up(verified, NEW_PASSWORD)

    assert existing.status_code == new.status_code == 200
    assert existing.text.replace(verified, "ADDRESS") == new.text.replace(
        "bob@example.com", "ADDRESS"
    )
    assert sorted(existing.headers.keys()) == sorted(new.headers.keys())
    assert existing.mimetype == new.mimetype

    # The owner is told, with no link that verifies or resets anything.
    message = only_message_to(mailbox, verified)
    assert "Flask-Rivo" in message["Subject"]
    assert mailbox.links(message) == [f"{SITE}/login"]
    assert html_links(message) == [f"{SITE}/login"]
    body = Mailbox.text(message) + Mailbox.html(message)
    assert "token" not in body
    assert "/verify" not in body
    assert "/reset" not in body

    # The account is as it was, and the old password still works.
    after = user(db, verified)
    assert after is not None
    assert after.password_hash == hash_before
    assert after.state is state_before is UserState.VERIFIED
    assert after.verified_at == verified_at_before
    assert after.verification_created_at is None
    assert len(rows(db)) == 2  # ann and bob, no duplicate

    browser = Browser(users_app.test_client())
    assert browser.log_in(verified, NEW_PASSWORD).status_code == 400
    assert browser.log_in(verified, PASSWORD).status_code == 302
    assert browser.get("/account").text == f"Account of {verified}"


def test_verified_address_signup_sends_exactly_one_email_each_time(
    browser: Browser, verified: str, mailbox: Mailbox
) -> None:
    browser.sign_up(verified, NEW_PASSWORD)
    browser.sign_up(verified.upper(), NEW_PASSWORD)
    assert len(mailbox.messages) == 2
    for message in mailbox.messages:
        assert mailbox.links(message) == [f"{SITE}/login"]


# A created (never verified) account signing up again -----------------------


def test_created_account_signing_up_again(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com", PASSWORD)
    first = mailbox.last_link("bob@example.com")
    mailbox.clear()

    response = browser.sign_up("bob@example.com", NEW_PASSWORD)
    assert response.status_code == 200
    assert "<h1>Check your email</h1>" in response.text
    second = mailbox.last_link("bob@example.com")
    assert len(mailbox.messages) == 1
    assert token_of(first) != token_of(second)
    [row] = rows(db)
    assert row["state"] == "created"
    assert (
        row["verification_token_hash"]
        == hashlib.sha256(token_of(second).encode()).hexdigest()
    )

    # The first link no longer works, by GET or by POST.
    assert_link_invalid(browser.get(first))
    assert_link_invalid(post_token(browser, token_of(first)))
    assert rows(db)[0]["state"] == "created"

    # The second does, with the new password only: it replaced the old one.
    refused = browser.submit(second, {"password": PASSWORD})
    assert refused.status_code == 400
    assert "not the password this account was signed up with" in refused.text
    assert rows(db)[0]["state"] == "created"
    assert browser.submit(second, {"password": NEW_PASSWORD}).status_code == 302
    assert browser.get("/account").text == "Account of bob@example.com"
    browser.log_out()
    assert browser.log_in("bob@example.com", PASSWORD).status_code == 400
    assert browser.log_in("bob@example.com", NEW_PASSWORD).status_code == 302
    assert browser.get("/account").text == "Account of bob@example.com"


# The verification link ------------------------------------------------------


def test_get_shows_confirm_form_and_does_not_consume(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    [before] = rows(db)

    for _ in range(2):
        page = browser.get(link)
        assert page.status_code == 200
        form = re.search(r"<form[^>]*>.*?</form>", page.text, re.S)
        assert form is not None
        assert 'method="post"' in form.group(0)
        assert 'action="/verify"' in form.group(0)
        assert 'name="csrf_token"' in form.group(0)
        assert f'value="{token_of(link)}"' in form.group(0)
        assert "<button" in form.group(0)

    assert rows(db) == [before]  # nothing changed by opening the link

    response = browser.submit(link, {"password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"  # logged in: RIVO_LOGIN_REDIRECT
    [after] = rows(db)
    assert after["state"] == "verified"
    assert after["verified_at"] is not None
    # Used: no time, so never again; the hash stays to say "already confirmed".
    assert after["verification_created_at"] is None
    assert after["verification_token_hash"] == before["verification_token_hash"]

    assert browser.get("/account").text == "Account of bob@example.com"
    page = browser.get("/signup")
    assert "Your email address is confirmed" in page.text
    assert "rivo-flash" in page.text
    # A flash shows once.
    assert "Your email address is confirmed" not in browser.get("/signup").text


def test_verified_at_comes_from_the_clock(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any], clock: FakeClock
) -> None:
    browser.sign_up("bob@example.com")
    clock.advance(3600)
    browser.submit(mailbox.last_link("bob@example.com"), {"password": PASSWORD})
    found = user(db, "bob@example.com")
    assert found is not None
    assert found.verified_at is not None
    moment = found.verified_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    assert abs(moment - datetime.fromtimestamp(clock.now, tz=timezone.utc)) < timedelta(
        seconds=1
    )


def test_reused_token(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    [after] = rows(db)

    assert_link_used(browser.get(link))
    assert_link_used(post_token(browser, token_of(link)))
    assert rows(db) == [after]  # the second use changed nothing


def test_reused_token_in_another_browser(
    users_app: flask.Flask, browser: Browser, mailbox: Mailbox
) -> None:
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert_link_used(Browser(users_app.test_client()).get(link))


def test_unknown_token(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    unknown = random_id(32)
    assert_link_invalid(browser.get("/verify", query_string={"token": unknown}))
    assert_link_invalid(post_token(browser, unknown))
    assert rows(db)[0]["state"] == "created"


def test_token_hash_is_not_a_token(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    """A copy of the users table gives no working link."""
    browser.sign_up("bob@example.com")
    [row] = rows(db)
    stored = row["verification_token_hash"]
    assert_link_invalid(browser.get("/verify", query_string={"token": stored}))
    assert_link_invalid(post_token(browser, stored))
    assert_link_invalid(post_token(browser, stored[:32]))
    assert rows(db)[0]["state"] == "created"


MALFORMED = [
    "",
    "abc",
    "!" * 32,
    "a" * 31,
    "a" * 33,
    "é" * 32,
    "' OR 1=1 --",
    "a" * 10_000,
    "\x00" * 32,
    "../../etc/passwd",
    "%s%s%s%n",
]


@pytest.mark.parametrize("token", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_token(
    token: str, browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    assert_link_invalid(browser.get("/verify", query_string={"token": token}))
    assert_link_invalid(post_token(browser, token))
    assert rows(db)[0]["state"] == "created"


def test_malformed_token_near_a_real_one(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    real = token_of(mailbox.last_link("bob@example.com"))
    for token in [
        real + "x",
        real[:-1],
        real.lower() if real != real.lower() else real.upper(),
        f" {real}",
    ]:
        assert_link_invalid(browser.get("/verify", query_string={"token": token}))
        assert_link_invalid(post_token(browser, token))
    assert rows(db)[0]["state"] == "created"


def test_missing_token(browser: Browser, db: scoped_session[t.Any]) -> None:
    assert_link_invalid(browser.get("/verify"))
    assert_link_invalid(post_token(browser, None))
    assert_link_invalid(browser.get("/verify?token"))
    assert_link_invalid(browser.get("/verify?tok=abc"))


@pytest.mark.parametrize(
    ("ttl", "age"),
    [
        (None, THREE_DAYS + 1),
        (None, THREE_DAYS + 3600),
        (3600, 3601),
        (timedelta(hours=2), 2 * 3600 + 1),
    ],
)
def test_expired_token(
    ttl: t.Any,
    age: float,
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    clock: FakeClock,
) -> None:
    if ttl is not None:
        users_app.config["RIVO_VERIFICATION_TTL"] = ttl
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    clock.advance(age)
    assert_link_invalid(browser.get(link))
    assert_link_invalid(post_token(browser, token_of(link)))
    assert rows(db)[0]["state"] == "created"


@pytest.mark.parametrize(
    "start", [1_800_000_000.0000007, 1_800_000_000.9999996, 1_800_000_000.5]
)
def test_link_works_at_the_instant_it_was_sent(
    start: float,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    clock: FakeClock,
) -> None:
    """A clock that has not moved since the email went out still accepts the
    link (also true of a server whose clock is a hair behind the sender's)."""
    clock.now = start
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    assert browser.get(link).status_code == 200
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert rows(db)[0]["state"] == "verified"


def test_token_works_until_it_expires(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any], clock: FakeClock
) -> None:
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    clock.advance(THREE_DAYS - 60)
    assert browser.get(link).status_code == 200
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert rows(db)[0]["state"] == "verified"


def test_expired_link_can_be_replaced_by_signing_up_again(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any], clock: FakeClock
) -> None:
    browser.sign_up("bob@example.com")
    clock.advance(THREE_DAYS + 1)
    assert_link_invalid(browser.get(mailbox.last_link("bob@example.com")))
    mailbox.clear()
    browser.sign_up("bob@example.com")
    assert (
        browser.submit(
            mailbox.last_link("bob@example.com"), {"password": PASSWORD}
        ).status_code
        == 302
    )
    assert rows(db)[0]["state"] == "verified"


def test_verify_post_without_csrf_token(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.sign_up("bob@example.com")
    link = mailbox.last_link("bob@example.com")
    token = token_of(link)
    assert browser.get(link).status_code == 200  # the session has a CSRF token

    assert browser.client.post("/verify", data={"token": token}).status_code == 400
    assert (
        browser.client.post(
            "/verify", data={"token": token, "csrf_token": "forged"}
        ).status_code
        == 400
    )
    other = Browser(browser.client.application.test_client())
    stolen = csrf(other)
    assert (
        browser.client.post(
            "/verify", data={"token": token, "csrf_token": stolen + "x"}
        ).status_code
        == 400
    )
    [row] = rows(db)
    assert row["state"] == "created"  # the token was not used
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302


def test_signup_post_without_csrf_token(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    browser.get("/signup")
    response = browser.client.post("/signup", data=signup_data("bob@example.com"))
    assert response.status_code == 400
    assert mailbox.messages == []
    assert rows(db) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_verify_other_methods(method: str, browser: Browser) -> None:
    assert browser.client.open("/verify", method=method).status_code == 405


# Form errors ----------------------------------------------------------------

INVALID_EMAILS = [
    "not-an-email",
    "ann@",
    "@example.com",
    "ann example@example.com",
    "ann@@example.com",
    "ann@example..com",
    "ann@exa mple.com",
    "ann<script>@example.com",
]


@pytest.mark.parametrize("address", INVALID_EMAILS)
def test_invalid_email(
    address: str, browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.sign_up(address)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in input_tag(response.text, "email")
    assert "email-error" in input_tag(response.text, "email")
    error = field_error(response.text, "email")
    assert error is not None
    assert "valid email address" in error
    assert 'aria-invalid="false"' in input_tag(response.text, "password")
    assert "<script>" not in response.text
    assert mailbox.messages == []
    assert rows(db) == []


def test_empty_email(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.sign_up("")
    assert response.status_code == 400
    assert 'aria-invalid="true"' in input_tag(response.text, "email")
    assert field_error(response.text, "email")
    assert mailbox.messages == []
    assert rows(db) == []


def test_passwords_not_matching(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.submit(
        "/signup", signup_data("bob@example.com", PASSWORD, PASSWORD + "!")
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in input_tag(response.text, "password_confirm")
    assert field_error(response.text, "password_confirm") == (
        "The two passwords are not the same."
    )
    assert 'aria-invalid="false"' in input_tag(response.text, "email")
    assert mailbox.messages == []
    assert rows(db) == []


@pytest.mark.parametrize(
    ("address", "password", "site_name", "message"),
    [
        ("bob@example.com", "password", None, "most common passwords"),
        ("bob@example.com", "12345678", None, "sequence"),
        ("bob@example.com", "aaaaaaaaaaaa", None, "repeats"),
        ("quentin.marlowe@example.com", "quentin.marlowe", None, "your name"),
        ("quentin.marlowe@example.com", "quentinmarlowe1", None, "your name"),
        ("bob@example.com", "Flask-Rivo", None, "name of this site"),
        ("bob@example.com", "flaskrivo2024", None, "name of this site"),
        ("bob@example.com", "Quokkaland2024", "Quokkaland", "name of this site"),
        ("bob@example.com", "abc12", None, "at least 8 characters"),
        ("bob@example.com", "x7#q!Zk", None, "at least 8 characters"),
        ("bob@example.com", "x" * 300, None, "at most"),
    ],
    ids=[
        "common",
        "sequence",
        "repetitive",
        "local_part",
        "local_part_joined",
        "site_name",
        "site_name_year",
        "custom_site_name",
        "short",
        "seven",
        "long",
    ],
)
def test_weak_password(
    address: str,
    password: str,
    site_name: str | None,
    message: str,
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    if site_name is not None:
        users_app.config["RIVO_SITE_NAME"] = site_name
    response = browser.sign_up(address, password)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in input_tag(response.text, "password")
    assert "password-error" in input_tag(response.text, "password")
    error = field_error(response.text, "password")
    assert error is not None
    assert message in error
    assert 'aria-invalid="false"' in input_tag(response.text, "email")
    # The password is never echoed back into the form.
    for field_id in ("password", "password_confirm"):
        assert re.search(r'value="[^"]', input_tag(response.text, field_id)) is None
    assert mailbox.messages == []
    assert rows(db) == []


def test_custom_site_name_alone_is_no_weak_password(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    """The site-name check follows RIVO_SITE_NAME: this one is fine elsewhere."""
    assert browser.sign_up("bob@example.com", "Quokkaland2024").status_code == 200
    assert len(rows(db)) == 1


def test_form_error_keeps_the_address_and_a_fresh_form(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    response = browser.sign_up("bob@example.com", "password")
    assert response.status_code == 400
    assert 'value="bob@example.com"' in input_tag(response.text, "email")
    assert CSRF.search(response.text) is not None
    # Correcting the form then works.
    assert browser.sign_up("bob@example.com").status_code == 200
    assert len(rows(db)) == 1


# Mail server down -----------------------------------------------------------


def test_mail_server_down(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    app = make_users_app(MAIL_PORT=free_port())
    browser = Browser(app.test_client())
    response = browser.sign_up("bob@example.com")
    assert response.status_code == 503
    assert "could not send you an email" in response.text
    assert "Traceback" not in response.text
    assert rows(db) == []
    assert mailbox.messages == []
    # The sign-up form again, in the site's layout, with the address typed
    # (never the password), to try again in a moment.
    assert 'class="rivo-form-error" role="alert"' in response.text
    assert 'value="bob@example.com"' in response.text
    assert PASSWORD not in response.text
    assert "rivo.css" in response.text


def test_mail_server_down_keeps_a_created_account_as_it_was(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    browser.sign_up("bob@example.com", PASSWORD)
    link = mailbox.last_link("bob@example.com")
    [before] = rows(db)
    port = users_app.config["MAIL_PORT"]

    users_app.config["MAIL_PORT"] = free_port()
    response = browser.sign_up("bob@example.com", NEW_PASSWORD)
    assert response.status_code == 503
    assert rows(db) == [before]

    users_app.config["MAIL_PORT"] = port
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert browser.log_in("bob@example.com", PASSWORD).status_code == 302


def test_mail_server_down_for_a_verified_account(
    users_app: flask.Flask,
    browser: Browser,
    verified: str,
    db: scoped_session[t.Any],
) -> None:
    [before] = rows(db)
    users_app.config["MAIL_PORT"] = free_port()
    assert browser.sign_up(verified, NEW_PASSWORD).status_code == 503
    assert (
        Browser(users_app.test_client()).sign_up("new@example.com").status_code == 503
    )
    assert rows(db) == [before]


# Where links point ------------------------------------------------------------


def test_links_from_server_name(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    app = make_users_app(
        drop=("RIVO_EXTERNAL_URL",),
        SERVER_NAME="shop.test",
        PREFERRED_URL_SCHEME="https",
    )
    browser = Browser(app.test_client())
    assert browser.sign_up("bob@example.com").status_code == 200
    [link] = mailbox.links(only_message_to(mailbox, "bob@example.com"))
    assert link.startswith("https://shop.test/verify?token=")
    path = link[len("https://shop.test") :]
    assert browser.get(path).status_code == 200
    assert browser.submit(path, {"password": PASSWORD}).status_code == 302
    assert rows(db)[0]["state"] == "verified"


def test_external_url_wins_over_server_name(
    make_users_app: Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    app = make_users_app(SERVER_NAME="shop.test", PREFERRED_URL_SCHEME="https")
    assert Browser(app.test_client()).sign_up("bob@example.com").status_code == 200
    [link] = mailbox.links(only_message_to(mailbox, "bob@example.com"))
    assert link.startswith(f"{SITE}/verify?token=")


def test_external_url_with_trailing_slash(
    make_users_app: Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    app = make_users_app(RIVO_EXTERNAL_URL=SITE + "/")
    assert Browser(app.test_client()).sign_up("bob@example.com").status_code == 200
    [link] = mailbox.links(only_message_to(mailbox, "bob@example.com"))
    assert link.startswith(f"{SITE}/verify?token=")


def test_no_site_url_outside_debug_answers_503_where_links_are_built(
    smtp_server: tuple[int, Mailbox],
    db: scoped_session[t.Any],
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without RIVO_EXTERNAL_URL or SERVER_NAME the app still starts (every
    ``flask`` command works), but a page that would email a link answers
    503, keeps nothing of the request, and the log says what to set."""
    app = flask.Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test secret",
        RIVO_BCRYPT_ROUNDS=4,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server[0],
    )
    app.debug = False
    RivoUsers(app, user_model=User, db_session=db)
    assert "rivo_users" in app.blueprints
    with caplog.at_level(logging.ERROR):
        response = Browser(app.test_client()).sign_up("bob@example.com")
    assert response.status_code == 503
    assert "cannot send emails yet" in response.text
    assert "<!doctype html>" in response.text  # the site's own page
    assert "RIVO_EXTERNAL_URL" in caplog.text
    assert rows(db) == []
    assert mailbox.messages == []


def sign_up_at(client: FlaskClient, base_url: str) -> TestResponse:
    """Sign up ``bob@example.com`` with every request sent to ``base_url``."""
    page = client.get("/signup", base_url=base_url)
    found = CSRF.search(page.text)
    assert found is not None, page.status_code
    data = {**signup_data("bob@example.com"), "csrf_token": found.group(1)}
    return client.post("/signup", data=data, base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:5100", "http://localhost:8080", "http://[::1]:5000"],
)
def test_no_site_url_in_debug_follows_the_request_host_and_port(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    base_url: str,
) -> None:
    """``flask run --debug --port 5100``: the emailed link must lead back to
    the server the developer is looking at, not to a fixed port 5000."""
    app = make_users_app(debug=True, drop=("RIVO_EXTERNAL_URL",))
    browser = Browser(app.test_client())
    assert sign_up_at(browser.client, base_url).status_code == 200
    [link] = mailbox.links(only_message_to(mailbox, "bob@example.com"))
    assert link.startswith(f"{base_url}/verify?token=")
    path = link[len(base_url) :]
    assert browser.submit(path, {"password": PASSWORD}).status_code == 302
    assert rows(db)[0]["state"] == "verified"


def test_site_url_in_debug_still_wins_over_the_request_host(
    make_users_app: Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    app = make_users_app(debug=True)
    response = sign_up_at(app.test_client(), "http://evil.test:5100")
    assert response.status_code == 200
    [link] = mailbox.links(only_message_to(mailbox, "bob@example.com"))
    assert link.startswith(f"{SITE}/verify?token=")


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:5100", "http://localhost"])
def test_no_site_url_outside_debug_never_takes_the_request_host(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    base_url: str,
) -> None:
    app = make_users_app(drop=("RIVO_EXTERNAL_URL",))
    response = sign_up_at(app.test_client(), base_url)
    assert response.status_code == 503
    assert mailbox.messages == []
    assert rows(db) == []


def test_no_request_in_debug_points_at_the_dev_server(
    make_users_app: Callable[..., flask.Flask],
) -> None:
    """Outside a request (a ``flask`` command) there is no host to follow:
    debug mode falls back on ``flask run``'s default address, and outside
    debug mode there is no site address at all."""
    app = make_users_app(debug=True, drop=("RIVO_EXTERNAL_URL",))
    with app.app_context():
        assert site_url(app) == DEBUG_URL
    app.debug = False
    with app.app_context():
        assert site_url(app) is None


# Debug mode without a mail server ----------------------------------------------


def test_debug_without_mail_server_logs_the_email(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    db: scoped_session[t.Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_users_app(debug=True, drop=("MAIL_SERVER", "MAIL_PORT"))
    browser = Browser(app.test_client())
    with caplog.at_level(logging.INFO):
        assert browser.sign_up("bob@example.com").status_code == 200
    assert mailbox.messages == []
    logged = caplog.text
    assert "bob@example.com" in logged
    found = re.search(rf"{re.escape(SITE)}(/verify\?token=\w+)", logged)
    assert found is not None, logged
    # The logged link can be followed.
    assert browser.get(found.group(1)).status_code == 200
    assert browser.submit(found.group(1), {"password": PASSWORD}).status_code == 302
    assert rows(db)[0]["state"] == "verified"


def test_debug_without_mail_server_logs_the_notice(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_users_app(debug=True, drop=("MAIL_SERVER", "MAIL_PORT"))
    browser = Browser(app.test_client())
    with caplog.at_level(logging.INFO):
        browser.sign_up("bob@example.com")
        link = re.search(rf"{re.escape(SITE)}(/verify\?token=\w+)", caplog.text)
        assert link is not None
        browser.submit(link.group(1), {"password": PASSWORD})
        caplog.clear()
        assert browser.sign_up("bob@example.com", NEW_PASSWORD).status_code == 200
    assert f"{SITE}/login" in caplog.text
    assert "/verify" not in caplog.text
    assert mailbox.messages == []


def test_no_mail_server_outside_debug_is_not_silently_logged(
    make_users_app: Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Outside debug, emails are never written to the log (links are secrets)."""
    app = make_users_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    with caplog.at_level(logging.DEBUG):
        response = Browser(app.test_client()).sign_up("bob@example.com")
    assert response.status_code == 503
    assert "/verify?token=" not in caplog.text


# Signals ----------------------------------------------------------------------


def test_signals_fire_once_with_the_user(
    users_app: flask.Flask,
    browser: Browser,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    signed_up: list[tuple[t.Any, str, UserState]] = []
    confirmed: list[tuple[t.Any, str, UserState]] = []

    def on_signed_up(sender: t.Any, user: User, **extra: t.Any) -> None:
        assert isinstance(user, User)
        signed_up.append((sender, user.email, user.state))

    def on_verified(sender: t.Any, user: User, **extra: t.Any) -> None:
        assert isinstance(user, User)
        confirmed.append((sender, user.email, user.state))

    with (
        user_signed_up.connected_to(on_signed_up, users_app),
        user_verified.connected_to(on_verified, users_app),
    ):
        browser.sign_up("bob@example.com", "password")  # a form error
        assert signed_up == []

        browser.sign_up("Bob@Example.com")
        assert signed_up == [(users_app, "bob@example.com", UserState.CREATED)]
        assert confirmed == []

        link = mailbox.last_link("bob@example.com")
        browser.get(link)
        browser.get(link)
        assert confirmed == []  # opening the link is not verifying

        browser.submit(link, {"password": PASSWORD})
        assert confirmed == [(users_app, "bob@example.com", UserState.VERIFIED)]

        post_token(browser, token_of(link))  # a reused token
        browser.sign_up("bob@example.com", NEW_PASSWORD)  # a verified address
        assert len(signed_up) == 1
        assert len(confirmed) == 1


def test_signals_do_not_fire_when_mail_fails(
    users_app: flask.Flask, browser: Browser, db: scoped_session[t.Any]
) -> None:
    received: list[str] = []

    def on_signed_up(sender: t.Any, user: User, **extra: t.Any) -> None:
        received.append(user.email)

    users_app.config["MAIL_PORT"] = free_port()
    with user_signed_up.connected_to(on_signed_up, users_app):
        assert browser.sign_up("bob@example.com").status_code == 503
    assert received == []
    assert rows(db) == []


def test_signals_of_other_apps_are_not_received(
    users_app: flask.Flask,
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
) -> None:
    other = make_users_app()
    received: list[str] = []

    def on_signed_up(sender: t.Any, user: User, **extra: t.Any) -> None:
        received.append(user.email)

    with user_signed_up.connected_to(on_signed_up, users_app):
        Browser(other.test_client()).sign_up("bob@example.com")
    assert received == []


# Robustness -------------------------------------------------------------------


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    address=st.one_of(st.text(max_size=300), st.emails()),
    password=st.text(max_size=300),
    same=st.booleans(),
    confirm=st.text(max_size=50),
)
def test_arbitrary_input_never_gives_a_server_error(
    browser: Browser,
    mailbox: Mailbox,
    address: str,
    password: str,
    same: bool,
    confirm: str,
) -> None:
    response = (
        browser.sign_up(address, password)
        if same
        else browser.submit("/signup", signup_data(address, password, confirm))
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert "<h1>Check your email</h1>" in response.text
    else:
        assert 'aria-invalid="true"' in response.text


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=st.text(max_size=200))
def test_arbitrary_token_never_gives_a_server_error(
    browser: Browser, token: str
) -> None:
    assert_link_invalid(browser.get("/verify", query_string={"token": token}))
    assert_link_invalid(post_token(browser, token))
