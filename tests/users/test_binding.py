"""Sessions bound to the credentials they were made with (issue: sessions
outlive the credentials), on every store.

A password, address or state change ends older sessions at their next
request; a lock or a delete through the ORM ends them at once, so lifting
the lock does not bring a thief's session back.
"""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CountingStore
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo import UserMixin
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo import login_user
from flask_rivo.users import UserState
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

pytestmark = pytest.mark.every_store


def user_sessions(store: CountingStore, email: str, db: t.Any) -> list[t.Any]:
    user = db.scalars(sa.select(User).where(User.email == email)).one()
    return [r for r in store.records().values() if r.user_id == user.get_id()]


def the_user(db: t.Any, email: str) -> User:
    db.remove()
    return t.cast("User", db.scalars(sa.select(User).where(User.email == email)).one())


@pytest.fixture
def views(users_app: flask.Flask, db: scoped_session[t.Any]) -> flask.Flask:
    """The users app, plus a view where a user changes their own password
    and one that files the session under a user by hand."""

    @users_app.post("/own-change")
    @login_required
    def own_change() -> str:
        user = t.cast("User", current_user._get_current_object())  # type: ignore[attr-defined]
        user.password_hash = hash_password("new safe passphrase", 4)
        login_user(user)
        db.commit()
        return "changed"

    @users_app.get("/file-under/<user_id>")
    def file_under(user_id: str) -> str:
        flask.session.user_id = user_id  # type: ignore[attr-defined]
        return "filed"

    return users_app


@pytest.fixture
def thief(users_app: flask.Flask, verified: str) -> Browser:
    """A second browser logged in to the verified account."""
    other = Browser(users_app.test_client())
    assert other.log_in(verified).status_code == 302
    assert other.get("/account").status_code == 200
    return other


def test_a_lock_ends_every_session_and_lifting_it_brings_none_back(
    users_app: flask.Flask,
    browser: Browser,
    thief: Browser,
    verified: str,
    db: scoped_session[t.Any],
    store: CountingStore,
) -> None:
    assert browser.log_in(verified).status_code == 302
    assert len(user_sessions(store, verified, db)) == 2
    with users_app.app_context():
        user = the_user(db, verified)
        user.state = UserState.EXPIRED
        db.commit()
        assert user_sessions(store, verified, db) == []  # at once, not lazily
        user.state = UserState.VERIFIED
        db.commit()
    assert thief.get("/account").status_code == 302
    assert browser.get("/account").status_code == 302


def test_a_deleted_users_sessions_end_with_them(
    users_app: flask.Flask,
    thief: Browser,
    verified: str,
    db: scoped_session[t.Any],
    store: CountingStore,
) -> None:
    with users_app.app_context():
        user = the_user(db, verified)
        user_id = user.get_id()
        db.delete(user)
        db.commit()
    assert [r for r in store.records().values() if r.user_id == user_id] == []
    assert thief.get("/account").status_code == 302


@pytest.mark.parametrize("change", ["password", "email"])
def test_a_credential_change_by_any_route_ends_older_sessions(
    users_app: flask.Flask,
    thief: Browser,
    verified: str,
    db: scoped_session[t.Any],
    change: str,
) -> None:
    # Changed straight in the database: no "end all sessions" was called.
    with users_app.app_context():
        user = the_user(db, verified)
        if change == "password":
            user.password_hash = hash_password("new safe passphrase", 4)
        else:
            user.email = "ann.new@example.com"
        db.commit()
    assert thief.get("/account").status_code == 302
    # The session itself ended, so nothing of it is left to reuse.
    assert thief.get("/").text == "Hello stranger"


def test_logging_in_again_after_an_own_change_keeps_that_session_only(
    views: flask.Flask, browser: Browser, thief: Browser, verified: str
) -> None:
    assert browser.log_in(verified).status_code == 302
    old = browser.client.get_cookie("session")
    assert old is not None
    views.config["WTF_CSRF_ENABLED"] = False
    assert browser.client.post("/own-change").text == "changed"
    new = browser.client.get_cookie("session")
    assert new is not None and new.value != old.value
    assert browser.get("/account").status_code == 200
    assert thief.get("/account").status_code == 302


def test_the_secret_key_can_rotate_through_fallbacks(
    users_app: flask.Flask, thief: Browser
) -> None:
    users_app.config.update(
        SECRET_KEY="the next secret", SECRET_KEY_FALLBACKS=["test secret"]
    )
    assert thief.get("/account").status_code == 200
    users_app.config.update(SECRET_KEY_FALLBACKS=[])
    assert thief.get("/account").status_code == 302


def test_a_session_filed_under_a_user_without_a_digest_is_not_logged_in(
    views: flask.Flask, verified: str, db: scoped_session[t.Any]
) -> None:
    with views.app_context():
        user_id = the_user(db, verified).get_id()
    client = views.test_client()
    client.get(f"/file-under/{user_id}")
    assert client.get("/account").status_code == 302


# -- a reused integer primary key -------------------------------------------


class IntBase(DeclarativeBase):
    pass


class IntUser(UserMixin, IntBase):
    __tablename__ = "int_users"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


@pytest.fixture
def int_db(tmp_path: t.Any) -> Iterator[scoped_session[t.Any]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'users.db'}")
    IntBase.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    yield session
    session.remove()
    engine.dispose()


def test_a_reused_integer_id_does_not_inherit_the_old_session(
    make_users_app: Callable[..., flask.Flask],
    int_db: scoped_session[t.Any],
    mailbox: Mailbox,
) -> None:
    app = make_users_app(user_model=IntUser, db_session=int_db)

    with_account_page(app)

    def verified_user(address: str) -> Browser:
        browser = Browser(app.test_client())
        browser.sign_up(address)
        assert (
            browser.submit(
                mailbox.last_link(address), {"password": PASSWORD}
            ).status_code
            == 302
        )
        assert browser.log_in(address).status_code == 302
        return browser

    ann = verified_user("ann@example.com")
    with app.app_context():
        ann_id = int_db.scalars(sa.select(IntUser.id)).one()
        # Deleted behind the ORM's back: no event ends her sessions.
        int_db.execute(sa.delete(IntUser))
        int_db.commit()
    verified_user("bob@example.com")
    with app.app_context():
        assert int_db.scalars(sa.select(IntUser.id)).one() == ann_id  # reused
    response = ann.get("/account")
    assert response.status_code == 302
