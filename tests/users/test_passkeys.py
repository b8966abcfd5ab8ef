"""Passkeys through the real server path: py_webauthn checks real answers
from a software authenticator (see ``passkey_support``), so each defence is
shown to hold by an attack that fails."""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t

import flask
import pyotp
import pytest
import sqlalchemy as sa
from passkey_support import Authenticator
from support import csrf_token
from users_support import SITE
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import ConfigError
from flask_rivo.users import UserState
from flask_rivo.users import passkey_store
from flask_rivo.users import passkeys
from flask_rivo.users import signals
from flask_rivo.users.passkeys import CHALLENGE_TTL
from flask_rivo.users.settings import UsersSettings

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from support import FakeClock
    from werkzeug.test import TestResponse


def csrf(browser: Browser, path: str) -> str:
    return csrf_token(browser.get(path).text)


def options(browser: Browser, path: str, token: str) -> dict[str, t.Any]:
    reply = browser.client.post(path, headers={"X-CSRFToken": token})
    assert reply.status_code == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    return t.cast("dict[str, t.Any]", reply.get_json())


def add_passkey(
    browser: Browser, key: Authenticator, name: str = "My laptop", **how: t.Any
) -> TestResponse:
    token = csrf(browser, "/passkeys")
    found = options(browser, "/passkeys/options", token)
    return browser.client.post(
        "/passkeys",
        data={
            "csrf_token": token,
            "name": name,
            "credential": key.create(found, **how),
        },
    )


def passkey_log_in(
    browser: Browser, key: Authenticator, path: str = "/login/passkey", **how: t.Any
) -> TestResponse:
    token = csrf(browser, "/login")
    found = options(browser, "/login/passkey/options", token)
    return browser.client.post(
        path, data={"csrf_token": token, "credential": key.get(found, **how)}
    )


def stored(db: scoped_session[t.Any], address: str) -> User:
    db.remove()
    user = db.query(User).filter_by(email=address).one()
    return t.cast("User", user)


@pytest.fixture
def owner(browser: Browser, verified: str, mailbox: Mailbox) -> str:
    """A verified account, logged in with its password (its notice gone)."""
    assert browser.log_in(verified).status_code == 302
    mailbox.clear()
    return verified


@pytest.fixture
def key(browser: Browser, owner: str, mailbox: Mailbox) -> Authenticator:
    """A passkey added to ``owner``'s account; the browser logged out."""
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    browser.log_out()
    mailbox.clear()
    return authenticator


def test_add_list_log_in_and_remove(
    browser: Browser, owner: str, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    page = browser.get("/passkeys")
    assert "You have no passkeys yet." in page.text
    assert 'data-rivo-passkey="register"' in page.text
    authenticator = Authenticator(SITE)
    token = csrf(browser, "/passkeys")
    found = options(browser, "/passkeys/options", token)
    # A discoverable credential, user verification preferred, named for
    # the account, with a random handle (never the address).
    assert found["rp"] == {"name": "Flask-Rivo", "id": "rivo.test"}
    assert found["authenticatorSelection"]["residentKey"] == "required"
    assert found["authenticatorSelection"]["userVerification"] == "preferred"
    assert found["user"]["name"] == owner
    assert owner.encode() not in json.dumps(found["user"]["id"]).encode()
    assert found["excludeCredentials"] == []
    reply = browser.client.post(
        "/passkeys",
        data={
            "csrf_token": token,
            "name": "Work laptop",
            "credential": authenticator.create(found),
        },
    )
    assert reply.status_code == 302
    page = browser.get("/passkeys")
    assert "Work laptop" in page.text
    assert "Not used yet" in page.text
    [notice] = mailbox.to(owner)
    assert "A passkey was added" in notice["Subject"]
    assert "Work laptop" in mailbox.text(notice)
    user = stored(db, owner)
    assert user.passkey_handle == authenticator.user_handle
    # The second time, the browser is told not to make another one on the
    # same authenticator.
    again = options(browser, "/passkeys/options", csrf(browser, "/passkeys"))
    assert [c["id"] for c in again["excludeCredentials"]] == [
        json.loads(authenticator.create(again))["id"]
    ]

    browser.log_out()
    assert browser.get("/account").status_code == 302
    reply = passkey_log_in(browser, authenticator)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/"
    assert browser.get("/account").text == f"Account of {owner}"
    assert "Last used" in browser.get("/passkeys").text
    record = json.loads(stored(db, owner).passkeys or "[]")
    assert record[0]["sign_count"] == 1
    assert record[0]["last_used_at"] is not None
    assert stored(db, owner).last_login_at is not None

    mailbox.clear()
    token = csrf(browser, "/passkeys")
    reply = browser.client.post(
        "/passkeys", data={"csrf_token": token, "remove": record[0]["id"]}
    )
    assert reply.status_code == 302
    assert "You have no passkeys yet." in browser.get("/passkeys").text
    [notice] = mailbox.to(owner)
    assert "A passkey was removed" in notice["Subject"]
    # A removed passkey logs in no more.
    browser.log_out()
    reply = passkey_log_in(browser, authenticator)
    assert reply.status_code == 400
    assert "not known here" in reply.text
    assert browser.get("/account").status_code == 302


def test_log_in_page_offers_a_passkey_without_an_address(browser: Browser) -> None:
    page = browser.get("/login")
    assert 'data-rivo-passkey="login"' in page.text
    assert "/rivo-static/passkeys.js" in page.text
    assert "<script>" not in page.text  # no inline script (CSP)
    token = csrf(browser, "/login")
    found = options(browser, "/login/passkey/options", token)
    assert found["allowCredentials"] == []  # discoverable: no account named
    assert found["userVerification"] == "required"  # it stands for two factors
    assert found["rpId"] == "rivo.test"


def test_passkey_log_in_keeps_next_and_remember(
    browser: Browser, key: Authenticator
) -> None:
    token = csrf(browser, "/login")
    found = options(browser, "/login/passkey/options", token)
    reply = browser.client.post(
        "/login/passkey?next=/account",
        data={"csrf_token": token, "credential": key.get(found), "remember": "y"},
    )
    assert reply.headers["Location"] == "/account"
    cookie = [h for h in reply.headers.getlist("Set-Cookie") if "session=" in h]
    assert any("Expires=" in h for h in cookie)


def test_a_new_browser_gets_the_new_device_notice(
    users_app: flask.Flask, key: Authenticator, mailbox: Mailbox, verified: str
) -> None:
    stranger = Browser(users_app.test_client())
    assert passkey_log_in(stranger, key).status_code == 302
    [notice] = mailbox.to(verified)
    assert "new log-in" in notice["Subject"]
    # It names the passkey, and says what shuts out whoever holds it.
    text = mailbox.text(notice)
    assert "with the passkey “My laptop”" in text
    assert "remove the passkey" in text
    assert f"{SITE}/passkeys" in text
    assert "with the passkey “My laptop”" in mailbox.html(notice)
    # ... and now it is known: the next log-in is not told.
    mailbox.clear()
    stranger.log_out()
    assert passkey_log_in(stranger, key).status_code == 302
    assert mailbox.to(verified) == []


@pytest.mark.parametrize("origin", ["https://evil.test", "http://rivo.test"])
def test_an_answer_from_another_origin_is_refused(
    browser: Browser, owner: str, origin: str, db: scoped_session[t.Any]
) -> None:
    authenticator = Authenticator(SITE)
    reply = add_passkey(browser, authenticator, origin=origin)
    assert reply.status_code == 400
    assert "could not be checked" in reply.text
    assert stored(db, owner).passkeys is None


def test_a_log_in_from_another_origin_is_refused(
    browser: Browser, key: Authenticator
) -> None:
    reply = passkey_log_in(browser, key, origin="https://evil.test")
    assert reply.status_code == 400
    assert browser.get("/account").status_code == 302


def test_a_key_for_another_relying_party_is_refused(
    browser: Browser, owner: str
) -> None:
    authenticator = Authenticator(SITE, rp_id="evil.test")
    assert add_passkey(browser, authenticator).status_code == 400
    # Registered rightly, then asserting with another RP ID's hash: refused.
    right = Authenticator(SITE)
    assert add_passkey(browser, right).status_code == 302
    browser.log_out()
    right.rp_id = "evil.test"
    assert passkey_log_in(browser, right).status_code == 400
    assert browser.get("/account").status_code == 302


def test_a_replayed_assertion_is_refused(browser: Browser, key: Authenticator) -> None:
    token = csrf(browser, "/login")
    found = options(browser, "/login/passkey/options", token)
    answer = key.get(found)
    assert (
        browser.client.post(
            "/login/passkey", data={"csrf_token": token, "credential": answer}
        ).status_code
        == 302
    )
    browser.log_out()
    token = csrf(browser, "/login")
    reply = browser.client.post(
        "/login/passkey", data={"csrf_token": token, "credential": answer}
    )
    assert reply.status_code == 400
    assert "took too long, or was done twice" in reply.text
    # Even with a fresh challenge pending, the old answer names the old one.
    options(browser, "/login/passkey/options", token)
    reply = browser.client.post(
        "/login/passkey", data={"csrf_token": token, "credential": answer}
    )
    assert reply.status_code == 400
    assert browser.get("/account").status_code == 302


def test_an_expired_challenge_is_refused(
    browser: Browser, key: Authenticator, clock: FakeClock
) -> None:
    token = csrf(browser, "/login")
    found = options(browser, "/login/passkey/options", token)
    clock.advance(CHALLENGE_TTL + 1)
    reply = browser.client.post(
        "/login/passkey", data={"csrf_token": token, "credential": key.get(found)}
    )
    assert reply.status_code == 400
    assert "took too long" in reply.text


def test_a_challenge_of_another_session_is_refused(
    users_app: flask.Flask, browser: Browser, key: Authenticator
) -> None:
    found = options(browser, "/login/passkey/options", csrf(browser, "/login"))
    other = Browser(users_app.test_client())
    token = csrf(other, "/login")
    reply = other.client.post(
        "/login/passkey", data={"csrf_token": token, "credential": key.get(found)}
    )
    assert reply.status_code == 400
    assert other.get("/account").status_code == 302


def test_a_registration_challenge_does_not_serve_a_log_in(
    browser: Browser, owner: str
) -> None:
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    token = csrf(browser, "/passkeys")
    registration = options(browser, "/passkeys/options", token)
    # A log-in answer signed over the pending registration challenge.
    answer = authenticator.get({**registration, "rpId": "rivo.test"})
    reply = browser.client.post(
        "/login/passkey", data={"csrf_token": token, "credential": answer}
    )
    assert reply.status_code == 400
    assert "took too long, or was done twice" in reply.text


def test_a_challenge_is_spent_once_even_by_parallel_requests(
    users_app: flask.Flask,
) -> None:
    """Two requests of one session may both read the challenge before either
    saves the session without it: the store lets only the first use it."""
    with users_app.test_request_context():
        passkeys._issue(passkeys.AUTHENTICATE)
        pending = dict(flask.session[passkeys.SESSION_KEY])
        passkeys._take(passkeys.AUTHENTICATE)
        flask.session[passkeys.SESSION_KEY] = pending  # the other request's copy
        with pytest.raises(passkeys.PasskeyError, match="spent"):
            passkeys._take(passkeys.AUTHENTICATE)


def test_a_sign_count_that_does_not_grow_is_refused(
    browser: Browser, key: Authenticator
) -> None:
    assert passkey_log_in(browser, key).status_code == 302
    browser.log_out()
    assert passkey_log_in(browser, key).status_code == 302  # counter at 2
    browser.log_out()
    key.sign_count = 1  # a clone, behind the original
    reply = passkey_log_in(browser, key)
    assert reply.status_code == 400
    assert browser.get("/account").status_code == 302


def test_an_unknown_credential_is_refused_alike(
    browser: Browser, key: Authenticator
) -> None:
    stranger = Authenticator(SITE)
    # The right account's handle, another key: not this account's passkey.
    reply = passkey_log_in(browser, stranger, user_handle=key.user_handle)
    assert reply.status_code == 400
    assert "not known here" in reply.text
    # No account with this handle at all: the same answer.
    other = passkey_log_in(browser, stranger, user_handle="AAAAAAAAAAAAAAAAAAAAAA")
    assert other.status_code == 400
    assert "not known here" in other.text
    assert browser.get("/account").status_code == 302


def test_log_in_needs_user_verification(browser: Browser, key: Authenticator) -> None:
    reply = passkey_log_in(browser, key, verified=False)
    assert reply.status_code == 400
    assert browser.get("/account").status_code == 302


def test_adding_takes_a_key_without_user_verification(
    browser: Browser, owner: str
) -> None:
    assert add_passkey(browser, Authenticator(SITE), verified=False).status_code == 302


@pytest.mark.parametrize("state", [UserState.EXPIRED, UserState.CREATED])
def test_an_account_that_may_not_log_in_gets_no_passkey_log_in(
    browser: Browser,
    key: Authenticator,
    verified: str,
    db: scoped_session[t.Any],
    state: UserState,
) -> None:
    user = stored(db, verified)
    user.state = state
    db.commit()
    reply = passkey_log_in(browser, key)
    assert reply.status_code == 400
    assert "not known here" in reply.text  # as if it were not there
    assert browser.get("/account").status_code == 302


def test_failed_assertions_are_throttled_per_address(
    browser: Browser, key: Authenticator, users_app: flask.Flask
) -> None:
    free = users_app.config.get("RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS", 20)
    for _ in range(free):
        assert passkey_log_in(browser, key, verified=False).status_code == 400
    passkey_log_in(browser, key, verified=False)
    reply = passkey_log_in(browser, key)  # even the right answer must wait
    assert reply.status_code == 429
    assert "Too many failed attempts" in reply.text
    assert browser.get("/account").status_code == 302


def test_the_options_need_the_csrf_token(browser: Browser, owner: str) -> None:
    assert browser.client.post("/login/passkey/options").status_code == 400
    assert browser.client.post("/passkeys/options").status_code == 400
    wrong = {"X-CSRFToken": "not-it"}
    assert browser.client.post("/passkeys/options", headers=wrong).status_code == 400


def test_passkey_pages_need_a_log_in(browser: Browser) -> None:
    assert browser.get("/passkeys").status_code == 302
    reply = browser.client.post(
        "/passkeys/options", headers={"Accept": "application/json"}
    )
    assert reply.status_code == 401


def test_removing_needs_the_csrf_token_and_an_own_passkey(
    browser: Browser, owner: str, db: scoped_session[t.Any]
) -> None:
    assert add_passkey(browser, Authenticator(SITE)).status_code == 302
    [record] = json.loads(stored(db, owner).passkeys or "[]")
    reply = browser.client.post("/passkeys", data={"remove": record["id"]})
    assert reply.status_code == 400
    token = csrf(browser, "/passkeys")
    reply = browser.client.post("/passkeys", data={"csrf_token": token, "remove": "x"})
    assert reply.status_code == 404
    assert len(json.loads(stored(db, owner).passkeys or "[]")) == 1


def test_bad_input_is_a_clear_error(browser: Browser, owner: str) -> None:
    token = csrf(browser, "/passkeys")
    options(browser, "/passkeys/options", token)
    for junk in ("{", "[]", '{"id": 1}', "null"):
        reply = browser.client.post(
            "/passkeys", data={"csrf_token": token, "name": "x", "credential": junk}
        )
        assert reply.status_code == 400, junk
        options(browser, "/passkeys/options", token)
    reply = browser.client.post("/passkeys", data={"csrf_token": token, "name": "x"})
    assert reply.status_code == 400
    browser.log_out()
    token = csrf(browser, "/login")
    for junk in ("{", "[]", '{"id": 1}', "null", ""):
        options(browser, "/login/passkey/options", token)
        reply = browser.client.post(
            "/login/passkey", data={"csrf_token": token, "credential": junk}
        )
        assert reply.status_code == 400, junk


def test_a_passkey_cannot_be_added_twice(browser: Browser, owner: str) -> None:
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    reply = add_passkey(browser, authenticator)
    assert reply.status_code == 400
    assert "on your account already" in reply.text
    # The page shown again holds no answer, so the next try makes a new one.
    assert 'name="credential" value=""' in reply.text


def test_relying_party_settings(
    make_users_app: t.Callable[..., flask.Flask], verified: str
) -> None:
    app = make_users_app(
        RIVO_PASSKEY_ORIGIN="https://login.rivo.test", RIVO_PASSKEY_RP_ID="rivo.test"
    )
    browser = Browser(app.test_client())
    assert browser.log_in(verified).status_code == 302
    found = options(browser, "/passkeys/options", csrf(browser, "/passkeys"))
    assert found["rp"]["id"] == "rivo.test"
    # The origin is the configured one, not RIVO_EXTERNAL_URL.
    assert add_passkey(browser, Authenticator(SITE)).status_code == 400
    assert (
        add_passkey(browser, Authenticator("https://login.rivo.test")).status_code
        == 302
    )


def test_no_site_address_is_a_503(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    app = make_users_app(drop=("RIVO_EXTERNAL_URL",))
    browser = Browser(app.test_client())
    token = csrf(browser, "/login")
    reply = browser.client.post(
        "/login/passkey/options", headers={"X-CSRFToken": token}
    )
    assert reply.status_code == 503


def test_debug_follows_the_request_host(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    app = make_users_app(debug=True, drop=("RIVO_EXTERNAL_URL",))
    browser = Browser(app.test_client())
    token = csrf(browser, "/login")
    reply = browser.client.post(
        "/login/passkey/options",
        headers={"X-CSRFToken": token},
        base_url="http://localhost:5100",
    )
    assert reply.get_json()["rpId"] == "localhost"


def test_adding_and_removing_ask_for_the_password_again_later(
    browser: Browser, owner: str, clock: FakeClock, users_app: flask.Flask
) -> None:
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    token = csrf(browser, "/passkeys")
    clock.advance(users_app.config["RIVO_REAUTH_WINDOW"].total_seconds() + 1)
    page = browser.get("/passkeys")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/reauthenticate?next=")
    reply = browser.client.post(
        "/passkeys/options",
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert reply.status_code == 401
    # A stolen session cannot remove (or add) a passkey without the password.
    reply = browser.client.post("/passkeys", data={"csrf_token": token, "remove": "x"})
    assert reply.status_code == 302
    assert reply.headers["Location"].startswith("/reauthenticate")


def reauthenticate(browser: Browser, key: Authenticator, **how: t.Any) -> TestResponse:
    page = browser.get("/reauthenticate?next=/passkeys")
    assert "Use a passkey" in page.text
    token = csrf(browser, "/reauthenticate?next=/passkeys")
    found = options(browser, "/reauthenticate/passkey/options", token)
    return browser.client.post(
        "/reauthenticate/passkey?next=/passkeys",
        data={"csrf_token": token, "credential": key.get(found, **how)},
    )


def test_a_passkey_re_authenticates(
    browser: Browser, owner: str, clock: FakeClock, users_app: flask.Flask
) -> None:
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    clock.advance(users_app.config["RIVO_REAUTH_WINDOW"].total_seconds() + 1)
    assert browser.get("/passkeys").status_code == 302
    token = csrf(browser, "/reauthenticate")
    found = options(browser, "/reauthenticate/passkey/options", token)
    # Here the browser is told which passkeys are the user's.
    assert [c["id"] for c in found["allowCredentials"]] == [
        json.loads(authenticator.get(found))["id"]
    ]
    reply = reauthenticate(browser, authenticator)
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/passkeys"
    assert browser.get("/passkeys").status_code == 200


def test_re_authenticating_takes_only_the_users_own_passkey(
    users_app: flask.Flask,
    browser: Browser,
    owner: str,
    clock: FakeClock,
    mailbox: Mailbox,
) -> None:
    # Another account, with a passkey of its own.
    other = Browser(users_app.test_client())
    other.sign_up("bob@example.com")
    assert (
        other.submit(
            mailbox.last_link("bob@example.com"), {"password": "zebra violin cactus"}
        ).status_code
        == 302
    )
    bobs = Authenticator(SITE)
    assert add_passkey(other, bobs).status_code == 302
    mine = Authenticator(SITE)
    assert add_passkey(browser, mine).status_code == 302
    clock.advance(users_app.config["RIVO_REAUTH_WINDOW"].total_seconds() + 1)
    reply = reauthenticate(browser, bobs)
    assert reply.status_code == 400
    assert "not known here" in reply.text
    assert browser.get("/passkeys").status_code == 302
    # Without user verification, refused too.
    assert reauthenticate(browser, mine, verified=False).status_code == 400
    assert reauthenticate(browser, mine).status_code == 302


def test_a_passkey_log_in_is_fresh(browser: Browser, key: Authenticator) -> None:
    assert passkey_log_in(browser, key).status_code == 302
    assert browser.get("/passkeys").status_code == 200


def test_the_cli_shows_and_removes_passkeys(
    users_app: flask.Flask, browser: Browser, key: Authenticator, verified: str
) -> None:
    runner = users_app.test_cli_runner()
    shown = runner.invoke(args=["users", "show", verified])
    assert shown.exit_code == 0, shown.output
    assert "Passkeys: 1" in shown.output
    assert "My laptop, added " in shown.output
    refused = runner.invoke(args=["users", "remove-passkeys", verified], input="n\n")
    assert refused.exit_code == 1
    assert "Passkeys: 1" in runner.invoke(args=["users", "show", verified]).output
    removed = runner.invoke(args=["users", "remove-passkeys", verified, "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "Removed 1 passkey(s)" in removed.output
    assert "Passkeys: 0" in runner.invoke(args=["users", "show", verified]).output
    again = runner.invoke(args=["users", "remove-passkeys", verified])
    assert "has no passkeys" in again.output
    assert passkey_log_in(browser, key).status_code == 400
    unknown = runner.invoke(args=["users", "remove-passkeys", "nobody@example.com"])
    assert unknown.exit_code == 1


def test_a_pending_log_in_challenge_leaves_a_transient_session(
    browser: Browser, store: t.Any, clock: FakeClock
) -> None:
    """A flood of visitors who ask for options and leave fills the store no
    longer than a flood that only fetches the form."""
    options(browser, "/login/passkey/options", csrf(browser, "/login"))
    anonymous = [
        r
        for k, r in store.records().items()
        if r.user_id is None and passkeys.SESSION_KEY in r.data
    ]
    assert len(anonymous) == 1
    assert anonymous[0].expires_at <= clock.now + 3600


def test_removing_a_passkey_ends_the_sessions_it_logged_in(
    users_app: flask.Flask, browser: Browser, key: Authenticator, verified: str
) -> None:
    """A passkey removed because its device was lost leaves no way in open."""
    lost = Browser(users_app.test_client())
    assert passkey_log_in(lost, key).status_code == 302
    by_password = Browser(users_app.test_client())
    assert by_password.log_in(verified).status_code == 302
    # A browser that logged in with the passkey, then with the password:
    # its session is the password's now.
    relogged = Browser(users_app.test_client())
    assert passkey_log_in(relogged, key).status_code == 302
    relogged.log_out()
    assert relogged.log_in(verified).status_code == 302
    # The owner removes it from a session of its own.
    assert passkey_log_in(browser, key).status_code == 302
    token = csrf(browser, "/passkeys")
    credential = re.search(
        r'name="remove" value="([^"]+)"', browser.get("/passkeys").text
    )
    assert credential is not None
    reply = browser.client.post(
        "/passkeys", data={"csrf_token": token, "remove": credential.group(1)}
    )
    assert reply.status_code == 302
    assert lost.get("/account").status_code == 302  # logged out
    assert by_password.get("/account").status_code == 200
    assert relogged.get("/account").status_code == 200
    assert browser.get("/account").status_code == 200  # the one who removed it


def test_the_cli_ends_the_sessions_of_removed_passkeys(
    users_app: flask.Flask, key: Authenticator, verified: str
) -> None:
    lost = Browser(users_app.test_client())
    assert passkey_log_in(lost, key).status_code == 302
    runner = users_app.test_cli_runner()
    result = runner.invoke(args=["users", "remove-passkeys", verified, "--yes"])
    assert "ended the 1 session(s)" in result.output
    assert lost.get("/account").status_code == 302


def test_a_blank_name_is_given_one(browser: Browser, owner: str) -> None:
    assert add_passkey(browser, Authenticator(SITE), name="   ").status_code == 302
    assert "<strong>Passkey</strong>" in browser.get("/passkeys").text


def test_a_user_store_without_passkey_lookups_logs_nobody_in(
    users_app: flask.Flask, browser: Browser, key: Authenticator
) -> None:
    """An application's own user store from before passkeys: a clear "not
    known", never a 500."""
    state = users_app.extensions["rivo_users"]
    inner = state.store

    class OlderStore:
        def __getattr__(self, name: str) -> t.Any:
            if name == "by_passkey_handle":
                raise AttributeError(name)
            return getattr(inner, name)

    state.store = OlderStore()
    reply = passkey_log_in(browser, key)
    assert reply.status_code == 400
    assert "not known here" in reply.text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RIVO_PASSKEY_ORIGIN", "example.com"),
        ("RIVO_PASSKEY_ORIGIN", "https://example.com/app"),
        ("RIVO_PASSKEY_ORIGIN", "ftp://example.com"),
        ("RIVO_PASSKEY_ORIGIN", 42),
        ("RIVO_PASSKEY_RP_ID", "https://example.com"),
        ("RIVO_PASSKEY_RP_ID", "example.com:443"),
        ("RIVO_PASSKEY_RP_ID", ""),
    ],
)
def test_bad_relying_party_settings_fail_early(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        UsersSettings.from_config({key: value})


def test_an_account_holds_a_bounded_number_of_passkeys(
    browser: Browser, owner: str, db: scoped_session[t.Any]
) -> None:
    user = stored(db, owner)
    full = [
        dataclasses.asdict(
            passkey_store.Passkey(
                id=f"k{n}", public_key="x", sign_count=0, name="n", created_at=0.0
            )
        )
        for n in range(passkey_store.MAX_PASSKEYS)
    ]
    user.passkeys = json.dumps(full)
    db.commit()
    reply = add_passkey(browser, Authenticator(SITE))
    assert reply.status_code == 400
    assert "the most it may hold" in reply.text
    assert (
        len(json.loads(stored(db, owner).passkeys or "[]"))
        == passkey_store.MAX_PASSKEYS
    )


def test_a_late_registration_is_refused(
    browser: Browser, owner: str, clock: FakeClock
) -> None:
    token = csrf(browser, "/passkeys")
    found = options(browser, "/passkeys/options", token)
    clock.advance(CHALLENGE_TTL + 1)
    reply = browser.client.post(
        "/passkeys",
        data={
            "csrf_token": token,
            "name": "x",
            "credential": Authenticator(SITE).create(found),
        },
    )
    assert reply.status_code == 400
    assert "took too long" in reply.text


def test_posts_without_the_csrf_token_are_refused(browser: Browser, owner: str) -> None:
    authenticator = Authenticator(SITE)
    found = options(browser, "/passkeys/options", csrf(browser, "/passkeys"))
    answer = authenticator.create(found)
    assert (
        browser.client.post(
            "/passkeys", data={"name": "x", "credential": answer}
        ).status_code
        == 400
    )
    for path in ("/login/passkey", "/reauthenticate/passkey"):
        reply = browser.client.post(path, data={"credential": "{}"})
        assert reply.status_code == 400, path
        assert "The page expired" in reply.text


def test_re_authenticating_without_an_answer_shows_the_page(
    browser: Browser, owner: str
) -> None:
    token = csrf(browser, "/reauthenticate")
    reply = browser.client.post("/reauthenticate/passkey", data={"csrf_token": token})
    assert reply.status_code == 400
    assert "The passkey answer was missing" in reply.text


def test_the_sessions_page_tells_passkey_log_ins(
    users_app: flask.Flask, browser: Browser, key: Authenticator, verified: str
) -> None:
    by_password = Browser(users_app.test_client())
    assert by_password.log_in(verified).status_code == 302
    assert "with a passkey" not in by_password.get("/sessions").text
    assert passkey_log_in(browser, key).status_code == 302
    page = browser.get("/sessions").text
    assert page.count("with a passkey") == 1
    assert "with a passkey" in by_password.get("/sessions").text


def test_signals_tell_of_passkeys_and_failures(
    users_app: flask.Flask, browser: Browser, owner: str
) -> None:
    heard: list[tuple[str, t.Any]] = []

    def added(app: flask.Flask, user: t.Any, name: str) -> None:
        heard.append(("added", name))

    def removed(app: flask.Flask, user: t.Any, name: str) -> None:
        heard.append(("removed", name))

    def failed(app: flask.Flask, email: str | None, reason: str) -> None:
        heard.append((reason, email))

    with (
        signals.user_passkey_added.connected_to(added, users_app),
        signals.user_passkey_removed.connected_to(removed, users_app),
        signals.user_login_failed.connected_to(failed, users_app),
    ):
        authenticator = Authenticator(SITE)
        assert add_passkey(browser, authenticator, name="Phone").status_code == 302
        found = re.search(
            r'name="remove" value="([^"]+)"', browser.get("/passkeys").text
        )
        assert found is not None
        token = csrf(browser, "/passkeys")
        browser.client.post(
            "/passkeys", data={"csrf_token": token, "remove": found.group(1)}
        )
        browser.log_out()
        assert passkey_log_in(browser, authenticator).status_code == 400
    assert heard == [
        ("added", "Phone"),
        ("removed", "Phone"),
        ("passkey-unknown", None),
    ]


def test_an_ip_address_is_no_relying_party(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    """Browsers refuse an IP address as the RP ID: a clear 503 and a log line
    saying what to do, instead of a ceremony that can only fail."""
    app = make_users_app(debug=True, drop=("RIVO_EXTERNAL_URL",))
    client = app.test_client()
    base = "http://127.0.0.1:5000"
    token = csrf_token(client.get("/login", base_url=base).text)
    reply = client.post(
        "/login/passkey/options",
        headers={"X-CSRFToken": token},
        base_url=base,
    )
    assert reply.status_code == 503


def test_a_passkey_stands_for_both_factors(
    browser: Browser, owner: str, clock: FakeClock
) -> None:
    """With TOTP on, the password alone waits for a code; a passkey logs in
    at once, and ends a log-in left half-way."""
    authenticator = Authenticator(SITE)
    assert add_passkey(browser, authenticator).status_code == 302
    secret = re.search(
        r'class="rivo-secret"[^>]*>([A-Z2-7 ]+)</code>',
        browser.get("/two-factor").text,
    )
    assert secret is not None
    code = pyotp.TOTP(secret.group(1).replace(" ", "")).at(clock.now)
    turned_on = browser.submit(
        "/two-factor", {"code": code, "password": "zebra violin cactus"}
    )
    assert turned_on.status_code == 200
    browser.log_out()
    half_way = browser.log_in(owner)
    assert half_way.headers["Location"].startswith("/login/two-factor")
    assert browser.get("/account").status_code == 302
    assert passkey_log_in(browser, authenticator).status_code == 302
    assert browser.get("/account").text == f"Account of {owner}"
    # The half-way state is gone: the code page has nothing to finish.
    assert browser.get("/login/two-factor").status_code in (302, 303)


def test_a_passkey_session_checks_its_passkey_without_a_query(
    users_app: flask.Flask,
    browser: Browser,
    key: Authenticator,
    verified: str,
    db: scoped_session[t.Any],
) -> None:
    """Each request of a session logged in with a passkey checks that the
    passkey is still on the account: on the user row loaded anyway, so no
    query more than a password session's."""
    by_password = Browser(users_app.test_client())
    assert by_password.log_in(verified).status_code == 302
    assert passkey_log_in(browser, key).status_code == 302
    statements: list[str] = []

    def count(*args: t.Any) -> None:
        statements.append(str(args[2]))

    engine = db.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert by_password.get("/account").status_code == 200
        password_queries = len(statements)
        statements.clear()
        assert browser.get("/account").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == password_queries == 1
