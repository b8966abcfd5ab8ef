"""Passkeys changed by two requests at once, on real databases.

The ``passkeys`` column holds an account's passkeys as one JSON text that
every change rewrites whole. Each test forces one interleaving, with no
mock: a SQLAlchemy ``before_cursor_execute`` hook stops a request just
before it writes (or the ``user_logged_in`` signal, just before a log-in
stores its session), and runs another whole request, on its own connection
in another thread, to the end. Then the first one goes on. Before the
compare-and-swap, the first request wrote its stale list back over the
second one's change: a removed passkey came back, a sign count went back
(and a cloned authenticator went unnoticed); and a session logged in with a
passkey survived its removal.
"""

from __future__ import annotations

import json
import re
import threading
import typing as t

import flask
import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from passkey_support import Authenticator
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from users.test_passkeys import add_passkey
from users.test_passkeys import csrf
from users.test_passkeys import passkey_log_in
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import own_user_model
from users_support import tables_on
from users_support import with_account_page

from flask_rivo.users import UserState
from flask_rivo.users import signals
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from werkzeug.test import TestResponse

ADDRESS = "ann@example.com"


Person = own_user_model("rivo_pk_race")


@pytest.fixture(params=[POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    with tables_on(request.param, Person.metadata) as engine:
        yield engine


@pytest.fixture
def app(
    make_users_app: Callable[..., flask.Flask], engine: sa.Engine
) -> Iterator[flask.Flask]:
    people = scoped_session(sessionmaker(engine))
    people.add(
        Person(
            email=ADDRESS,
            password_hash=hash_password(PASSWORD, 4),
            state=UserState.VERIFIED,
        )
    )
    people.commit()
    people.remove()
    app = make_users_app(user_model=Person, db_session=people)

    with_account_page(app)

    yield app
    people.remove()


def logged_in(app: flask.Flask) -> Browser:
    """Another browser of the owner, logged in with the password."""
    browser = Browser(app.test_client())
    assert browser.log_in(ADDRESS).status_code == 302
    return browser


def stored(engine: sa.Engine) -> list[dict[str, t.Any]]:
    """The owner's passkeys as the database has them."""
    with engine.connect() as connection:
        text = connection.scalar(
            sa.select(Person.passkeys).where(Person.email == ADDRESS)
        )
    return t.cast("list[dict[str, t.Any]]", json.loads(text or "[]"))


def ids_on_page(browser: Browser) -> list[str]:
    return re.findall(r'name="remove" value="([^"]+)"', browser.get("/passkeys").text)


def remove(browser: Browser, credential_id: str) -> TestResponse:
    token = csrf(browser, "/passkeys")
    return browser.client.post(
        "/passkeys", data={"csrf_token": token, "remove": credential_id}
    )


class Meanwhile:
    """Runs ``action`` (a whole request) in another thread, to its end, the
    first time this thread is about to write the passkeys column, or to
    send ``user_logged_in``; records what it returned."""

    def __init__(self, action: Callable[[], TestResponse]) -> None:
        self.action = action
        self.thread = threading.current_thread()
        self.replies: list[int] = []

    def run(self) -> None:
        if self.replies or threading.current_thread() is not self.thread:
            return

        def other() -> None:
            self.replies.append(self.action().status_code)

        worker = threading.Thread(target=other)
        worker.start()
        worker.join(30)
        assert self.replies, "the other request did not finish"

    def statement(self, *args: t.Any) -> None:
        sql = str(args[2]).lstrip().upper()
        if sql.startswith("UPDATE") and "PASSKEYS" in sql:
            self.run()

    def signal(self, sender: t.Any, **extra: t.Any) -> None:
        self.run()


def before_write(
    engine: sa.Engine, action: Callable[[], TestResponse], run: Callable[[], t.Any]
) -> tuple[t.Any, Meanwhile]:
    """``run()`` with ``action`` done just before its write of the passkeys."""
    meanwhile = Meanwhile(action)
    sa.event.listen(engine, "before_cursor_execute", meanwhile.statement)
    try:
        return run(), meanwhile
    finally:
        sa.event.remove(engine, "before_cursor_execute", meanwhile.statement)


@pytest.fixture
def owner(app: flask.Flask) -> Browser:
    return logged_in(app)


@pytest.fixture
def lost(owner: Browser) -> Authenticator:
    """The owner's passkey on a device that was lost (one more stays)."""
    key = Authenticator(SITE)
    assert add_passkey(owner, key, name="lost phone").status_code == 302
    assert add_passkey(owner, Authenticator(SITE), name="laptop").status_code == 302
    return key


def test_a_removal_before_a_log_in_writes_refuses_the_log_in(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    lost_id = ids_on_page(owner)[0]  # oldest first
    thief = Browser(app.test_client())
    reply, meanwhile = before_write(
        engine, lambda: remove(owner, lost_id), lambda: passkey_log_in(thief, lost)
    )
    assert meanwhile.replies == [302]  # the owner's removal
    assert [k["name"] for k in stored(engine)] == ["laptop"]
    # The log-in finds its passkey gone as it writes: refused.
    assert reply.status_code == 400
    assert "not known here" in reply.text
    assert thief.get("/account").status_code == 302


def test_a_removal_after_a_log_in_wrote_ends_its_session(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    """The log-in has checked and written the passkey; its session is not
    stored yet when the removal ends the passkey's sessions."""
    lost_id = ids_on_page(owner)[0]
    thief = Browser(app.test_client())
    meanwhile = Meanwhile(lambda: remove(owner, lost_id))
    with signals.user_logged_in.connected_to(meanwhile.signal, app):
        reply = passkey_log_in(thief, lost)
    assert meanwhile.replies == [302]
    assert reply.status_code == 302  # it was in before the removal
    assert [k["name"] for k in stored(engine)] == ["laptop"]
    assert thief.get("/account").status_code == 302  # ... and is out now
    assert owner.get("/account").status_code == 200


def test_two_removals_at_once_both_stand(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    first, second = ids_on_page(owner)
    elsewhere = logged_in(app)
    reply, meanwhile = before_write(
        engine, lambda: remove(elsewhere, second), lambda: remove(owner, first)
    )
    assert meanwhile.replies == [302]
    assert reply.status_code == 302
    assert stored(engine) == []


def test_an_addition_during_a_log_in_keeps_both(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    """The log-in's new sign count and the new passkey both stay: a sign
    count written back to an older one would let a cloned authenticator
    replay it."""
    other = Browser(app.test_client())
    reply, meanwhile = before_write(
        engine,
        lambda: passkey_log_in(other, lost),
        lambda: add_passkey(owner, Authenticator(SITE), name="new key"),
    )
    assert meanwhile.replies == [302]  # the log-in
    assert reply.status_code == 302  # the addition
    keys = {k["name"]: k for k in stored(engine)}
    assert sorted(keys) == ["laptop", "lost phone", "new key"]
    assert keys["lost phone"]["sign_count"] == 1
    assert keys["lost phone"]["last_used_at"] is not None


def test_a_log_in_during_an_addition_keeps_both(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    other = Browser(app.test_client())
    reply, meanwhile = before_write(
        engine,
        lambda: add_passkey(owner, Authenticator(SITE), name="new key"),
        lambda: passkey_log_in(other, lost),
    )
    assert meanwhile.replies == [302]  # the addition
    assert reply.status_code == 302  # the log-in
    keys = {k["name"]: k for k in stored(engine)}
    assert sorted(keys) == ["laptop", "lost phone", "new key"]
    assert keys["lost phone"]["sign_count"] == 1
    assert other.get("/account").status_code == 200


def test_a_cloned_authenticator_gets_in_once(
    app: flask.Flask, engine: sa.Engine, lost: Authenticator
) -> None:
    """Two log-ins with one sign count at once (the original and a copy of
    its key): the second to write finds the count used, as a log-in after
    it would."""
    twin = Authenticator(SITE)
    twin.key, twin.credential_id = lost.key, lost.credential_id
    twin.user_handle, twin.sign_count = lost.user_handle, lost.sign_count
    mine, theirs = Browser(app.test_client()), Browser(app.test_client())
    reply, meanwhile = before_write(
        engine, lambda: passkey_log_in(theirs, twin), lambda: passkey_log_in(mine, lost)
    )
    assert meanwhile.replies == [302]
    assert reply.status_code == 400
    assert "could not be checked" in reply.text
    assert mine.get("/account").status_code == 302
    assert {k["name"]: k["sign_count"] for k in stored(engine)}["lost phone"] == 1


def test_a_removal_that_keeps_losing_the_race_says_so(
    app: flask.Flask, engine: sa.Engine, owner: Browser, lost: Authenticator
) -> None:
    """Another writer changes the passkeys before each of the removal's
    writes: after a few tries the page says to reload, and every change
    stands; never a 500, never a lost change."""
    lost_id = ids_on_page(owner)[0]
    writes: list[int] = []
    main = threading.current_thread()

    def touch(*args: t.Any) -> None:
        sql = str(args[2]).lstrip().upper()
        if threading.current_thread() is not main or not sql.startswith("UPDATE"):
            return
        # Another request's log-in: the last use of the other passkey moves.
        keys = stored(engine)
        keys[1]["last_used_at"] = float(len(writes) + 1)
        other = sa.create_engine(engine.url)
        with other.begin() as connection:
            connection.execute(
                sa.update(Person)
                .where(Person.email == ADDRESS)
                .values(passkeys=json.dumps(keys))
            )
        other.dispose()
        writes.append(1)

    sa.event.listen(engine, "before_cursor_execute", touch)
    try:
        reply = remove(owner, lost_id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", touch)
    assert reply.status_code == 409
    assert "The page expired. Reload it and try again." in reply.text
    assert len(writes) == 3
    keys = stored(engine)
    assert [k["name"] for k in keys] == ["lost phone", "laptop"]
    assert keys[1]["last_used_at"] == 3.0
    assert remove(owner, lost_id).status_code == 302
    assert [k["name"] for k in stored(engine)] == ["laptop"]
