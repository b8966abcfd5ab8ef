"""A flood of anonymous visitors (issue 8, item 1, at the users level).

Every GET of a form page (log-in, sign-up, an emailed verification link)
gives a cookieless visitor a session for the form's CSRF secret. On the
memory store, a bounded pool, such a flood must only push out other
anonymous sessions: never a logged-in user's session, never a throttle
counter. On every store the records it leaves are transient: they expire
within ``WTF_CSRF_TIME_LIMIT``.
"""

from __future__ import annotations

import typing as t

import flask
import pytest
from support import CountingStore
from support import FakeClock
from support import cookie_value
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo.ids import is_counter_key
from flask_rivo.stores import MemoryStore
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session

WRONG = "wrong horse battery"
GUESSER = "203.0.113.66"


def add_user(db: scoped_session[t.Any], email: str) -> None:
    db.add(
        User(email=email, password_hash=hash_password(PASSWORD, 4), state="verified")
    )
    db.commit()
    db.remove()


def form_pages(app: flask.Flask, mailbox: Mailbox) -> list[str]:
    """/login, /signup and an open verification link."""
    assert Browser(app.test_client()).sign_up("cy@example.com").status_code == 200
    link = mailbox.last_link("cy@example.com")
    assert link.startswith("/verify?token=")
    return ["/login", "/signup", link]


def flood(app: flask.Flask, pages: list[str], times: int) -> list[str]:
    """``times`` cookieless GETs of each page, from ever new addresses; the
    session cookies they were given."""
    cookies = []
    for index in range(times):
        for page in pages:
            client = app.test_client(use_cookies=False)
            remote = f"10.{index // 250}.{index % 250}.{len(page) % 250}"
            answer = client.get(page, environ_overrides={"REMOTE_ADDR": remote})
            assert answer.status_code == 200
            value = cookie_value(answer)
            assert value
            cookies.append(value)
    return cookies


def test_a_flood_of_form_pages_logs_nobody_out_and_resets_no_counter(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    mailbox: Mailbox,
) -> None:
    app = with_account_page(
        make_users_app(RIVO_SESSION_STORE="memory", RIVO_SESSION_MEMORY_MAX=50)
    )
    store = app.extensions["rivo_sessions"].configure(app.config)[1]
    assert isinstance(store, MemoryStore)
    assert store.maxsize == 50
    add_user(db, "ann@example.com")
    add_user(db, "bob@example.com")
    pages = form_pages(app, mailbox)

    user = Browser(app.test_client())
    assert user.log_in("ann@example.com").status_code == 302
    guesser = Browser(app.test_client())
    for _ in range(5):
        answer = guesser.submit(
            "/login",
            {"email": "bob@example.com", "password": WRONG},
            environ_overrides={"REMOTE_ADDR": GUESSER},
        )
        assert answer.status_code == 400
    before = guesser.submit(
        "/login",
        {"email": "bob@example.com", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": GUESSER},
    )
    assert before.status_code == 429
    # An anonymous visitor with a form open before the flood.
    early = app.test_client()
    assert early.get("/signup").status_code == 200

    flood(app, pages, 25)  # 75 new anonymous sessions, for a pool of 50

    # The flood pushed out anonymous sessions (the early visitor's form
    # secret is gone) ...
    assert len(store._anonymous) == 50
    early_cookie = early.get_cookie("session")
    assert early_cookie is not None
    assert comes_back_to(app, early_cookie.value) not in (None, early_cookie.value)
    # ... but not the logged-in user, nor the guesser's counters.
    assert user.get("/account").text == "Account of ann@example.com"
    after = guesser.submit(
        "/login",
        {"email": "bob@example.com", "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": GUESSER},
    )
    assert after.status_code == 429
    assert "Too many failed attempts" in after.text


def comes_back_to(app: flask.Flask, value: str) -> str | None:
    """The session cookie a visitor with ``value`` has after a form GET."""
    client = app.test_client()
    client.set_cookie("session", value)
    assert client.get("/login").status_code == 200
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def session_records(store: CountingStore) -> dict[str, t.Any]:
    return {
        key: record
        for key, record in store.records().items()
        if not is_counter_key(key)
    }


@pytest.mark.every_store
@pytest.mark.parametrize("limit", [None, 600])
def test_the_records_a_flood_leaves_are_transient(
    make_users_app: t.Callable[..., flask.Flask],
    store: CountingStore,
    clock: FakeClock,
    mailbox: Mailbox,
    limit: int | None,
) -> None:
    config = {} if limit is None else {"WTF_CSRF_TIME_LIMIT": limit}
    app = make_users_app(**config)
    pages = form_pages(app, mailbox)
    before = set(session_records(store))
    cookies = flood(app, pages, 2)
    left = {k: r for k, r in session_records(store).items() if k not in before}
    assert len(left) == 2 * len(pages)
    ttl = 3600 if limit is None else limit
    for record in left.values():
        assert record.user_id is None
        assert record.expires_at <= clock.now + ttl
    # The app agrees: a visitor coming back with a flood cookie still has
    # the session a moment before the time limit, and a new one after it.
    for value in cookies[:3]:
        assert comes_back_to(app, value) == value
    clock.advance(ttl + 1)
    for value in cookies[:3]:
        assert comes_back_to(app, value) not in (None, value)
