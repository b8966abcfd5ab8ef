"""Changing the address and the password (``/change``), end to end.

Through the real blueprint with CSRF on, a real SMTP server on loopback, and
links followed from the received emails, on every session store.
"""

from __future__ import annotations

import threading
import typing as t
import uuid

import flask
import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CountingStore
from support import FakeClock
from support import without_csrf
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo.users import shared
from flask_rivo.users.changes import mask

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from pathlib import Path

    from werkzeug.test import TestResponse

pytestmark = pytest.mark.every_store

NEW_PASSWORD = "walrus tangerine oboe"
NEW = "ann.new@example.org"
BOB = "bob@example.com"


def change(
    browser: Browser,
    email: str,
    *,
    current: str = PASSWORD,
    password: str = "",
    confirm: str | None = None,
) -> TestResponse:
    return browser.submit(
        "/change",
        {
            "email": email,
            "current_password": current,
            "password": password,
            "password_confirm": password if confirm is None else confirm,
        },
    )


def row(db: scoped_session[t.Any], user_id: str) -> User:
    db.remove()
    return t.cast("User", db.get(User, user_id))


def user_id_of(db: scoped_session[t.Any], email: str) -> str:
    db.remove()
    return t.cast(
        "str", db.scalars(sa.select(User.id).where(User.email == email)).one()
    )


def sessions_of(store: CountingStore, user_id: str) -> int:
    return sum(1 for r in store.records().values() if r.user_id == user_id)


@pytest.fixture
def ann(browser: Browser, verified: str, mailbox: Mailbox) -> Browser:
    """The verified account's browser, logged in (its new-device notice
    read)."""
    assert browser.log_in(verified).status_code == 302
    mailbox.clear()
    return browser


@pytest.fixture
def elsewhere(
    users_app: flask.Flask, ann: Browser, verified: str, mailbox: Mailbox
) -> Browser:
    """Another browser logged in to the account (its notice read)."""
    other = Browser(users_app.test_client())
    assert other.log_in(verified).status_code == 302
    mailbox.clear()
    return other


@pytest.fixture
def bob(users_app: flask.Flask, mailbox: Mailbox) -> Browser:
    """A second verified account, logged out."""
    other = Browser(users_app.test_client())
    other.sign_up(BOB)
    assert (
        other.submit(mailbox.last_link(BOB), {"password": PASSWORD}).status_code == 302
    )
    other.log_out()
    mailbox.clear()
    return other


# The page and its form ----------------------------------------------------


def test_the_page_needs_a_log_in(browser: Browser) -> None:
    response = browser.get("/change")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/change"


def test_the_form_shows_the_current_address(ann: Browser, verified: str) -> None:
    page = ann.get("/change")
    assert page.status_code == 200
    assert f'value="{verified}"' in page.text
    for name in ("email", "current_password", "password", "password_confirm"):
        assert f'name="{name}"' in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_asking_for_no_change_is_a_form_error(
    ann: Browser, verified: str, mailbox: Mailbox
) -> None:
    response = change(ann, verified)
    assert response.status_code == 400
    assert "nothing was changed" in response.text
    assert mailbox.messages == []


def test_a_weak_or_mistyped_new_password_is_a_form_error(
    ann: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    before = row(db, user_id_of(db, verified)).password_hash
    assert change(ann, verified, password="password").status_code == 400
    mistyped = change(ann, verified, password=NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert mistyped.status_code == 400
    assert "not the same" in mistyped.text
    assert row(db, user_id_of(db, verified)).password_hash == before


def test_a_wrong_current_password_changes_nothing_and_is_throttled(
    users_app: flask.Flask,
    ann: Browser,
    verified: str,
    mailbox: Mailbox,
    clock: FakeClock,
    db: scoped_session[t.Any],
) -> None:
    ann.client.delete_cookie("rivo_device")  # counted in the account's bucket
    free = users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for _ in range(free):
        wrong = change(ann, NEW, current="not my password", password=NEW_PASSWORD)
        assert wrong.status_code == 400
        assert "This is not your current password." in wrong.text
    throttled = change(ann, NEW, password=NEW_PASSWORD)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert mailbox.messages == []
    user = row(db, user_id_of(db, verified))
    assert user.pending_email is None
    # The throttle is the log-in's: the account's log-in waits too.
    assert Browser(users_app.test_client()).log_in(verified).status_code == 429
    clock.advance(1)
    assert change(ann, NEW, password=NEW_PASSWORD).status_code == 302


# A new password -----------------------------------------------------------


def test_a_new_password_ends_the_other_sessions_and_keeps_this_one(
    ann: Browser,
    elsewhere: Browser,
    verified: str,
    mailbox: Mailbox,
    store: CountingStore,
    db: scoped_session[t.Any],
) -> None:
    other = elsewhere
    user_id = user_id_of(db, verified)
    assert sessions_of(store, user_id) == 2
    before = ann.client.get_cookie("session")
    assert before is not None
    response = change(ann, verified, password=NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/change"
    after = ann.client.get_cookie("session")
    assert after is not None and after.value != before.value
    assert sessions_of(store, user_id) == 1  # ended at once, not lazily
    assert ann.get("/account").text == f"Account of {verified}"
    assert "Your password is changed" in ann.get("/change").text
    assert other.get("/account").status_code == 302
    # Told to the address, with nothing about an address change.
    [notice] = mailbox.to(verified)
    text = Mailbox.text(notice)
    assert "password was changed" in text
    assert "new email address" not in text
    assert mailbox.links(notice)  # what to do if it was not them
    # Only the new password logs in.
    assert other.log_in(verified).status_code == 400
    assert other.log_in(verified, NEW_PASSWORD).status_code == 302


# A new address ------------------------------------------------------------


def test_a_new_address_works_only_once_confirmed(
    users_app: flask.Flask,
    ann: Browser,
    elsewhere: Browser,
    verified: str,
    mailbox: Mailbox,
    store: CountingStore,
    db: scoped_session[t.Any],
) -> None:
    other = elsewhere
    response = change(ann, NEW)
    assert response.status_code == 302
    page = ann.get("/change").text
    assert f"We have sent a link to {NEW}" in page
    assert f"Waiting for confirmation: <strong>{NEW}</strong>" in page
    # The old address is told, naming the new one only in part.
    [notice] = mailbox.to(verified)
    assert mask(NEW) == "a***@example.org"
    assert mask(NEW) in Mailbox.text(notice)
    assert NEW not in Mailbox.text(notice) + Mailbox.html(notice)
    [link_mail] = mailbox.to(NEW)
    assert "move a" in Mailbox.text(link_mail)
    # Until confirmed: the old address logs in, the new one does not.
    stranger = Browser(users_app.test_client())
    assert stranger.log_in(NEW).status_code == 400
    assert stranger.log_in(verified).status_code == 302
    assert other.get("/account").status_code == 200  # nothing ended yet
    # The link asks for the password, then confirms and logs in.
    link = mailbox.last_link(NEW)
    confirming = Browser(users_app.test_client())
    assert NEW in confirming.get(link).text
    assert confirming.submit(link, {"password": "not it"}).status_code == 400
    assert confirming.submit(link, {"password": PASSWORD}).status_code == 302
    assert confirming.get("/account").text == f"Account of {NEW}"
    user_id = user_id_of(db, NEW)
    assert row(db, user_id).pending_email is None
    # After that only the new address logs in; older sessions ended at once.
    assert sessions_of(store, user_id) == 1
    assert other.get("/account").status_code == 302
    assert ann.get("/account").status_code == 302
    assert stranger.log_in(verified).status_code == 400
    assert Browser(users_app.test_client()).log_in(NEW).status_code == 302


def lasting(response: TestResponse) -> bool:
    """Whether the response's session cookie outlives the browser."""
    [cookie] = [
        header
        for header in response.headers.getlist("Set-Cookie")
        if header.startswith("session=")
    ]
    return "Expires=" in cookie


@pytest.mark.parametrize("remember", [True, False])
@pytest.mark.parametrize("what", ["password", "address"])
def test_a_change_keeps_stay_logged_in_as_it_was(
    browser: Browser, verified: str, mailbox: Mailbox, what: str, remember: bool
) -> None:
    """The change logs the browser in again (a new ID and digest): a
    "Stay logged in" log-in must stay one, and the session not outlive the
    browser if it did not before."""
    extra = {"remember": "y"} if remember else {}
    logged_in = browser.log_in(verified, **extra)
    assert lasting(logged_in) is remember
    mailbox.clear()
    if what == "password":
        changed = change(browser, verified, password=NEW_PASSWORD)
    else:
        assert change(browser, NEW).status_code == 302
        changed = browser.submit(mailbox.last_link(NEW), {"password": PASSWORD})
    assert changed.status_code == 302
    assert lasting(changed) is remember
    assert browser.get("/account").status_code == 200


def test_a_new_change_kills_the_earlier_link(
    users_app: flask.Flask,
    ann: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    assert change(ann, NEW).status_code == 302
    first = mailbox.last_link(NEW)
    second_address = "ann.second@example.org"
    assert change(ann, second_address).status_code == 302
    confirming = Browser(users_app.test_client())
    assert confirming.get(first).status_code == 400
    assert (
        confirming.submit(
            mailbox.last_link(second_address), {"password": PASSWORD}
        ).status_code
        == 302
    )
    assert user_id_of(db, second_address) == user_id_of(db, second_address)
    with pytest.raises(sa.exc.NoResultFound):
        user_id_of(db, NEW)


def test_both_at_once(
    users_app: flask.Flask,
    ann: Browser,
    verified: str,
    mailbox: Mailbox,
) -> None:
    assert change(ann, NEW, password=NEW_PASSWORD).status_code == 302
    [notice] = mailbox.to(verified)
    assert "password was changed" in Mailbox.text(notice)
    assert mask(NEW) in Mailbox.text(notice)
    # The link takes the password the account has now.
    confirming = Browser(users_app.test_client())
    link = mailbox.last_link(NEW)
    assert confirming.submit(link, {"password": PASSWORD}).status_code == 400
    assert confirming.submit(link, {"password": NEW_PASSWORD}).status_code == 302
    assert confirming.get("/account").text == f"Account of {NEW}"


# An address with an account -----------------------------------------------


def answer(
    browser: Browser, address: str, mailbox: Mailbox, own: str
) -> tuple[int, str, int]:
    """What the one who asks sees: the status, the next page (with the
    address blanked out), and the emails to their own address."""
    mailbox.clear()
    response = change(browser, address)
    page = browser.get("/change").text.replace(address, "ADDRESS")
    page = without_csrf(page)
    return response.status_code, page, len(mailbox.to(own))


def test_an_address_with_an_account_answers_the_same_and_tells_its_owner(
    users_app: flask.Flask,
    ann: Browser,
    bob: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    free = answer(ann, NEW, mailbox, verified)
    free_link = mailbox.last_link(NEW)
    taken = answer(ann, BOB, mailbox, verified)
    assert taken == free
    assert free[0] == 302 and free[2] == 1
    # Bob is told, with no link that changes anything.
    [notice] = mailbox.to(BOB)
    assert "already has an account" in Mailbox.text(notice)
    assert all("/verify" not in link for link in mailbox.links(notice))
    # The earlier link died in this case too; nothing can be confirmed.
    assert Browser(users_app.test_client()).get(free_link).status_code == 400
    user = row(db, user_id_of(db, verified))
    assert user.email == verified
    assert bob.log_in(BOB).status_code == 302


def test_the_new_address_has_the_mail_quota(
    ann: Browser, verified: str, mailbox: Mailbox, bob: Browser
) -> None:
    for _ in range(3):
        assert change(ann, NEW).status_code == 302
    assert len(mailbox.to(NEW)) == 3
    mailbox.clear()
    assert change(ann, NEW).status_code == 302
    assert mailbox.to(NEW) == []
    assert len(mailbox.to(verified)) == 1  # the owner is told all the same


def test_an_address_taken_before_the_confirmation_fails_cleanly(
    users_app: flask.Flask,
    ann: Browser,
    verified: str,
    mailbox: Mailbox,
    db: scoped_session[t.Any],
) -> None:
    assert change(ann, NEW).status_code == 302
    link = mailbox.last_link(NEW)
    # The pending address is not reserved: somebody signs it up and confirms.
    somebody = Browser(users_app.test_client())
    assert somebody.sign_up(NEW, NEW_PASSWORD).status_code == 200
    assert (
        somebody.submit(mailbox.last_link(NEW), {"password": NEW_PASSWORD}).status_code
        == 302
    )
    confirming = Browser(users_app.test_client())
    refused = confirming.submit(link, {"password": PASSWORD})
    assert refused.status_code == 400
    assert "belongs to another account" in refused.text
    assert confirming.get("/account").status_code == 302  # not logged in
    user = row(db, user_id_of(db, verified))
    assert user.email == verified
    assert ann.get("/account").text == f"Account of {verified}"


# Races, on a users table where each request has a connection of its own ---


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def race_db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[type[t.Any], scoped_session[t.Any]]]:
    """A users table of this test's own on a database file or server."""

    class RaceBase(DeclarativeBase):
        pass

    class RaceUser(UserMixin, RaceBase):
        __tablename__ = f"race_users_{uuid.uuid4().hex[:12]}"
        id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)

    url = {
        "sqlite": f"sqlite:///{tmp_path / 'users.sqlite3'}",
        "postgresql": POSTGRES_URL,
        "mariadb": MARIADB_URL,
    }[request.param]
    engine = (
        sa.create_engine(url, pool_size=4)
        if request.param != "sqlite"
        else (sa.create_engine(url, connect_args={"timeout": 10}))
    )
    RaceBase.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    yield RaceUser, session
    session.remove()
    RaceBase.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def race_app(
    make_users_app: Callable[..., flask.Flask],
    race_db: tuple[type[t.Any], scoped_session[t.Any]],
    mailbox: Mailbox,
) -> flask.Flask:
    model, session = race_db
    app = make_users_app(user_model=model, db_session=session)

    with_account_page(app)

    ann = Browser(app.test_client())
    ann.sign_up("ann@example.com")
    link = mailbox.last_link("ann@example.com")
    assert ann.submit(link, {"password": PASSWORD}).status_code == 302
    mailbox.clear()
    return app


def paused_after_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event]:
    """Make the next confirmation stop right after its password check, until
    ``go`` is set; ``checked`` says it got there."""
    checked, go = threading.Event(), threading.Event()
    real = shared.check_password

    def check_then_wait(password: str, hashed: str) -> bool:
        right = real(password, hashed)
        checked.set()
        assert go.wait(20)
        return right

    monkeypatch.setattr(shared, "check_password", check_then_wait)
    return checked, go


def confirm_in_a_thread(
    app: flask.Flask, link: str, statuses: list[int]
) -> threading.Thread:
    confirming = Browser(app.test_client())
    page = confirming.get(link)
    assert page.status_code == 200
    thread = threading.Thread(
        target=lambda: statuses.append(
            confirming.submit(link, {"password": PASSWORD}).status_code
        )
    )
    thread.start()
    return thread


def test_a_change_asked_for_during_a_confirmation_wins(
    race_app: flask.Flask,
    race_db: tuple[type[t.Any], scoped_session[t.Any]],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Link A is being confirmed when change B is asked for (another tab):
    A must not go through, or leave B's link saying "already confirmed"
    when B's address never was; B's link still works."""
    model, session = race_db
    tab = Browser(race_app.test_client())
    assert tab.log_in("ann@example.com").status_code == 302
    assert change(tab, "ann.a@example.org").status_code == 302
    link_a = mailbox.last_link("ann.a@example.org")
    tab.get("/change")  # the form of the second change, read before the race
    checked, go = paused_after_the_password(monkeypatch)
    statuses: list[int] = []
    thread = confirm_in_a_thread(race_app, link_a, statuses)
    assert checked.wait(20)
    monkeypatch.undo()  # the change's own check is not paused
    assert change(tab, "ann.b@example.org").status_code == 302
    go.set()
    thread.join(30)
    assert statuses == [400]  # the link was replaced while it was confirmed
    session.remove()
    user = session.scalars(sa.select(model)).one()
    assert (user.email, user.pending_email) == ("ann@example.com", "ann.b@example.org")
    link_b = mailbox.last_link("ann.b@example.org")
    confirming = Browser(race_app.test_client())
    assert confirming.submit(link_b, {"password": PASSWORD}).status_code == 302
    assert confirming.get("/account").text == "Account of ann.b@example.org"


def test_one_link_posted_twice_at_once_confirms_once(
    race_app: flask.Flask,
    race_db: tuple[type[t.Any], scoped_session[t.Any]],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tab = Browser(race_app.test_client())
    assert tab.log_in("ann@example.com").status_code == 302
    assert change(tab, "ann.a@example.org").status_code == 302
    link = mailbox.last_link("ann.a@example.org")
    barrier = threading.Barrier(2, timeout=20)
    real = shared.check_password

    def check_then_meet(password: str, hashed: str) -> bool:
        right = real(password, hashed)
        barrier.wait()  # both passed the password; neither used the token
        return right

    monkeypatch.setattr(shared, "check_password", check_then_meet)
    statuses: list[int] = []
    threads = [confirm_in_a_thread(race_app, link, statuses) for _ in range(2)]
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 400]
    model, session = race_db
    session.remove()
    user = session.scalars(sa.select(model)).one()
    assert (user.email, user.pending_email) == ("ann.a@example.org", None)
