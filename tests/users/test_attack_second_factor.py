"""An outsider's attacks on the second factor, sudo mode and passkeys
(found in the pre-release review): each test is an attack that must fail
cleanly, never with a 500 and never with a way in."""

from __future__ import annotations

import io
import typing as t

import flask
import pytest
from support import FakeClock
from support import csrf_token
from users import test_two_factor
from users.test_two_factor import Ann
from users.test_two_factor import code_at
from users.test_two_factor import log_in_again
from users.test_two_factor import second_step
from users.test_two_factor import shown_secret
from users.test_two_factor import stored
from users.test_two_factor import turn_on
from users.test_two_factor import wrong_code_at
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import add_user

from flask_rivo.users import UserState
from flask_rivo.users import totp
from flask_rivo.users.throttle import HARD_LIMIT

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session

ARABIC_INDIC = {ord("0") + d: chr(0x0660 + d) for d in range(10)}
FULLWIDTH = {ord("0") + d: chr(0xFF10 + d) for d in range(10)}


#: ``test_two_factor``'s: logged in, a second factor on.
ann = test_two_factor.ann


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULLWIDTH])
def test_a_code_in_other_digits_logs_in_and_never_fails_with_500(
    ann: Ann, clock: FakeClock, digits: dict[int, str]
) -> None:
    # Six Unicode digits ("\u0661\u0662...") passed str.isdigit() and reached
    # hmac.compare_digest, which raises TypeError on non-ASCII text: a 500.
    # A phone keyboard may type them: they are read as the digits they are.
    log_in_again(ann, clock)
    code = code_at(ann.secret, clock.now).translate(digits)
    page = second_step(ann.browser, code)
    assert page.status_code == 302, page.text
    assert ann.browser.get("/account").status_code == 200


@pytest.mark.parametrize(
    "code",
    [
        "\u00b2" * 6,  # superscript two: isdigit(), not a decimal digit
        "".join(chr(0x0661 + d) for d in range(5)),  # five Arabic-Indic digits
        "".join(chr(0xFF11 + d) for d in range(7)),  # seven full-width digits
        "".join(chr(0x2160 + d) for d in range(6)),  # Roman numerals
    ],
)
def test_non_ascii_lookalike_codes_are_wrong_codes(
    ann: Ann, clock: FakeClock, code: str
) -> None:
    log_in_again(ann, clock)
    page = second_step(ann.browser, code)
    assert page.status_code == 400
    assert "This code is not right" in page.text


def test_a_code_in_other_digits_turns_the_factor_off_without_500(
    ann: Ann, clock: FakeClock
) -> None:
    code = code_at(ann.secret, clock.now).translate(ARABIC_INDIC)
    page = ann.browser.submit("/two-factor", {"code": code, "password": PASSWORD})
    assert page.status_code == 302, page.text
    assert totp.normalize_code(code) == code_at(ann.secret, clock.now)


def test_a_setup_key_seen_by_one_user_is_never_offered_to_the_next(
    browser: Browser, db: scoped_session[t.Any], clock: FakeClock
) -> None:
    # The key offered for setting up waits in the session; a log-in keeps
    # the session's data. A session planted by an attacker (or a shared
    # browser) who opened /two-factor would offer their key to the next
    # user to log in there, who would turn on a factor the attacker has.
    add_user(db, "mallory@example.com")
    add_user(db, "bob@example.com")
    browser.log_in("mallory@example.com")
    known = shown_secret(browser.get("/two-factor"))
    assert browser.log_in("bob@example.com").status_code == 302  # same browser
    assert shown_secret(browser.get("/two-factor")) != known
    page = browser.submit(
        "/two-factor", {"code": code_at(known, clock.now), "password": PASSWORD}
    )
    assert page.status_code == 400
    assert stored(db, "bob@example.com").totp_secret is None


def test_new_recovery_codes_are_told_to_the_owner(ann: Ann, mailbox: Mailbox) -> None:
    # A thief of a session who knows the password makes a new set: they
    # now hold a second factor, and the owner's codes died. The owner must
    # hear of it, as of any change of an authentication factor (OWASP ASVS
    # 4.0 2.5.5).
    fields = {"action": "regenerate", "password": PASSWORD}
    page = ann.browser.submit("/two-factor", fields)
    assert page.status_code == 200
    [notice] = mailbox.to(ann.address)
    assert notice["Subject"] == "New recovery codes for your Flask-Rivo account"
    for text in (Mailbox.text(notice), Mailbox.html(notice)):
        assert "New recovery codes were just made" in text
        assert "the old ones no longer work" in text
        assert "someone knows your password" in text
        assert "/two-factor" in text


def lock_codes(users_app: flask.Flask, ann: Ann, clock: FakeClock) -> None:
    """Guess codes from unknown browsers (with the password) until the
    account takes no more codes from them."""
    thief = Browser(users_app.test_client())
    failures = 0
    for attempt in range(3 * HARD_LIMIT):
        remote = {"REMOTE_ADDR": f"198.51.{attempt // 250}.{attempt % 250}"}
        assert thief.log_in(ann.address, environ_base=remote).status_code == 302
        # Anew each time: the clock moves on, through many codes.
        wrong = wrong_code_at(ann.secret, clock.now)
        page = second_step(thief, wrong, environ_base=remote)
        if page.status_code == 400:
            failures += 1
            continue
        assert page.status_code == 429
        if "Retry-After" not in page.headers:
            break  # locked
        clock.advance(int(page.headers["Retry-After"]))
    assert failures == HARD_LIMIT


def test_the_lock_on_codes_does_not_send_the_owner_to_a_reset_that_cannot_lift_it(
    users_app: flask.Flask, ann: Ann, clock: FakeClock, mailbox: Mailbox
) -> None:
    # Whoever learnt the password guesses codes from unknown browsers until
    # the account takes no more codes from them. A password reset lifts the
    # password's lock, not this one (docs/two-factor.rst: the mailbox is not
    # the phone), so the page must not tell the owner to reset.
    lock_codes(users_app, ann, clock)
    owner = Browser(users_app.test_client())  # a new phone, say
    owner.submit("/forgotten-password", {"email": ann.address})
    owner.get(mailbox.last_link(ann.address))
    new = "otter marimba lantern"
    owner.submit("/reset-password", {"password": new, "password_confirm": new})
    page = second_step(owner, code_at(ann.secret, clock.now))
    assert page.status_code == 429
    assert "reset your password" not in page.text
    assert "no more codes from new browsers" in page.text
    assert "remove your second factor" in page.text


def test_an_administrators_reset_lifts_the_lock_on_codes(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    """The owner asked the site, as the locked page says: after
    ``flask users reset-2fa``, a second factor set up again works from the
    owner's new browser at once, not 30 days later."""
    lock_codes(users_app, ann, clock)
    result = users_app.test_cli_runner().invoke(
        args=["users", "reset-2fa", "--yes", ann.address]
    )
    assert result.exit_code == 0, result.output
    owner = Browser(users_app.test_client())  # the owner's new phone
    assert owner.log_in(ann.address).status_code == 302
    secret, _codes = turn_on(owner, clock)
    clock.advance(totp.STEP)
    owner.log_out()
    owner.client.delete_cookie("rivo_device")  # a browser new to the account
    assert owner.log_in(ann.address).status_code == 302
    page = second_step(owner, code_at(secret, clock.now))
    assert page.status_code == 302, page.text
    assert owner.get("/account").status_code == 200


# -- defences checked in the review, which hold ---------------------------------


def session_id(browser: Browser) -> str | None:
    cookie = browser.client.get_cookie("session")
    return None if cookie is None else cookie.value


def test_each_factor_gets_a_new_session_id_and_the_old_ones_die(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    ann.browser.log_out()
    ann.browser.get("/signup")  # an anonymous session with a CSRF secret
    planted = session_id(ann.browser)
    assert ann.browser.log_in(ann.address).status_code == 302
    halfway = session_id(ann.browser)
    assert second_step(ann.browser, code_at(ann.secret, clock.now)).status_code == 302
    logged_in = session_id(ann.browser)
    assert len({planted, halfway, logged_in}) == 3
    for old in (planted, halfway):
        other = Browser(users_app.test_client())
        other.client.set_cookie("session", t.cast("str", old))
        assert other.get("/account").status_code == 302  # not Ann's session


def test_the_half_way_state_takes_over_a_session_logged_in_to_another_account(
    ann: Ann, clock: FakeClock, db: scoped_session[t.Any]
) -> None:
    # Mallory, logged in and fresh in this browser, types Ann's password:
    # Mallory is logged out, and nothing of her freshness reaches Ann.
    ann.browser.log_out()
    add_user(db, "mallory@example.com")
    assert ann.browser.log_in("mallory@example.com").status_code == 302
    assert ann.browser.get("/two-factor").status_code == 200  # fresh
    assert ann.browser.log_in(ann.address).status_code == 302
    assert ann.browser.get("/account").status_code == 302
    assert ann.browser.get("/two-factor").status_code == 302
    assert second_step(ann.browser, code_at(ann.secret, clock.now)).status_code == 302
    assert ann.browser.get("/account").text == f"Account of {ann.address}"


def test_a_closed_account_cannot_finish_a_half_way_log_in(
    ann: Ann, clock: FakeClock, db: scoped_session[t.Any]
) -> None:
    log_in_again(ann, clock)
    db.remove()
    user = db.query(User).filter_by(email=ann.address).one()
    user.state = UserState.EXPIRED
    db.commit()
    db.remove()
    page = second_step(ann.browser, code_at(ann.secret, clock.now))
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    assert ann.browser.get("/account").status_code == 302


# -- bad input ----------------------------------------------------------------

ODD_JSON = [
    "[1, 2]",
    "5",
    '"123456"',
    '{"code": 123456}',
    '{"code": [1]}',
    '{"code": true}',
    '{"email": {"a": 1}, "password": null}',
    '{"csrf_token": 5}',
]


@pytest.mark.parametrize("body", ODD_JSON)
def test_a_json_body_that_is_no_form_is_a_400_on_every_form(
    ann: Ann, clock: FakeClock, body: str
) -> None:
    # Flask-WTF reads a JSON body as the form's fields: a list, a number or
    # a field that is not text was a TypeError (a 500) on every form page.
    paths = [
        "/reauthenticate",
        "/two-factor",
        "/passkeys",
        "/sessions",
        "/change",
        "/login/passkey",
        "/login",
    ]
    for path in paths:
        reply = ann.browser.client.post(
            path, data=body, content_type="application/json"
        )
        assert reply.status_code == 400, path
    log_in_again(ann, clock)
    reply = ann.browser.client.post(
        "/login/two-factor", data=body, content_type="application/json"
    )
    assert reply.status_code == 400


def blueprint_posts(app: flask.Flask) -> list[str]:
    """Every route of the account blueprint that takes a POST, without
    URL variables."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("rivo_users.")
        and "POST" in (rule.methods or ())
        and not rule.arguments
    )


@pytest.mark.parametrize("field", ["email", "password", "code", "csrf_token", "x"])
def test_a_file_part_is_a_400_on_every_form(
    ann: Ann, clock: FakeClock, field: str
) -> None:
    """Flask-WTF hands a multipart body's files to the form beside its text
    fields: a file in place of a field reached the validators (``len()`` of
    a file, the address check) as a TypeError, a 500, before the CSRF
    check: for anyone, on the log-in page."""
    posts = blueprint_posts(ann.browser.client.application)
    assert "/login" in posts and "/two-factor" in posts  # the whole blueprint
    for anonymous in (False, True):
        if anonymous:
            ann.browser.log_out()
        for path in posts:
            data = {"email": ann.address, "password": PASSWORD, "code": "123456"}
            data[field] = (io.BytesIO(b"ann@example.com"), "field.txt")  # type: ignore[assignment]
            reply = ann.browser.client.post(
                path, data=data, content_type="multipart/form-data"
            )
            assert reply.status_code == 400, (path, anonymous)


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_a_body_of_text_fields_is_still_read_as_the_form(
    ann: Ann, clock: FakeClock, encoding: str
) -> None:
    log_in_again(ann, clock)
    page = ann.browser.get("/login/two-factor")
    body = {"csrf_token": csrf_token(page.text), "code": code_at(ann.secret, clock.now)}
    sent: dict[str, t.Any] = (
        {"json": body}
        if encoding == "json"
        else {"data": body, "content_type": "multipart/form-data"}
    )
    reply = ann.browser.client.post("/login/two-factor", **sent)
    assert reply.status_code == 302
    assert ann.browser.get("/account").status_code == 200
