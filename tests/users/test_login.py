"""Logging in through the real blueprint: what the answers give away, how
long they take, throttling, session fixation, "remember me", ``next``, bad
input, re-hashing and signals."""

from __future__ import annotations

import re
import statistics
import time
import typing as t
from datetime import datetime
from datetime import timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import bcrypt
import flask
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support import CSRF
from support import FakeClock
from support import without_csrf
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import User

from flask_rivo import RivoSessions
from flask_rivo import RivoUsers
from flask_rivo import current_user
from flask_rivo.ids import session_key
from flask_rivo.stores import MemoryStore
from flask_rivo.users import UserState
from flask_rivo.users.passwords import check_password
from flask_rivo.users.passwords import hash_password
from flask_rivo.users.signals import user_logged_in
from flask_rivo.users.signals import user_login_failed

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

    from flask_rivo.stores import SessionStore

WRONG = "wrong horse battery"
UNKNOWN = "nobody@example.com"
WRONG_OR_UNKNOWN = (
    "The email address or the password is wrong, or the address is not confirmed yet."
)
_COST = re.compile(r"\$2[abxy]?\$(\d\d)\$")


# -- helpers ------------------------------------------------------------------

# Every test here that uses a store runs on every store.
pytestmark = pytest.mark.every_store


def attempt(
    browser: Browser,
    address: str,
    password: str = PASSWORD,
    *,
    remember: bool = False,
    **kwargs: t.Any,
) -> TestResponse:
    """Fill in and submit the log-in form; ``kwargs`` go to the POST."""
    fields = {"email": address, "password": password}
    if remember:
        fields["remember"] = "y"
    return browser.submit("/login", fields, **kwargs)


def from_address(remote_addr: str) -> dict[str, t.Any]:
    return {"environ_overrides": {"REMOTE_ADDR": remote_addr}}


def without_secrets(page: str, address: str) -> str:
    """The page with the CSRF token value and the typed address blanked."""
    return without_csrf(page).replace(address, "ADDRESS")


def alert(response: TestResponse) -> str:
    """The text of the form's error box."""
    found = re.search(r'role="alert">(.*?)</div>', response.text, re.DOTALL)
    assert found is not None, response.text
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip()


def session_store(app: flask.Flask) -> SessionStore:
    return app.extensions["rivo_sessions"].configure(app.config)[1]


def add_user(
    db: scoped_session[t.Any],
    email: str,
    *,
    state: UserState = UserState.VERIFIED,
    password: str = PASSWORD,
    rounds: int = 4,
) -> str:
    """Put a user straight into the database; returns its ID."""
    user = User(email=email, password_hash=hash_password(password, rounds), state=state)
    db.add(user)
    db.commit()
    user_id = str(user.id)
    db.remove()
    return user_id


def set_state(db: scoped_session[t.Any], email: str, state: UserState) -> None:
    db.execute(sa.update(User).where(User.email == email).values(state=state))
    db.commit()
    db.remove()


def stored_hash(db: scoped_session[t.Any], email: str) -> str:
    found = db.scalars(sa.select(User.password_hash).where(User.email == email)).one()
    db.remove()
    return str(found)


def user_id_of(db: scoped_session[t.Any], email: str) -> str:
    found = db.scalars(sa.select(User.id).where(User.email == email)).one()
    db.remove()
    return str(found)


def cost(password_hash: str) -> int:
    found = _COST.search(password_hash)
    assert found is not None, password_hash
    return int(found.group(1))


def session_cookie(response: TestResponse) -> str | None:
    """The ``Set-Cookie`` header a response sends for the session, if any."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("session="):
            return header
    return None


def cookie_of(browser: Browser) -> str | None:
    cookie = browser.client.get_cookie("session")
    return None if cookie is None else cookie.value


def make_app(
    db: scoped_session[t.Any], clock: FakeClock, **config: t.Any
) -> flask.Flask:
    """A small app with RivoUsers and CSRF on; no mail is sent by log-in."""
    app = flask.Flask(__name__)
    app.config.update(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "RIVO_EXTERNAL_URL": SITE,
            "RIVO_BCRYPT_ROUNDS": 4,
            **config,
        }
    )
    RivoUsers(app, user_model=User, db_session=db)
    app.extensions["rivo_sessions"].clock = clock

    @app.teardown_appcontext
    def remove_session(error: BaseException | None) -> None:
        db.remove()

    @app.get("/")
    def index() -> str:
        return f"Hello {current_user.email or 'stranger'}"

    return app


def assert_anonymous(browser: Browser) -> None:
    assert browser.get("/").text == "Hello stranger"
    assert browser.get("/account").status_code == 302


# -- what the answers give away ----------------------------------------------


def test_wrong_password_and_unknown_address_give_the_same_answer(
    browser: Browser, verified: str
) -> None:
    wrong = attempt(browser, verified, WRONG)
    unknown = attempt(browser, UNKNOWN, WRONG)
    assert wrong.status_code == unknown.status_code == 400
    assert without_secrets(wrong.text, verified) == without_secrets(
        unknown.text, UNKNOWN
    )
    message = alert(wrong)
    assert message == WRONG_OR_UNKNOWN
    for telling in ("no account", "not found", "unknown", "not registered"):
        assert telling not in message.lower()
    assert_anonymous(browser)


@pytest.fixture
def cost12_app(db: scoped_session[t.Any], clock: FakeClock) -> flask.Flask:
    """The default bcrypt cost, and no throttling in the way of the timing."""
    app = make_app(
        db,
        clock,
        RIVO_BCRYPT_ROUNDS=12,
        RIVO_LOGIN_FREE_ATTEMPTS=1000,
        RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS=1000,
    )
    add_user(db, "ann@example.com", rounds=12)
    return app


@pytest.mark.slow
def test_unknown_address_costs_as_much_as_a_wrong_password(
    cost12_app: flask.Flask, db: scoped_session[t.Any]
) -> None:
    """Timed in this thread's CPU time (the test client runs the request in
    it, bcrypt included): what the server spends, which other processes on a
    loaded machine do not blur as they blur the wall clock."""
    client = cost12_app.test_client()
    page = client.get("/login")
    found = CSRF.search(page.text)
    assert found is not None
    token = found.group(1)

    def timed(address: str) -> float:
        data = {"csrf_token": token, "email": address, "password": WRONG}
        start = time.thread_time()
        response = client.post("/login", data=data)
        elapsed = time.thread_time() - start
        assert response.status_code == 400
        assert WRONG_OR_UNKNOWN in response.text
        return elapsed

    # Warm up both paths (the dummy hash is made on first use).
    timed("ann@example.com")
    timed(UNKNOWN)
    stored = stored_hash(db, "ann@example.com")

    def one_check() -> float:
        start = time.thread_time()
        assert not check_password(WRONG, stored)
        return time.thread_time() - start

    known: list[float] = []
    unknown: list[float] = []
    checks: list[float] = []
    for round_ in range(8):
        pair = [("known", "ann@example.com"), ("unknown", f"x{round_}@example.com")]
        for kind, address in pair if round_ % 2 else reversed(pair):
            (known if kind == "known" else unknown).append(timed(address))
        checks.append(one_check())

    check_median = statistics.median(checks)
    known_median = statistics.median(known)
    unknown_median = statistics.median(unknown)
    ratio = unknown_median / known_median
    print(  # the figures, shown with pytest -s
        f"\nbcrypt cost 12: one check {check_median * 1000:.1f} ms;"
        f" known median {known_median * 1000:.1f} ms,"
        f" unknown median {unknown_median * 1000:.1f} ms, ratio {ratio:.3f}"
    )
    assert 0.6 <= ratio <= 1.6, (known, unknown)
    # Both really run a bcrypt check (some slack: the CPU's speed varies;
    # a request without one would take a hundredth of the time).
    assert known_median >= 0.8 * check_median, (known, checks)
    assert unknown_median >= 0.8 * check_median, (unknown, checks)


def test_the_page_comparison_blanks_every_csrf_token(browser: Browser) -> None:
    """The log-in page holds two CSRF fields written in two attribute orders
    (the form's and the passkey button's); a token carries the second it
    was made in, so one left unblanked made the comparisons below fail
    whenever two answers straddled a second."""
    page = browser.get("/login").text
    fields = page.count('name="csrf_token"')
    assert fields >= 2
    assert len(CSRF.findall(page)) == fields
    assert CSRF.findall(without_csrf(page)) == ["TOKEN"] * fields


def test_unverified_account_gets_the_answer_of_an_unknown_address(
    browser: Browser, users_app: flask.Flask
) -> None:
    """Anyone can sign up an address with a password of their choosing, so a
    distinct "not confirmed" answer would tell them the address was new."""
    address = "cy@example.com"
    assert browser.sign_up(address).status_code == 200
    unknown = attempt(browser, UNKNOWN, WRONG)
    for password in (WRONG, PASSWORD):
        answer = attempt(browser, address, password)
        assert answer.status_code == unknown.status_code == 400
        assert without_secrets(answer.text, address) == without_secrets(
            unknown.text, UNKNOWN
        )
    assert_anonymous(browser)


def test_unverified_account_attempts_count_as_failures(
    browser: Browser, users_app: flask.Flask
) -> None:
    address = "dee@example.com"
    assert browser.sign_up(address).status_code == 200
    for _ in range(5):
        assert attempt(browser, address, PASSWORD).status_code == 400
    assert attempt(browser, address, PASSWORD).status_code == 429


def test_expired_account_cannot_log_in(
    browser: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    set_state(db, verified, UserState.EXPIRED)
    right = attempt(browser, verified, PASSWORD)
    assert right.status_code == 400
    assert "Location" not in right.headers
    assert_anonymous(browser)
    wrong = attempt(browser, verified, WRONG)
    unknown = attempt(browser, UNKNOWN, WRONG)
    assert without_secrets(wrong.text, verified) == without_secrets(
        unknown.text, UNKNOWN
    )


# -- throttling ----------------------------------------------------------------


def fail_times(browser: Browser, address: str, times: int, **kwargs: t.Any) -> None:
    for _ in range(times):
        response = attempt(browser, address, WRONG, **kwargs)
        assert response.status_code == 400, response.text


def retry_after(response: TestResponse) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def test_throttled_attempt_is_refused_without_checking_the_password(
    browser: Browser,
    verified: str,
    clock: FakeClock,
    users_app: flask.Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"] == 5
    fail_times(browser, verified, 5)

    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(password)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    refused = attempt(browser, verified, PASSWORD)
    wait = retry_after(refused)
    assert wait >= 1
    assert "Too many failed attempts" in refused.text
    assert f"Try again in {wait} second{'' if wait == 1 else 's'}." in refused.text
    assert 'role="alert"' in refused.text
    assert checks == []
    assert_anonymous(browser)

    clock.advance(wait - 0.5)
    assert attempt(browser, verified, PASSWORD).status_code == 429
    assert checks == []

    clock.advance(1)
    allowed = attempt(browser, verified, PASSWORD)
    assert allowed.status_code == 302
    assert len(checks) == 1
    assert browser.get("/").text == f"Hello {verified}"


def test_delays_grow(browser: Browser, verified: str, clock: FakeClock) -> None:
    fail_times(browser, verified, 5)
    waits = []
    for _ in range(4):
        wait = retry_after(attempt(browser, verified, WRONG))
        waits.append(wait)
        clock.advance(wait + 0.1)
        fail_times(browser, verified, 1)
    assert waits == sorted(waits)
    assert len(set(waits)) == len(waits), waits


def test_letter_case_does_not_escape_the_account_counter(
    browser: Browser, verified: str
) -> None:
    for spelling in ("Ann@example.com", "ANN@EXAMPLE.COM", "ann@Example.Com"):
        fail_times(browser, spelling, 1)
    fail_times(browser, verified, 2)
    assert retry_after(attempt(browser, "aNN@eXample.cOM", PASSWORD))
    assert retry_after(attempt(browser, verified, PASSWORD))


def test_forged_forwarded_for_does_not_escape_the_address_counter(
    browser: Browser, users_app: flask.Flask, verified: str
) -> None:
    users_app.config["RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"] = 3
    for i in range(3):
        headers = {"X-Forwarded-For": f"198.51.100.{i}"}
        fail_times(browser, f"nobody{i}@example.com", 1, headers=headers)
    forged = {"X-Forwarded-For": "198.51.100.99", "X-Real-IP": "198.51.100.99"}
    assert retry_after(attempt(browser, verified, PASSWORD, headers=forged))
    # The block is the client address's: another address gets in.
    other = attempt(browser, verified, PASSWORD, **from_address("192.0.2.8"))
    assert other.status_code == 302


def test_one_address_trying_many_accounts_is_throttled(
    browser: Browser, users_app: flask.Flask, verified: str
) -> None:
    users_app.config["RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"] = 3
    attacker = from_address("203.0.113.7")
    for address in ("bob@example.com", "cy@example.com", "dan@example.com"):
        fail_times(browser, address, 1, **attacker)
    refused = attempt(browser, verified, PASSWORD, **attacker)
    assert retry_after(refused) >= 1
    assert "Too many failed attempts" in refused.text
    # Another client address is not held back by this address's counter.
    fine = Browser(users_app.test_client())
    assert (
        attempt(fine, verified, PASSWORD, **from_address("198.51.100.20")).status_code
        == 302
    )


def test_account_counter_applies_from_every_address(
    browser: Browser, verified: str
) -> None:
    for i in range(5):
        fail_times(browser, verified, 1, **from_address(f"198.51.100.{i + 1}"))
    other = Browser(browser.client.application.test_client())
    refused = attempt(other, verified, PASSWORD, **from_address("192.0.2.44"))
    assert retry_after(refused) >= 1
    assert_anonymous(other)


def test_another_accounts_log_in_does_not_reset_the_counter(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    db: scoped_session[t.Any],
) -> None:
    add_user(db, "bob@example.com")
    fail_times(browser, verified, 5)
    bob = Browser(users_app.test_client())
    assert attempt(bob, "bob@example.com", PASSWORD).status_code == 302
    assert retry_after(attempt(browser, verified, PASSWORD))


def test_own_log_in_resets_the_counter(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    fail_times(browser, verified, 4)
    assert attempt(browser, verified, PASSWORD).status_code == 302
    again = Browser(users_app.test_client())
    fail_times(again, verified, 4)
    # Without the reset this would be the ninth failure, long throttled.
    assert attempt(again, verified, WRONG).status_code == 400
    assert retry_after(attempt(again, verified, PASSWORD))


def test_counters_live_in_the_session_store(
    db: scoped_session[t.Any], clock: FakeClock
) -> None:
    shared = MemoryStore(clock=clock)
    first = make_app(db, clock, RIVO_SESSION_STORE=shared)
    second = make_app(db, clock, RIVO_SESSION_STORE=shared)
    assert session_store(first) is session_store(second) is shared
    add_user(db, "ann@example.com")
    browser = Browser(first.test_client())
    browser.get("/login")
    before = len(shared)
    fail_times(browser, "ann@example.com", 1)
    # One record for the account, one for the client address.
    assert len(shared) == before + 2
    fail_times(browser, "ann@example.com", 4)
    assert len(shared) == before + 2
    # Another app server with the same store sees the same counters.
    elsewhere = Browser(second.test_client())
    assert retry_after(attempt(elsewhere, "ann@example.com", PASSWORD))


# -- the session -------------------------------------------------------------


def test_log_in_regenerates_the_session_id(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    db: scoped_session[t.Any],
) -> None:
    browser.get("/login")
    before = cookie_of(browser)
    assert before
    response = attempt(browser, verified)
    assert response.status_code == 302
    after = cookie_of(browser)
    assert after
    assert after != before
    assert f"session={after};" in (session_cookie(response) or "")
    assert browser.get("/").text == f"Hello {verified}"

    replay = users_app.test_client()
    replay.set_cookie("session", before)
    assert replay.get("/").text == "Hello stranger"

    with users_app.test_request_context():
        sessions = RivoSessions().user_sessions(user_id_of(db, verified))
    assert [info.key for info in sessions] == [session_key(after)]


def test_planted_session_cookie_is_not_logged_in(
    users_app: flask.Flask, verified: str
) -> None:
    attacker = users_app.test_client()
    attacker.get("/login")
    planted = attacker.get_cookie("session")
    assert planted is not None

    victim = Browser(users_app.test_client())
    victim.client.set_cookie("session", planted.value)
    assert attempt(victim, verified).status_code == 302
    assert cookie_of(victim) != planted.value
    assert victim.get("/").text == f"Hello {verified}"
    assert attacker.get("/").text == "Hello stranger"
    assert attacker.get("/account").status_code == 302


def test_remember_me_makes_the_cookie_persistent(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    remembered = attempt(browser, verified, remember=True)
    assert remembered.status_code == 302
    header = session_cookie(remembered)
    assert header is not None
    found = re.search(r"Expires=([^;]+)", header)
    assert found is not None, header
    expires = parsedate_to_datetime(found.group(1))
    assert (expires - datetime.now(timezone.utc)).days >= 1

    other = Browser(users_app.test_client())
    response = attempt(other, verified)
    assert response.status_code == 302
    header = session_cookie(response)
    assert header is not None
    assert "Expires=" not in header
    assert "Max-Age" not in header


# -- next ----------------------------------------------------------------------


def log_in_with_next(browser: Browser, address: str, target: str) -> TestResponse:
    path = "/login?" + urlencode({"next": target})
    return browser.submit(path, {"email": address, "password": PASSWORD})


@pytest.mark.parametrize("target", ["/account", "/account?tab=2", "/a/b?x=1&y=%2F"])
def test_safe_next_is_followed(browser: Browser, verified: str, target: str) -> None:
    response = log_in_with_next(browser, verified, target)
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "///evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "https://evil.com",
        "javascript:alert(1)",
        "/%2F%2Fevil.com",
        "%2F%2Fevil.com",
        "/%5Cevil.com",
        "/\t/evil.com",
        "/%09/evil.com",
        "http:/evil.com",
        "data:text/html,x",
        "",
    ],
)
def test_unsafe_next_is_ignored(browser: Browser, verified: str, target: str) -> None:
    page = browser.get("/login?" + urlencode({"next": target}))
    assert page.status_code == 200
    assert "evil.com" not in page.text
    response = log_in_with_next(browser, verified, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_redirect_setting(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    users_app.config["RIVO_LOGIN_REDIRECT"] = "/welcome"
    response = log_in_with_next(browser, verified, "//evil.com")
    assert response.headers["Location"] == "/welcome"


# -- bad input -----------------------------------------------------------------


def csrf_of(browser: Browser) -> str:
    found = CSRF.search(browser.get("/login").text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    "fields",
    [{}, {"email": "ann@example.com"}, {"password": PASSWORD}, {"email": ""}],
)
def test_missing_fields_are_form_errors(
    browser: Browser, verified: str, fields: dict[str, str]
) -> None:
    response = browser.submit("/login", fields)
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert 'aria-invalid="true"' in response.text
    assert_anonymous(browser)


def test_huge_password_is_a_form_error(browser: Browser, verified: str) -> None:
    response = attempt(browser, verified, PASSWORD + "x" * 10_240)
    assert response.status_code == 400
    assert "rivo-error" in response.text
    assert "256" in response.text
    assert_anonymous(browser)


@pytest.mark.parametrize(
    ("address", "password", "message"),
    [
        ("ann@exämple.com", WRONG, WRONG_OR_UNKNOWN),
        ("ännchen@example.com", WRONG, "Enter a valid email address."),
        ("ann@example.com", "пароль 密码 🔑 émoji", WRONG_OR_UNKNOWN),
        ("ännchen ✗ kein Adresse", PASSWORD, "Enter a valid email address."),
        ("ann@example.com\x00", PASSWORD, "Enter a valid email address."),
        ("\u202eann@example.com", PASSWORD, "Enter a valid email address."),
    ],
)
def test_non_ascii_input_is_a_form_error(
    browser: Browser, verified: str, address: str, password: str, message: str
) -> None:
    response = attempt(browser, address, password)
    assert response.status_code == 400
    assert message in response.text
    assert_anonymous(browser)


def test_undecodable_bytes_are_a_form_error(browser: Browser, verified: str) -> None:
    body = f"csrf_token={csrf_of(browser)}&email=%FF%FE%40x.com&password=%C3%28"
    response = browser.client.post(
        "/login", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert_anonymous(browser)


_ADDRESSES = st.one_of(
    st.text(max_size=300),
    st.emails(),
    st.builds(lambda local: f"{local}@example.com", st.text(max_size=80)),
    st.sampled_from(["ann@example.com", "ANN@EXAMPLE.COM", " ann@example.com "]),
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(address=_ADDRESSES, password=st.text(max_size=400))
def test_arbitrary_input_never_gives_a_server_error(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    address: str,
    password: str,
) -> None:
    users_app.config["RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"] = 1000
    response = attempt(browser, address, password)
    assert response.status_code in (302, 400, 429), response.status_code
    if response.status_code == 400:
        assert 'role="alert"' in response.text or "rivo-error" in response.text


# -- re-hashing ---------------------------------------------------------------


def test_password_is_rehashed_when_the_cost_changes(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    db: scoped_session[t.Any],
) -> None:
    original = stored_hash(db, verified)
    assert cost(original) == 4
    assert attempt(browser, verified).status_code == 302
    assert stored_hash(db, verified) == original

    users_app.config["RIVO_BCRYPT_ROUNDS"] = 5
    assert attempt(Browser(users_app.test_client()), verified, WRONG).status_code == 400
    assert stored_hash(db, verified) == original

    assert attempt(Browser(users_app.test_client()), verified).status_code == 302
    upgraded = stored_hash(db, verified)
    assert upgraded != original
    assert cost(upgraded) == 5
    assert check_password(PASSWORD, upgraded)

    assert attempt(Browser(users_app.test_client()), verified).status_code == 302
    assert stored_hash(db, verified) == upgraded


# -- signals -------------------------------------------------------------------


def recorder(events: list[tuple[t.Any, ...]], name: str) -> Callable[..., None]:
    def receive(sender: flask.Flask, **extra: t.Any) -> None:
        if "user" in extra:  # read it now, while its database session lives
            extra["user_email"] = extra["user"].email
        events.append((name, sender, extra))

    return receive


def test_signals(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    db: scoped_session[t.Any],
) -> None:
    add_user(db, "cy@example.com", state=UserState.CREATED)
    add_user(db, "dan@example.com", state=UserState.EXPIRED)
    events: list[tuple[t.Any, ...]] = []
    with (
        user_logged_in.connected_to(recorder(events, "in"), users_app),
        user_login_failed.connected_to(recorder(events, "failed"), users_app),
    ):
        attempt(browser, verified, WRONG)
        attempt(browser, UNKNOWN, WRONG)
        attempt(browser, "Cy@Example.com", PASSWORD)
        attempt(browser, "dan@example.com", PASSWORD)
        assert attempt(browser, verified, PASSWORD, remember=True).status_code == 302

    failed = [(e[2]["email"], e[2]["reason"]) for e in events if e[0] == "failed"]
    assert failed == [
        (verified, "password"),
        (UNKNOWN, "password"),
        ("cy@example.com", "unverified"),
        ("dan@example.com", "inactive"),
    ]
    [logged_in] = [e for e in events if e[0] == "in"]
    assert logged_in[1] is users_app
    assert logged_in[2]["user_email"] == verified
    assert logged_in[2]["remember"] is True
    assert all(e[1] is users_app for e in events)


def test_throttled_signal(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    fail_times(browser, verified, 5)
    events: list[tuple[t.Any, ...]] = []
    with user_login_failed.connected_to(recorder(events, "failed"), users_app):
        assert retry_after(attempt(browser, verified, PASSWORD))
    assert [(e[2]["email"], e[2]["reason"]) for e in events] == [
        (verified, "throttled")
    ]
