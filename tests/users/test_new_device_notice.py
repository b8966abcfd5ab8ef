"""The new-device notice (issue 9, item 4): a log-in from a browser that had
not logged in to the account before is told to the owner, by email, with
when, which browser on which system, and from where. Real SMTP server."""

from __future__ import annotations

import logging
import re
import typing as t
from datetime import datetime
from datetime import timezone

import flask
import pytest
from support import FakeClock
from support import free_port
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo.users.humanize import moment
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from email.message import EmailMessage

    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

FIREFOX_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.6478.122 Mobile Safari/537.36"
)
SUBJECT = "A new log-in to your Flask-Rivo account"
WRONG = "wrong horse battery"


def browser_with(app: flask.Flask, user_agent: str | None) -> Browser:
    """A browser sending ``user_agent`` with every request."""
    client = app.test_client()
    if user_agent is not None:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    return Browser(client)


def log_in(
    browser: Browser, address: str, password: str = PASSWORD, remote: str = "127.0.0.1"
) -> TestResponse:
    fields = {"email": address, "password": password}
    return browser.submit("/login", fields, environ_overrides={"REMOTE_ADDR": remote})


def notices(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.to(address) if m["Subject"] == SUBJECT]


def test_a_new_browser_is_told_in_words(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, clock: FakeClock
) -> None:
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    assert log_in(browser, verified, remote="198.51.100.23").status_code == 302
    assert browser.get("/account").text == f"Account of {verified}"
    [notice] = notices(mailbox, verified)
    assert [a.addr_spec for a in notice["To"].addresses] == [verified]
    when = datetime.fromtimestamp(clock.now, tz=timezone.utc)
    for body in (Mailbox.text(notice), Mailbox.html(notice)):
        assert "Firefox 128 on Windows" in body
        assert "198.51.100.23" in body
        assert moment(when) in body  # in words: see test_humanize
        assert f"{SITE}/login" in body
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize(
    ("user_agent", "words"),
    [
        (CHROME_ANDROID, "Chrome Mobile 126 on Android"),
        (None, "an unknown browser"),
        ("curl/8.5.0", "curl 8"),
        # A generic rule of ua-parser's would copy these words from the header.
        ("Mozilla/5.0 (compatible; Call us now bot/1.0)", "an unknown browser"),
    ],
)
def test_other_browsers_in_words(
    users_app: flask.Flask,
    verified: str,
    mailbox: Mailbox,
    user_agent: str | None,
    words: str,
) -> None:
    browser = browser_with(users_app, user_agent)
    assert log_in(browser, verified).status_code == 302
    [notice] = notices(mailbox, verified)
    found = re.search(r"Browser:\s+(.+?)\r?\n", Mailbox.text(notice))
    assert found is not None
    assert found.group(1) == words


def test_a_known_browser_is_not_told_again(
    users_app: flask.Flask, verified: str, mailbox: Mailbox
) -> None:
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    assert log_in(browser, verified).status_code == 302
    assert len(notices(mailbox, verified)) == 1
    for _ in range(3):
        browser.log_out()
        assert log_in(browser, verified).status_code == 302
    assert len(notices(mailbox, verified)) == 1
    # Another browser is new again.
    other = browser_with(users_app, CHROME_ANDROID)
    assert log_in(other, verified).status_code == 302
    assert len(notices(mailbox, verified)) == 2


def test_failed_attempts_tell_nothing(
    users_app: flask.Flask, verified: str, mailbox: Mailbox
) -> None:
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    for _ in range(3):
        assert log_in(browser, verified, WRONG).status_code == 400
    assert mailbox.messages == []


def test_no_notice_when_turned_off(
    users_app: flask.Flask, verified: str, mailbox: Mailbox
) -> None:
    users_app.config["RIVO_NOTIFY_NEW_DEVICE"] = False
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    assert log_in(browser, verified).status_code == 302
    assert browser.get("/account").status_code == 200
    assert mailbox.messages == []


def test_confirming_an_address_sends_no_notice(
    users_app: flask.Flask, mailbox: Mailbox
) -> None:
    address = "cy@example.com"
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    assert browser.sign_up(address).status_code == 200
    link = mailbox.last_link(address)
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    assert browser.get("/account").text == f"Account of {address}"
    assert notices(mailbox, address) == []
    assert len(mailbox.messages) == 1  # the verification email only
    # ... and the browser that confirmed is known from then on.
    browser.log_out()
    assert log_in(browser, address).status_code == 302
    assert notices(mailbox, address) == []


def test_a_mail_server_that_is_down_does_not_stop_the_log_in(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_users_app(MAIL_PORT=free_port())

    with_account_page(app)

    address = "dee@example.com"
    db.add(
        User(email=address, password_hash=hash_password(PASSWORD, 4), state="verified")
    )
    db.commit()
    db.remove()
    browser = browser_with(app, FIREFOX_WINDOWS)
    with caplog.at_level(logging.ERROR):
        response = log_in(browser, address)
    assert response.status_code == 302
    assert browser.get("/account").text == f"Account of {address}"
    assert browser.client.get_cookie("rivo_device") is not None
    assert any(
        "Could not send email" in record.getMessage() for record in caplog.records
    )


#: What a client behind a trusting proxy fix may make its own address.
FORGED = "203.0.113.9 (our security team: nothing to do)\x1b[2J"


@pytest.mark.parametrize(
    ("remote", "shown"),
    [
        (FORGED, "an unknown address"),
        ("fe80::1%any words here", "fe80::1"),  # an IPv6 zone is free text
        ("2001:db8::7", "2001:db8::7"),
    ],
)
def test_a_forged_address_puts_no_words_into_the_notice(
    users_app: flask.Flask, verified: str, mailbox: Mailbox, remote: str, shown: str
) -> None:
    """Behind ``ProxyFix`` the address is ``X-Forwarded-For`` as the client
    wrote it: the owner's warning must not carry the intruder's words."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    users_app.wsgi_app = ProxyFix(users_app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    browser = browser_with(users_app, FIREFOX_WINDOWS)
    browser.client.environ_base["HTTP_X_FORWARDED_FOR"] = remote
    assert log_in(browser, verified).status_code == 302
    [notice] = notices(mailbox, verified)
    for body in (Mailbox.text(notice), Mailbox.html(notice)):
        assert f"Address: {shown}" in body
        assert "security team" not in body
        assert "\x1b" not in body
        assert "any words" not in body
