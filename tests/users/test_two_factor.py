"""The TOTP second factor (issue 13): setting it up, logging in with it,
recovery codes, turning it off, and the CLI. Real codes (pyotp, from the
secret the page shows), a real SMTP server, time moved by the clock hook."""

from __future__ import annotations

import html
import re
import typing as t

import flask
import pyotp
import pytest
import segno
from support import FakeClock
from support import csrf_token
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo.users import signals
from flask_rivo.users import totp

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

SECRET = re.compile(r'class="rivo-secret"[^>]*>([A-Z2-7 ]+)</code>')
CODE = re.compile(r"<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){5})</code></li>")
SVG = re.compile(r"<svg .*?</svg>", re.DOTALL)
WRONG = "wrong horse battery"


class Ann(t.NamedTuple):
    """A logged-in account with a second factor, and what the tests need."""

    address: str
    secret: str
    codes: list[str]
    browser: Browser


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


def accepted_codes_at(secret: str, when: float) -> set[str]:
    """The codes of the steps around ``when`` the account accepts
    (``totp.WINDOW`` either side)."""
    return {
        code_at(secret, when + step * totp.STEP)
        for step in range(-totp.WINDOW, totp.WINDOW + 1)
    }


def wrong_code_at(secret: str, when: float) -> str:
    """A code the account takes at none of the steps around ``when``: the
    right one plus one may be the code of the step before or after, a
    failure once in half a million runs."""
    accepted = accepted_codes_at(secret, when)
    guess = int(code_at(secret, when))
    while f"{guess:06d}" in accepted:
        guess = (guess + 1) % 1_000_000
    return f"{guess:06d}"


def shown_secret(page: TestResponse) -> str:
    found = SECRET.search(page.text)
    assert found is not None, page.text
    return found.group(1).replace(" ", "")


def turn_on(browser: Browser, clock: FakeClock) -> tuple[str, list[str]]:
    """Set up TOTP as a person does: read the key, type the app's code."""
    secret = shown_secret(browser.get("/two-factor"))
    code = code_at(secret, clock.now)
    page = browser.submit("/two-factor", {"code": code, "password": PASSWORD})
    assert page.status_code == 200, page.text
    return secret, CODE.findall(page.text)


def second_step(browser: Browser, code: str, **kwargs: t.Any) -> TestResponse:
    return browser.submit("/login/two-factor", {"code": code}, **kwargs)


def stored(db: scoped_session[t.Any], address: str) -> User:
    db.remove()
    user = db.query(User).filter_by(email=address).one()
    db.expunge(user)
    return t.cast("User", user)


@pytest.fixture
def ann(browser: Browser, verified: str, clock: FakeClock, mailbox: Mailbox) -> Ann:
    assert browser.log_in(verified).status_code == 302
    secret, codes = turn_on(browser, clock)
    clock.advance(totp.STEP)  # the setup's code is used; the tests use later ones
    mailbox.clear()
    return Ann(verified, secret, codes, browser)


def log_in_again(ann: Ann, clock: FakeClock) -> TestResponse:
    """Log out, then give the password: the half-way state begins."""
    ann.browser.log_out()
    return ann.browser.log_in(ann.address)


# -- setting up ---------------------------------------------------------------


def test_the_setup_page_shows_an_inline_qr_code_of_the_uri_and_the_key(
    browser: Browser, verified: str
) -> None:
    browser.log_in(verified)
    page = browser.get("/two-factor")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    secret = shown_secret(page)
    assert len(secret) == 32  # 160 bits
    assert re.search(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", page.text)  # grouped by 4
    uri = f"otpauth://totp/Flask-Rivo:{verified.replace('@', '%40')}?secret={secret}"
    assert html.escape(uri) in page.text or uri in page.text
    assert "issuer=Flask-Rivo" in page.text
    [svg] = SVG.findall(page.text)
    assert 'role="img"' in svg
    assert "<title>QR code to scan with your authenticator app</title>" in svg
    assert "<img" not in page.text
    # The SVG is the QR code of the URI: segno draws the same one again.
    found = re.search(r"otpauth://[^<\"]+", page.text)
    assert found is not None
    again = segno.make(html.unescape(found.group(0)), error="m").svg_inline(
        scale=5, svgclass="rivo-qr", lineclass=None, omitsize=True
    )
    assert re.search(r' d="([^"]+)"', svg).group(1) == re.search(  # type: ignore[union-attr]
        r' d="([^"]+)"', again
    ).group(1)
    # Reloading keeps the key: a phone halfway through scanning is not lost.
    assert shown_secret(browser.get("/two-factor")) == secret


def test_the_setup_page_needs_a_log_in(browser: Browser) -> None:
    page = browser.get("/two-factor")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")


def test_turning_on_needs_the_password_and_a_code_of_the_app(
    browser: Browser,
    verified: str,
    clock: FakeClock,
    db: scoped_session[t.Any],
    mailbox: Mailbox,
) -> None:
    browser.log_in(verified)
    secret = shown_secret(browser.get("/two-factor"))
    right = code_at(secret, clock.now)
    wrong_code = wrong_code_at(secret, clock.now)
    for fields in (
        {"code": right, "password": WRONG},
        {"code": wrong_code, "password": PASSWORD},
        {"code": "", "password": PASSWORD},
    ):
        assert browser.submit("/two-factor", fields).status_code == 400
        assert stored(db, verified).totp_secret is None
    page = browser.submit("/two-factor", {"code": right, "password": PASSWORD})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    codes = CODE.findall(page.text)
    assert len(codes) == len(set(codes)) == 10
    user = stored(db, verified)
    # Neither the secret nor the codes are in the table as they are.
    assert user.totp_secret is not None
    assert secret not in user.totp_secret
    assert user.recovery_codes is not None
    assert not any(
        totp.normalize_code(c) in user.recovery_codes or c in user.recovery_codes
        for c in codes
    )
    assert user.two_factor_since is not None
    [notice] = [m for m in mailbox.to(verified) if "second factor" in m["Subject"]]
    assert "A second factor now protects" in notice["Subject"]
    assert "turned on" in Mailbox.text(notice)
    # The page shows the codes once: afterwards, only how many are left.
    later = browser.get("/two-factor")
    assert not CODE.findall(later.text)
    assert "10 unused recovery codes" in later.text


def test_turning_on_ends_the_other_sessions_and_keeps_this_one(
    users_app: flask.Flask, browser: Browser, verified: str, clock: FakeClock
) -> None:
    other = Browser(users_app.test_client())
    other.log_in(verified)
    assert other.get("/account").status_code == 200
    browser.log_in(verified)
    turn_on(browser, clock)
    assert browser.get("/account").status_code == 200
    assert other.get("/account").status_code == 302


def test_the_secret_is_encrypted_with_the_secret_key_and_its_fallbacks(
    users_app: flask.Flask,
) -> None:
    with users_app.app_context():
        sealed = totp.seal("JBSWY3DPEHPK3PXP")
        assert "JBSWY3DPEHPK3PXP" not in sealed
        users_app.config["SECRET_KEY"] = "a new secret"
        users_app.config["SECRET_KEY_FALLBACKS"] = ["test secret"]
        assert totp.unseal(sealed) == "JBSWY3DPEHPK3PXP"
        users_app.config["SECRET_KEY_FALLBACKS"] = []
        with pytest.raises(totp.UnreadableSecret):
            totp.unseal(sealed)


# -- logging in ---------------------------------------------------------------


def test_the_password_alone_does_not_log_in(ann: Ann, clock: FakeClock) -> None:
    before = ann.browser.client.get_cookie("session")
    page = log_in_again(ann, clock)
    assert page.status_code == 302
    assert page.headers["Location"] == "/login/two-factor"
    after = ann.browser.client.get_cookie("session")
    assert after is not None and (before is None or after.value != before.value)
    assert ann.browser.get("/account").status_code == 302  # not logged in
    assert ann.browser.get("/").text == "Hello stranger"
    page = second_step(ann.browser, code_at(ann.secret, clock.now))
    assert page.status_code == 302
    assert page.headers["Location"] == "/"
    assert ann.browser.get("/account").text == f"Account of {ann.address}"


def test_next_survives_the_second_step(ann: Ann, clock: FakeClock) -> None:
    ann.browser.log_out()
    page = ann.browser.log_in(ann.address, next="/account")
    assert page.headers["Location"] == "/login/two-factor?next=/account"
    page = ann.browser.submit(
        "/login/two-factor?next=%2Faccount", {"code": code_at(ann.secret, clock.now)}
    )
    assert page.headers["Location"] == "/account"


def test_a_code_is_accepted_once(ann: Ann, clock: FakeClock) -> None:
    log_in_again(ann, clock)
    code = code_at(ann.secret, clock.now)
    assert second_step(ann.browser, code).status_code == 302
    log_in_again(ann, clock)
    replay = second_step(ann.browser, code)
    assert replay.status_code == 400
    assert "used already" in replay.text
    assert ann.browser.get("/account").status_code == 302
    clock.advance(totp.STEP)
    assert second_step(ann.browser, code_at(ann.secret, clock.now)).status_code == 302


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)]
)
def test_a_window_of_one_step_either_side(
    ann: Ann, clock: FakeClock, offset: int, accepted: bool
) -> None:
    clock.advance(5 * totp.STEP)  # past the steps the setup may have used
    log_in_again(ann, clock)
    code = code_at(ann.secret, clock.now + offset * totp.STEP)
    if not accepted and code in accepted_codes_at(ann.secret, clock.now):
        pytest.skip("a step out of the window has a code of one in it")  # rare
    if accepted and code == code_at(ann.secret, clock.now):
        pytest.skip("the two steps have the same code")  # 1 in a million
    page = second_step(ann.browser, code)
    assert page.status_code == (302 if accepted else 400)


def test_an_older_step_is_refused_after_a_newer_one(ann: Ann, clock: FakeClock) -> None:
    log_in_again(ann, clock)
    newer = code_at(ann.secret, clock.now + totp.STEP)
    older = code_at(ann.secret, clock.now)
    assert second_step(ann.browser, newer).status_code == 302
    log_in_again(ann, clock)
    assert second_step(ann.browser, older).status_code == 400


def test_the_half_way_state_expires(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    log_in_again(ann, clock)
    clock.advance(users_app.config["RIVO_TWO_FACTOR_TTL"].total_seconds() + 1)
    page = second_step(ann.browser, code_at(ann.secret, clock.now))
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login")
    assert ann.browser.get("/account").status_code == 302
    assert ann.browser.get("/login/two-factor").status_code == 302


def test_log_out_ends_the_half_way_state(ann: Ann, clock: FakeClock) -> None:
    log_in_again(ann, clock)
    ann.browser.log_out()
    assert ann.browser.get("/login/two-factor").headers["Location"].startswith("/login")
    second_step(ann.browser, code_at(ann.secret, clock.now))
    assert ann.browser.get("/account").status_code == 302


def test_another_browser_cannot_finish_the_log_in(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    log_in_again(ann, clock)
    thief = Browser(users_app.test_client())
    assert thief.get("/login/two-factor").status_code == 302
    page = thief.client.get("/signup")
    thief.client.post(
        "/login/two-factor",
        data={
            "csrf_token": csrf_token(page.text),
            "code": code_at(ann.secret, clock.now),
        },
    )
    assert thief.get("/account").status_code == 302
    # The owner still can.
    assert second_step(ann.browser, code_at(ann.secret, clock.now)).status_code == 302


def test_a_password_changed_meanwhile_ends_the_half_way_state(
    ann: Ann, clock: FakeClock, db: scoped_session[t.Any]
) -> None:
    log_in_again(ann, clock)
    db.remove()
    user = db.query(User).filter_by(email=ann.address).one()
    user.password_hash = user.password_hash + "x"
    db.commit()
    db.remove()
    second_step(ann.browser, code_at(ann.secret, clock.now))
    assert ann.browser.get("/account").status_code == 302


def test_wrong_codes_are_throttled_and_the_password_does_not_reset_them(
    ann: Ann, clock: FakeClock
) -> None:
    log_in_again(ann, clock)
    right = code_at(ann.secret, clock.now)
    wrong = wrong_code_at(ann.secret, clock.now)
    statuses = [second_step(ann.browser, wrong).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    # The right password again (it is right: that clears its own counters)
    # does not give the codes new free attempts.
    log_in_again(ann, clock)
    page = second_step(ann.browser, right)
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) >= 1
    assert ann.browser.get("/account").status_code == 302


def test_a_new_device_is_told_only_after_both_factors(
    users_app: flask.Flask, ann: Ann, clock: FakeClock, mailbox: Mailbox
) -> None:
    stranger = Browser(users_app.test_client())
    page = stranger.log_in(ann.address)
    assert page.headers["Location"] == "/login/two-factor"
    assert stranger.client.get_cookie("rivo_device") is None
    assert not mailbox.to(ann.address)
    assert second_step(stranger, code_at(ann.secret, clock.now)).status_code == 302
    assert stranger.client.get_cookie("rivo_device") is not None
    [notice] = mailbox.to(ann.address)
    assert notice["Subject"] == "A new log-in to your Flask-Rivo account"


# -- recovery codes -----------------------------------------------------------


def test_a_recovery_code_logs_in_once_and_the_owner_is_told(
    ann: Ann, clock: FakeClock, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    code = ann.codes[0]
    log_in_again(ann, clock)
    assert second_step(ann.browser, code.upper().replace("-", " ")).status_code == 302
    [notice] = [m for m in mailbox.to(ann.address) if "recovery code" in m["Subject"]]
    assert "Unused codes left: 9" in Mailbox.text(notice)
    assert "running out" not in Mailbox.text(notice)
    log_in_again(ann, clock)
    assert second_step(ann.browser, code).status_code == 400
    assert len(totp.code_hashes(stored(db, ann.address).recovery_codes)) == 9


def test_running_low_on_recovery_codes_warns_the_owner(
    ann: Ann, clock: FakeClock, mailbox: Mailbox
) -> None:
    for code in ann.codes[:7]:
        log_in_again(ann, clock)
        assert second_step(ann.browser, code).status_code == 302
    *_, last = [m for m in mailbox.to(ann.address) if "recovery code" in m["Subject"]]
    assert "Unused codes left: 3" in Mailbox.text(last)
    assert "running out of recovery codes" in Mailbox.text(last)
    assert "running out of recovery codes" in Mailbox.html(last)


def test_new_recovery_codes_replace_the_old_set(ann: Ann, clock: FakeClock) -> None:
    fields = {"action": "regenerate", "password": WRONG}
    assert ann.browser.submit("/two-factor", fields).status_code == 400
    page = ann.browser.submit("/two-factor", {**fields, "password": PASSWORD})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    fresh = CODE.findall(page.text)
    assert len(fresh) == 10 and not set(fresh) & set(ann.codes)
    log_in_again(ann, clock)
    assert second_step(ann.browser, ann.codes[1]).status_code == 400
    assert second_step(ann.browser, fresh[0]).status_code == 302


# -- turning off --------------------------------------------------------------


def test_turning_off_needs_the_password_and_a_code(
    users_app: flask.Flask,
    ann: Ann,
    clock: FakeClock,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    other = Browser(users_app.test_client())
    other.log_in(ann.address)
    second_step(other, code_at(ann.secret, clock.now))
    assert other.get("/account").status_code == 200
    clock.advance(totp.STEP)
    right = code_at(ann.secret, clock.now)
    wrong = wrong_code_at(ann.secret, clock.now)
    for fields in (
        {"code": right, "password": WRONG},
        {"code": wrong, "password": PASSWORD},
    ):
        assert ann.browser.submit("/two-factor", fields).status_code == 400
        assert stored(db, ann.address).totp_secret is not None
    page = ann.browser.submit("/two-factor", {"code": right, "password": PASSWORD})
    assert page.status_code == 302
    user = stored(db, ann.address)
    assert user.totp_secret is None and user.recovery_codes is None
    assert ann.browser.get("/account").status_code == 200
    assert other.get("/account").status_code == 302  # ended
    assert any("is off" in m["Subject"] for m in mailbox.to(ann.address))
    # The password alone logs in again.
    ann.browser.log_out()
    assert ann.browser.log_in(ann.address).headers["Location"] == "/"


def test_a_recovery_code_turns_it_off_too(ann: Ann, db: scoped_session[t.Any]) -> None:
    fields = {"code": ann.codes[2], "password": PASSWORD}
    assert ann.browser.submit("/two-factor", fields).status_code == 302
    assert stored(db, ann.address).totp_secret is None


# -- the store's compare-and-swap ----------------------------------------------


def test_a_code_used_by_a_parallel_request_is_refused(
    users_app: flask.Flask, ann: Ann, db: scoped_session[t.Any]
) -> None:
    with users_app.app_context():
        store = users_app.extensions["rivo_users"].store
        first = db.query(User).filter_by(email=ann.address).one()
        step = first.totp_last_step
        assert store.swap(first, "totp_last_step", step, step + 1)
        db.commit()
        # A twin request read the row before: its swap finds it changed.
        assert not store.swap(first, "totp_last_step", step, step + 1)
        with pytest.raises(ValueError, match="not a column"):
            store.swap(first, "email", "a", "b")
        db.rollback()


# -- the command line ---------------------------------------------------------


def run(app: flask.Flask, *args: str, input: str | None = None) -> t.Any:
    return app.test_cli_runner().invoke(args=["users", *args], input=input)


def test_users_show_says_whether_a_second_factor_is_set(
    users_app: flask.Flask, ann: Ann, verified: str
) -> None:
    result = run(users_app, "show", ann.address)
    assert result.exit_code == 0, result.output
    assert "Two-factor: TOTP, on since" in result.output
    assert "10 recovery codes left" in result.output


def test_users_show_of_an_account_without_one(
    users_app: flask.Flask, verified: str
) -> None:
    result = run(users_app, "show", verified)
    assert "Two-factor: off" in result.output


def test_reset_2fa_asks_then_removes_it_and_ends_the_sessions(
    users_app: flask.Flask, ann: Ann, db: scoped_session[t.Any], mailbox: Mailbox
) -> None:
    result = run(users_app, "reset-2fa", ann.address, input="n\n")
    assert result.exit_code == 1
    assert stored(db, ann.address).totp_secret is not None
    result = run(users_app, "reset-2fa", ann.address, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Removed the second factor" in result.output
    assert "ended 1 session" in result.output
    assert stored(db, ann.address).totp_secret is None
    assert ann.browser.get("/account").status_code == 302
    assert any("is off" in m["Subject"] for m in mailbox.to(ann.address))
    again = run(users_app, "reset-2fa", "--yes", ann.address)
    assert again.exit_code == 1
    assert "has no second factor" in again.output


# -- other ways in still ask for the code ----------------------------------------


def test_a_password_reset_does_not_skip_the_second_factor(
    users_app: flask.Flask, ann: Ann, clock: FakeClock, mailbox: Mailbox
) -> None:
    stranger = Browser(users_app.test_client())  # with the mailbox, not the phone
    stranger.submit("/forgotten-password", {"email": ann.address})
    link = mailbox.last_link(ann.address)
    new = "otter marimba lantern"
    stranger.get(link)
    page = stranger.submit(
        "/reset-password", {"password": new, "password_confirm": new}
    )
    assert page.status_code == 302
    assert page.headers["Location"] == "/login/two-factor"
    assert stranger.get("/account").status_code == 302
    assert stranger.client.get_cookie("rivo_device") is None
    assert second_step(stranger, code_at(ann.secret, clock.now)).status_code == 302
    assert stranger.get("/account").status_code == 200


def test_confirming_a_new_address_does_not_skip_the_second_factor(
    users_app: flask.Flask, ann: Ann, clock: FakeClock, mailbox: Mailbox
) -> None:
    new_address = "ann.new@example.com"
    fields = {"email": new_address, "current_password": PASSWORD}
    assert ann.browser.submit("/change", fields).status_code == 302
    link = mailbox.last_link(new_address)
    stranger = Browser(users_app.test_client())
    page = stranger.submit(link, {"password": PASSWORD})
    assert page.status_code == 302
    assert page.headers["Location"] == "/login/two-factor"
    assert stranger.get("/account").status_code == 302
    assert second_step(stranger, code_at(ann.secret, clock.now)).status_code == 302
    assert stranger.get("/account").text == f"Account of {new_address}"


def test_the_settings_ask_for_the_password_again_after_the_window(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    clock.advance(users_app.config["RIVO_REAUTH_WINDOW"].total_seconds() + 1)
    page = ann.browser.get("/two-factor")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/reauthenticate?next=")
    # A POST to turn it off is not acted on either.
    fields = {"code": ann.codes[0], "password": PASSWORD}
    assert ann.browser.submit("/two-factor", fields).status_code == 302
    result = run(users_app, "show", ann.address)
    assert "Two-factor: TOTP" in result.output


def test_stay_logged_in_survives_the_second_step(ann: Ann, clock: FakeClock) -> None:
    ann.browser.log_out()
    ann.browser.log_in(ann.address, remember="y")
    second_step(ann.browser, code_at(ann.secret, clock.now))
    cookie = ann.browser.client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None


def test_the_sessions_page_says_whether_it_is_on(
    browser: Browser, verified: str, clock: FakeClock
) -> None:
    browser.log_in(verified)
    assert "Two-factor authentication is off." in browser.get("/sessions").text
    turn_on(browser, clock)
    page = browser.get("/sessions").text
    assert "Two-factor authentication is on." in page
    assert 'href="/two-factor"' in page


def test_signals_tell_the_application(
    users_app: flask.Flask, browser: Browser, verified: str, clock: FakeClock
) -> None:
    heard: list[tuple[str, dict[str, t.Any]]] = []

    def listen(name: str) -> t.Callable[..., None]:
        def receiver(app: flask.Flask, **extra: t.Any) -> None:
            heard.append((name, extra))

        return receiver

    receivers = {
        signals.two_factor_enabled: listen("enabled"),
        signals.recovery_code_used: listen("recovery"),
        signals.two_factor_disabled: listen("disabled"),
        signals.user_login_failed: listen("failed"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, users_app)
    try:
        browser.log_in(verified)
        _secret, codes = turn_on(browser, clock)
        browser.log_out()
        browser.log_in(verified)
        second_step(browser, "000000x")
        second_step(browser, codes[0])
        browser.submit("/two-factor", {"code": codes[1], "password": PASSWORD})
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver, users_app)
    names = [name for name, _extra in heard]
    assert names == ["enabled", "failed", "recovery", "recovery", "disabled"]
    assert heard[1][1]["reason"] == "two_factor"
    assert heard[2][1]["left"] == 9
    assert heard[4][1]["by"] == "user"


def test_a_stranger_guessing_codes_is_stopped_and_the_owner_is_not(
    users_app: flask.Flask, ann: Ann, clock: FakeClock
) -> None:
    stranger = Browser(users_app.test_client())  # knows the password
    stranger.log_in(ann.address)
    right = code_at(ann.secret, clock.now)
    wrong = wrong_code_at(ann.secret, clock.now)
    statuses = [second_step(stranger, wrong).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    assert second_step(stranger, right).status_code == 429
    # The owner's browser, which logged in before, has a bucket of its own.
    log_in_again(ann, clock)
    assert second_step(ann.browser, right).status_code == 302
