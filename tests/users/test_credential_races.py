"""A workflow that checked the account, then wrote it, racing another
request that changed the account in between.

Each race is forced, not waited for: a receiver of a real hook in the
racing request (an SQLAlchemy ``before_cursor_execute`` event on its first
``UPDATE`` of the user table, Flask-Mail's ``email_dispatched``, the
``user_logged_in`` signal) runs the other request, a whole request of its
own, in another thread on its own PostgreSQL connection, and waits for it.
"""

from __future__ import annotations

import contextlib
import threading
import typing as t

import flask
import flask_mail
import pytest
import sqlalchemy as sa
from backends import POSTGRES_URL
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import FakeClock
from users.test_two_factor import code_at
from users.test_two_factor import second_step
from users.test_two_factor import turn_on
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import own_user_model
from users_support import tables_on
from users_support import with_account_page

from flask_rivo.users import UserState
from flask_rivo.users import signals
from flask_rivo.users import totp
from flask_rivo.users.models import UserChangedError
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

RESET = "plover quartz meadow lantern"
THIEFS = "marble otter trumpet"
OWNERS = "zebra violin cactus"
ADDRESS = "ann@example.com"


Person = own_user_model("races")


@pytest.fixture
def pg() -> Iterator[scoped_session[t.Any]]:
    with tables_on(POSTGRES_URL, Person.metadata) as engine:
        session = scoped_session(sessionmaker(engine))
        yield session
        session.remove()


@pytest.fixture
def app(
    make_users_app: Callable[..., flask.Flask], pg: scoped_session[t.Any]
) -> flask.Flask:
    made = make_users_app(user_model=Person, db_session=pg)

    with_account_page(made)

    return made


def add_person(pg: scoped_session[t.Any], rounds: int = 4) -> None:
    pg.add(
        Person(
            email=ADDRESS,
            password_hash=hash_password(PASSWORD, rounds),
            state=UserState.VERIFIED,
        )
    )
    pg.commit()
    pg.remove()


def in_between(other: Callable[[], None]) -> Callable[[], None]:
    """Run ``other`` in a thread of its own, and wait for it."""

    def run() -> None:
        worker = threading.Thread(target=other)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the other request is stuck"

    return run


def before_first_update(pg: scoped_session[t.Any], other: Callable[[], None]) -> t.Any:
    """Run ``other`` once, just before this thread's first UPDATE of the
    user table: after the checks, before the write."""
    racing = threading.current_thread()
    done: list[bool] = []

    def receiver(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if done or threading.current_thread() is not racing:
            return
        table = Person.__tablename__.upper()
        if statement.lstrip().upper().startswith(f"UPDATE {table} "):
            done.append(True)
            in_between(other)()

    engine = pg.get_bind()
    sa.event.listen(engine, "before_cursor_execute", receiver)
    return lambda: sa.event.remove(engine, "before_cursor_execute", receiver)


def owner_resets(owner: Browser, link: str, done: list[int]) -> Callable[[], None]:
    def reset() -> None:
        assert owner.get(link).status_code == 302
        new = {"password": RESET, "password_confirm": RESET}
        reply = owner.submit("/reset-password", new)
        done.append(reply.status_code)

    return reset


def stored(pg: scoped_session[t.Any]) -> Person | None:
    pg.remove()
    found = pg.query(Person).filter_by(email=ADDRESS).one_or_none()
    pg.remove()
    return found


def the_reset_stands(app: flask.Flask, owner: Browser, thief: Browser) -> list[str]:
    failures = []
    if thief.get("/account").status_code == 200:
        failures.append("the thief is still logged in after the owner's reset")
    if Browser(app.test_client()).log_in(ADDRESS, PASSWORD).status_code == 302:
        failures.append("the old (stolen) password works again")
    if Browser(app.test_client()).log_in(ADDRESS, THIEFS).status_code == 302:
        failures.append("the thief's password replaced the one the owner reset")
    if owner.get("/account").status_code != 200:
        failures.append("the owner's session after the reset was ended")
    if Browser(app.test_client()).log_in(ADDRESS, RESET).status_code != 302:
        failures.append("the reset password does not log in")
    return failures


@pytest.fixture
def thief_and_owner(
    app: flask.Flask, pg: scoped_session[t.Any], mailbox: Mailbox
) -> tuple[Browser, Browser, str]:
    """The thief logged in with the stolen password; the owner holding a
    reset link."""
    add_person(pg)
    thief = Browser(app.test_client())
    assert thief.log_in(ADDRESS).status_code == 302
    owner = Browser(app.test_client())
    assert owner.submit("/forgotten-password", {"email": ADDRESS}).status_code == 200
    link = mailbox.last_link(ADDRESS)
    mailbox.clear()
    return thief, owner, link


def test_a_change_in_flight_cannot_undo_a_reset(
    app: flask.Flask, thief_and_owner: tuple[Browser, Browser, str]
) -> None:
    # The change notice goes out before the commit: the owner resets then.
    thief, owner, link = thief_and_owner
    done: list[int] = []
    racing = threading.current_thread()
    reset = in_between(owner_resets(owner, link, done))

    def receiver(sender: t.Any, message: t.Any, **extra: t.Any) -> None:
        if not done and threading.current_thread() is racing:
            reset()

    flask_mail.email_dispatched.connect(receiver)
    try:
        changed = thief.submit(
            "/change",
            {
                "email": ADDRESS,
                "current_password": PASSWORD,
                "password": THIEFS,
                "password_confirm": THIEFS,
            },
        )
    finally:
        flask_mail.email_dispatched.disconnect(receiver)
    assert done == [302]
    assert changed.status_code == 302  # "changed meanwhile": no 500
    assert the_reset_stands(app, owner, thief) == []


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(
            {
                "current_password": PASSWORD,
                "password": THIEFS,
                "password_confirm": THIEFS,
            },
            id="new-password",
        ),
        pytest.param(
            {"current_password": PASSWORD, "email": "thief@example.org"},
            id="new-email",
        ),
    ],
)
def test_a_change_checked_before_a_reset_is_not_written_after_it(
    app: flask.Flask,
    pg: scoped_session[t.Any],
    thief_and_owner: tuple[Browser, Browser, str],
    form: dict[str, str],
) -> None:
    thief, owner, link = thief_and_owner
    done: list[int] = []
    stop = before_first_update(pg, owner_resets(owner, link, done))
    try:
        changed = thief.submit("/change", {"email": ADDRESS, **form})
    finally:
        stop()
    assert done == [302]
    assert changed.status_code == 302
    # The reset ended the thief's session, and the flash with it.
    assert the_reset_stands(app, owner, thief) == []
    person = stored(pg)
    assert person is not None and person.pending_email is None


def test_closing_checked_before_a_reset_keeps_the_account(
    app: flask.Flask,
    pg: scoped_session[t.Any],
    thief_and_owner: tuple[Browser, Browser, str],
) -> None:
    thief, owner, link = thief_and_owner
    done: list[int] = []
    stop = before_first_update(pg, owner_resets(owner, link, done))
    try:
        closed = thief.submit("/close-account", {"password": PASSWORD})
    finally:
        stop()
    assert done == [302]
    assert closed.status_code == 302
    assert stored(pg) is not None, "the thief's stale password closed the account"
    assert the_reset_stands(app, owner, thief) == []


def test_confirming_a_new_address_checked_before_a_reset_fails(
    app: flask.Flask,
    pg: scoped_session[t.Any],
    mailbox: Mailbox,
    thief_and_owner: tuple[Browser, Browser, str],
) -> None:
    thief, owner, link = thief_and_owner
    asked = thief.submit(
        "/change", {"email": "thief@example.org", "current_password": PASSWORD}
    )
    assert asked.status_code == 302
    confirm_link = mailbox.last_link("thief@example.org")
    done: list[int] = []
    stop = before_first_update(pg, owner_resets(owner, link, done))
    try:
        confirmed = thief.submit(confirm_link, {"password": PASSWORD})
    finally:
        stop()
    assert done == [302]
    assert confirmed.status_code == 400  # not the account's password any more
    assert stored(pg) is not None, "the address moved to the thief's"


def test_a_rehash_at_log_in_cannot_bring_back_a_reset_password(
    make_users_app: Callable[..., flask.Flask],
    pg: scoped_session[t.Any],
    mailbox: Mailbox,
) -> None:
    # The hashes have 4 rounds, the site 5: a log-in rehashes the password.
    app = make_users_app(user_model=Person, db_session=pg, RIVO_BCRYPT_ROUNDS=5)
    add_person(pg, rounds=4)
    owner = Browser(app.test_client())
    assert owner.submit("/forgotten-password", {"email": ADDRESS}).status_code == 200
    link = mailbox.last_link(ADDRESS)
    done: list[int] = []
    stop = before_first_update(pg, owner_resets(owner, link, done))
    try:
        logged_in = Browser(app.test_client()).log_in(ADDRESS, PASSWORD)
    finally:
        stop()
    assert done == [302]
    assert logged_in.status_code == 400  # the password is no longer the account's
    assert Browser(app.test_client()).log_in(ADDRESS, PASSWORD).status_code == 400
    assert Browser(app.test_client()).log_in(ADDRESS, RESET).status_code == 302


def test_a_sign_up_racing_the_confirmation_cannot_set_the_password(
    app: flask.Flask, pg: scoped_session[t.Any], mailbox: Mailbox
) -> None:
    # Account pre-hijacking: the attacker's re-sign-up hashes and mails,
    # and the owner confirms before it commits.
    attacker = Browser(app.test_client())
    owner = Browser(app.test_client())
    assert attacker.sign_up(ADDRESS, THIEFS).status_code == 200
    assert owner.sign_up(ADDRESS, OWNERS).status_code == 200
    owners_link = mailbox.last_link(ADDRESS)
    confirmed: list[int] = []
    racing = threading.current_thread()

    def confirm() -> None:
        confirmed.append(owner.submit(owners_link, {"password": OWNERS}).status_code)

    def receiver(sender: t.Any, message: t.Any, **extra: t.Any) -> None:
        if not confirmed and threading.current_thread() is racing:
            in_between(confirm)()

    flask_mail.email_dispatched.connect(receiver)
    try:
        again = attacker.sign_up(ADDRESS, THIEFS)
    finally:
        flask_mail.email_dispatched.disconnect(receiver)
    assert again.status_code == 200  # the same page as any sign-up
    assert confirmed == [302]
    person = stored(pg)
    assert person is not None and person.state is UserState.VERIFIED
    assert Browser(app.test_client()).log_in(ADDRESS, THIEFS).status_code == 400
    assert Browser(app.test_client()).log_in(ADDRESS, OWNERS).status_code == 302


def delete_meanwhile(app: flask.Flask, results: list[int]) -> Callable[[], None]:
    def admin() -> None:
        with app.app_context():
            command = ["users", "delete", ADDRESS, "--yes"]
            out = app.test_cli_runner().invoke(args=command)
            results.append(out.exit_code)

    return in_between(admin)


@contextlib.contextmanager
def deleted_on(
    app: flask.Flask, signal: t.Any, **connect: t.Any
) -> Iterator[list[int]]:
    """``flask users delete`` of the account, run to its end when this
    thread's request first sends ``signal`` (connected with ``connect``):
    the command's exit codes."""
    racing = threading.current_thread()
    results: list[int] = []
    delete = delete_meanwhile(app, results)

    def receiver(sender: t.Any, **extra: t.Any) -> None:
        if not results and threading.current_thread() is racing:
            delete()

    signal.connect(receiver, **connect)
    try:
        yield results
    finally:
        signal.disconnect(receiver, **connect)


def test_a_log_in_to_an_account_deleted_meanwhile_is_refused(
    app: flask.Flask, pg: scoped_session[t.Any]
) -> None:
    # login_user sends user_logged_in before its commit: the administrator
    # deletes the account then. The commit finds no row to update.
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 as a visitor sees it
    add_person(pg)
    browser = Browser(app.test_client())
    with deleted_on(app, signals.user_logged_in, sender=app) as results:
        reply = browser.log_in(ADDRESS)
    assert results == [0]
    assert reply.status_code == 400
    assert "The email address or the password is wrong" in reply.text
    assert browser.get("/account").status_code == 302  # not logged in


def test_a_second_step_for_an_account_deleted_meanwhile_logs_nobody_in(
    app: flask.Flask, pg: scoped_session[t.Any], clock: FakeClock
) -> None:
    """The code is right, and the account is deleted as the log-in is made:
    nobody is logged in, and the page does not say otherwise."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    add_person(pg)
    browser = Browser(app.test_client())
    assert browser.log_in(ADDRESS).status_code == 302
    secret, _ = turn_on(browser, clock)
    clock.advance(totp.STEP)
    browser.log_out()
    assert browser.log_in(ADDRESS).status_code == 302  # the code page waits
    with deleted_on(app, signals.user_logged_in, sender=app) as results:
        reply = second_step(browser, code_at(secret, clock.now))
    assert results == [0]
    assert reply.status_code in (302, 400)
    assert "You are logged in" not in browser.get("/login").text
    assert browser.get("/account").status_code == 302  # not logged in


def test_a_forgotten_password_for_an_account_deleted_meanwhile_looks_the_same(
    app: flask.Flask, pg: scoped_session[t.Any]
) -> None:
    """The account is deleted while its reset link is mailed: the page is
    the one every address gets, not a 409 that would tell there was one."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    add_person(pg)
    with deleted_on(app, flask_mail.email_dispatched) as results:
        reply = Browser(app.test_client()).submit(
            "/forgotten-password", {"email": ADDRESS}
        )
    unknown = Browser(app.test_client()).submit(
        "/forgotten-password", {"email": "nobody@example.com"}
    )
    assert results == [0]
    assert reply.status_code == unknown.status_code == 200
    assert reply.text.replace(ADDRESS, "@") == unknown.text.replace(
        "nobody@example.com", "@"
    )


def test_a_reset_2fa_of_an_account_deleted_meanwhile_is_a_message(
    app: flask.Flask, pg: scoped_session[t.Any], clock: FakeClock
) -> None:
    """Commands that commit through the workflows (not the CLI's own
    commit) say so too, not a traceback."""
    add_person(pg)
    browser = Browser(app.test_client())
    assert browser.log_in(ADDRESS).status_code == 302
    turn_on(browser, clock)
    engine = pg.get_bind()
    done: list[bool] = []

    def receiver(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if not done and statement.lstrip().upper().startswith("UPDATE "):
            done.append(True)
            other = sa.create_engine(engine.url)
            with other.begin() as connection:
                connection.execute(sa.delete(Person.__table__))
            other.dispose()

    sa.event.listen(engine, "before_cursor_execute", receiver)
    try:
        with app.app_context():
            command = ["users", "reset-2fa", ADDRESS, "--yes"]
            out = app.test_cli_runner().invoke(args=command)
    finally:
        sa.event.remove(engine, "before_cursor_execute", receiver)
    assert done
    assert out.exit_code == 1
    assert "deleted meanwhile" in out.output


def test_the_409_of_a_change_meanwhile_shows_its_own_words_only() -> None:
    """Werkzeug shows an HTTP error's first argument as its description:
    SQLAlchemy's text (naming the table), or a column's name, must not
    reach the page."""
    error = UserChangedError("UPDATE statement on table 'people' expected ...")
    assert error.description == UserChangedError.description
    assert "people" not in error.get_body()
    assert "people" in str(error)  # for logs


def test_an_error_page_after_a_failed_flush_renders(
    app: flask.Flask, pg: scoped_session[t.Any]
) -> None:
    # An application's receiver breaks the database session (a failed
    # flush) in an account page: the 500 page, which shows who is logged
    # in, rolls back first instead of failing on the session again.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    add_person(pg)
    racing = threading.current_thread()

    def receiver(sender: t.Any, user: t.Any, **extra: t.Any) -> None:
        if threading.current_thread() is racing:
            pg.add(Person(email=ADDRESS, password_hash="x", state=UserState.CREATED))
            pg.flush()  # IntegrityError: the address is taken

    signals.user_logged_in.connect(receiver, app)
    try:
        reply = Browser(app.test_client()).log_in(ADDRESS)
    finally:
        signals.user_logged_in.disconnect(receiver, app)
    assert reply.status_code == 500
    assert "Internal server error" in reply.text
