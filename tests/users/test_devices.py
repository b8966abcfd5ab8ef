"""Device cookies (issue 9, item 3): strangers guessing at an account never
lock its owner out of a browser that logged in before.

After a log-in (or a confirmation) the browser gets a signed ``rivo_device``
cookie naming the account and a nonce. Attempts from such a browser are
counted in that browser's bucket alone; unknown browsers share the
account's bucket and their address's; after 100 failures from unknown
browsers the account takes no attempt from them at all. Through the real
blueprint, CSRF on, on every session store.
"""

from __future__ import annotations

import re
import typing as t

import flask
import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from support import CSRF
from support import CountingStore
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo.ids import counter_key
from flask_rivo.users import devices
from flask_rivo.users.passwords import hash_password
from flask_rivo.users.throttle import HARD_LIMIT

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

#: The counters live in the session store: the throttle's tests run on
#: every store; the cookie's own tests need only one.
every_store = pytest.mark.every_store

WRONG = "wrong horse battery"
WRONG_TEXT = "The email address or the password is wrong"
COOKIE = "rivo_device"


# -- helpers ------------------------------------------------------------------


def attempt(
    browser: Browser, address: str, password: str = PASSWORD, remote: str = "127.0.0.1"
) -> TestResponse:
    fields = {"email": address, "password": password}
    return browser.submit("/login", fields, environ_overrides={"REMOTE_ADDR": remote})


class Stranger:
    """Unknown browsers at ever new addresses, guessing wrong passwords,
    waiting out each delay they are given (the clock is moved, not slept).

    One test client and one CSRF token make the many attempts quick; the
    client never logged in, so it has no device cookie.
    """

    def __init__(self, app: flask.Flask, clock: FakeClock) -> None:
        self.client = app.test_client()
        self.clock = clock
        self.made = 0
        self.refused = 0
        page = self.client.get("/login")
        found = CSRF.search(page.text)
        assert found is not None
        self.token = found.group(1)

    def post(self, address: str, password: str) -> TestResponse:
        self.made += 1
        remote = f"203.0.{self.made // 250}.{self.made % 250 + 1}"
        return self.client.post(
            "/login",
            data={"csrf_token": self.token, "email": address, "password": password},
            environ_overrides={"REMOTE_ADDR": remote},
        )

    def fail(self, address: str, times: int) -> None:
        for _ in range(times):
            answer = self.post(address, WRONG)
            if answer.status_code == 429:
                self.refused += 1
                self.clock.advance(int(answer.headers["Retry-After"]))
                answer = self.post(address, WRONG)
            assert answer.status_code == 400, answer.status_code
            assert WRONG_TEXT in answer.text


def user_id_of(db: scoped_session[t.Any], email: str) -> str:
    found = db.scalars(sa.select(User.id).where(User.email == email)).one()
    db.remove()
    return str(found)


def add_user(db: scoped_session[t.Any], email: str) -> None:
    db.add(
        User(email=email, password_hash=hash_password(PASSWORD, 4), state="verified")
    )
    db.commit()
    db.remove()


SECRET = "test secret"


def entries(value: str, secret: str = SECRET) -> list[list[str]]:
    loaded = URLSafeTimedSerializer(secret, salt=devices._SALT).loads(value)
    return t.cast("list[list[str]]", loaded)


def device_cookie(browser: Browser) -> str:
    cookie = browser.client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def with_cookie(app: flask.Flask, value: str) -> Browser:
    other = Browser(app.test_client())
    other.client.set_cookie(COOKIE, value)
    return other


def known_browser(app: flask.Flask, address: str) -> Browser:
    """A browser that logged in to ``address`` before, logged out again."""
    browser = Browser(app.test_client())
    assert attempt(browser, address).status_code == 302
    browser.log_out()
    assert browser.get("/account").status_code == 302
    return browser


# -- the cookie ---------------------------------------------------------------


def test_a_log_in_gives_a_signed_httponly_lax_cookie_for_the_account(
    browser: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    assert browser.client.get_cookie(COOKIE) is None
    response = attempt(browser, verified)
    assert response.status_code == 302
    [header] = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)
    ]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Secure" not in header  # the session cookie is not Secure here
    max_age = re.search(r"Max-Age=(\d+)", header)
    assert max_age is not None
    assert int(max_age.group(1)) >= 300 * 24 * 3600
    [[account, nonce]] = entries(device_cookie(browser))
    assert account == f"user:{user_id_of(db, verified)}"
    assert len(nonce) >= 16
    # A new nonce on every log-in.
    browser.log_out()
    assert attempt(browser, verified).status_code == 302
    [[again, renewed]] = entries(device_cookie(browser))
    assert again == account
    assert renewed != nonce


def test_the_cookie_is_secure_where_the_session_cookie_is(
    make_users_app: t.Callable[..., flask.Flask], db: scoped_session[t.Any]
) -> None:
    app = make_users_app(SESSION_COOKIE_SECURE=True)
    add_user(db, "bob@example.com")
    client = app.test_client()
    page = client.get("/login", base_url="https://rivo.test")
    found = CSRF.search(page.text)
    assert found is not None
    response = client.post(
        "/login",
        data={
            "csrf_token": found.group(1),
            "email": "bob@example.com",
            "password": PASSWORD,
        },
        base_url="https://rivo.test",
        headers={"Referer": "https://rivo.test/login"},
    )
    assert response.status_code == 302
    [header] = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)
    ]
    assert "Secure" in header
    assert "HttpOnly" in header


def test_confirming_an_address_gives_the_cookie(
    browser: Browser, mailbox: Mailbox, db: scoped_session[t.Any]
) -> None:
    address = "cy@example.com"
    assert browser.sign_up(address).status_code == 200
    confirmed = browser.submit(mailbox.last_link(address), {"password": PASSWORD})
    assert confirmed.status_code == 302
    [[account, _nonce]] = entries(device_cookie(browser))
    assert account == f"user:{user_id_of(db, address)}"


# -- strangers against the owner ---------------------------------------------


@every_store
def test_strangers_cannot_keep_the_owner_out_of_a_known_browser(
    users_app: flask.Flask, verified: str, clock: FakeClock
) -> None:
    owner = known_browser(users_app, verified)
    stranger = Stranger(users_app, clock)
    stranger.fail(verified, 15)
    assert stranger.refused >= 5  # the delays were there, and were waited out
    # The account's bucket is throttled: an unknown browser waits ...
    unknown = attempt(Browser(users_app.test_client()), verified, remote="192.0.2.5")
    assert unknown.status_code == 429
    assert int(unknown.headers["Retry-After"]) >= 2
    # ... the owner, on the browser they used before, gets in at once.
    answer = attempt(owner, verified)
    assert answer.status_code == 302
    assert owner.get("/account").text == f"Account of {verified}"


@every_store
def test_the_owners_own_failures_count_in_the_devices_bucket(
    users_app: flask.Flask,
    verified: str,
    clock: FakeClock,
    store: CountingStore,
    db: scoped_session[t.Any],
) -> None:
    users_app.config["RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"] = 3
    owner = known_browser(users_app, verified)
    [[account, nonce]] = entries(device_cookie(owner))
    home = "192.0.2.77"
    for _ in range(5):
        answer = attempt(owner, verified, WRONG, remote=home)
        assert answer.status_code == 400
        assert WRONG_TEXT in answer.text
    throttled = attempt(owner, verified, PASSWORD, remote=home)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert owner.get("/account").status_code == 302
    # Counted in the device's bucket, and nowhere else.
    counted = store.load(counter_key("device", account, nonce))
    assert counted is not None
    assert counted.data["count"] == "5"
    assert (
        store.load(counter_key("account", f"user:{user_id_of(db, verified)}")) is None
    )
    assert store.load(counter_key("address", home)) is None
    # So another browser at the same address, on another account, is not
    # held back (3 free failures per address were used up five times over).
    add_user(db, "bob@example.com")
    colleague = Browser(users_app.test_client())
    assert attempt(colleague, "bob@example.com", remote=home).status_code == 302
    # The owner waits out the delay, then gets in.
    clock.advance(1)
    assert attempt(owner, verified, PASSWORD, remote=home).status_code == 302


def throttle_account(users_app: flask.Flask, address: str, clock: FakeClock) -> None:
    """Put the unknown browsers' bucket of ``address`` past its free failures."""
    Stranger(users_app, clock).fail(
        address, users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    )
    probe = attempt(Browser(users_app.test_client()), address, remote="192.0.2.6")
    assert probe.status_code == 429


@every_store
def test_forged_and_tampered_cookies_count_as_unknown(
    users_app: flask.Flask, verified: str, clock: FakeClock, db: scoped_session[t.Any]
) -> None:
    owner = known_browser(users_app, verified)
    value = device_cookie(owner)
    [[account, nonce]] = entries(value)
    throttle_account(users_app, verified, clock)
    payload, _, signature = value.rpartition(".")
    # The first character: all its bits are the signature's (the last
    # one's low bits are base64 padding, which decoding ignores).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged_payload = URLSafeTimedSerializer("x", salt="y").dumps([[account, "n" * 22]])
    other_salt = URLSafeTimedSerializer("test secret", salt="another salt").dumps(
        [[account, nonce]]
    )

    class YearOld(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 366 * 24 * 3600

    year_old = URLSafeTimedSerializer(
        "test secret", salt=devices._SALT, signer=YearOld
    ).dumps([[account, nonce]])
    bad = {
        "older than a year": year_old,
        "tampered signature": f"{payload}.{flipped}",
        "another payload": f"{forged_payload.rpartition('.')[0]}.{signature}",
        "another secret": URLSafeTimedSerializer(
            "not the secret", salt=devices._SALT
        ).dumps([[account, nonce]]),
        "another salt": other_salt,
        "no signature": payload,
        "garbage": "x" * 50,
    }
    for name, cookie in bad.items():
        answer = attempt(with_cookie(users_app, cookie), verified)
        assert answer.status_code == 429, name
    # The real one still works.
    answer = attempt(with_cookie(users_app, value), verified)
    assert answer.status_code == 302


@every_store
def test_a_changed_secret_key_makes_cookies_unknown_unless_a_fallback(
    users_app: flask.Flask, verified: str, clock: FakeClock
) -> None:
    owner = known_browser(users_app, verified)
    value = device_cookie(owner)
    throttle_account(users_app, verified, clock)
    users_app.config.update(SECRET_KEY="the next secret", SECRET_KEY_FALLBACKS=[])
    assert attempt(with_cookie(users_app, value), verified).status_code == 429
    users_app.config["SECRET_KEY_FALLBACKS"] = ["an older one", "test secret"]
    renewed = with_cookie(users_app, value)
    assert attempt(renewed, verified).status_code == 302
    # The new cookie is signed with the new key.
    [[account, _nonce]] = entries(device_cookie(renewed), "the next secret")
    assert account.startswith("user:")


@every_store
def test_a_cookie_for_one_account_gives_nothing_for_another(
    users_app: flask.Flask,
    verified: str,
    clock: FakeClock,
    db: scoped_session[t.Any],
) -> None:
    add_user(db, "bob@example.com")
    browser = known_browser(users_app, verified)
    throttle_account(users_app, "bob@example.com", clock)
    # Ann's entry does not make this browser known to Bob's account.
    refused = attempt(browser, "bob@example.com")
    assert refused.status_code == 429
    assert browser.get("/account").status_code == 302
    # An entry naming Bob, signed by someone without the secret, neither.
    bob = f"user:{user_id_of(db, 'bob@example.com')}"
    forged = URLSafeTimedSerializer("guess", salt=devices._SALT).dumps(
        [[bob, "n" * 22]]
    )
    assert attempt(with_cookie(users_app, forged), "bob@example.com").status_code == 429
    # Ann's entry still serves Ann.
    assert attempt(browser, verified).status_code == 302


@every_store
def test_a_hundred_failures_lock_out_unknown_browsers_but_not_known_ones(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    clock: FakeClock,
) -> None:
    app = make_users_app(RIVO_LOGIN_MAX_DELAY=1)

    with_account_page(app)

    address = "ann@example.com"
    add_user(db, address)
    owner = known_browser(app, address)
    stranger = Stranger(app, clock)
    stranger.fail(address, HARD_LIMIT)
    assert stranger.refused == HARD_LIMIT - app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    # Locked: even the right password, from any unknown browser, anywhere,
    # at any later time, is refused, without a Retry-After to wait for.
    clock.advance(1800)
    for client in (stranger, None):
        if client is None:
            answer = attempt(Browser(app.test_client()), address, remote="192.0.2.9")
        else:
            answer = client.post(address, PASSWORD)
        assert answer.status_code == 429
        assert "Retry-After" not in answer.headers
        assert "browser you used before" in answer.text
        assert "reset" in answer.text
    # The owner's known browser gets in.
    assert attempt(owner, address).status_code == 302
    assert owner.get("/account").text == f"Account of {address}"
