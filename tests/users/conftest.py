"""Fixtures for the account workflows: a real SMTP server on loopback, a
SQLite user table, and an app with RivoUsers and CSRF on."""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CountingStore
from support import FakeClock
from users_support import PASSWORD
from users_support import SITE
from users_support import Base
from users_support import Browser
from users_support import Mailbox
from users_support import User
from users_support import with_account_page

from flask_rivo import RivoUsers
from flask_rivo import current_user

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def db() -> Iterator[scoped_session[t.Any]]:
    engine = sa.create_engine(
        "sqlite://",
        connect_args={"check_same_thread": False},
        poolclass=sa.pool.StaticPool,
    )
    Base.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    yield session
    session.remove()
    engine.dispose()


@pytest.fixture
def make_users_app(
    smtp_server: tuple[int, Mailbox],
    db: scoped_session[t.Any],
    clock: FakeClock,
    store: CountingStore,
) -> t.Callable[..., flask.Flask]:
    """Build an app with RivoUsers, CSRF on and mail to the loopback server.

    Sessions, log-in throttles and mail quotas go to the ``store`` fixture:
    the memory store, or every store for tests marked ``every_store``.

    ``config`` goes on top of the base configuration; ``drop`` removes keys
    from it; ``debug`` sets debug mode before RivoUsers is installed.
    """

    def make(
        *,
        debug: bool = False,
        drop: tuple[str, ...] = (),
        user_model: type[t.Any] = User,
        db_session: scoped_session[t.Any] = db,
        **config: t.Any,
    ) -> flask.Flask:
        app = flask.Flask(__name__)
        base: dict[str, t.Any] = {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "RIVO_EXTERNAL_URL": SITE,
            "RIVO_BCRYPT_ROUNDS": 4,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server[0],
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_DEFAULT_SENDER": "Rivo Test <noreply@rivo.test>",
            "RIVO_SESSION_STORE": store,
        }
        for key in drop:
            del base[key]
        app.config.update({**base, **config})
        app.debug = debug
        RivoUsers(app, user_model=user_model, db_session=db_session)
        app.extensions["rivo_sessions"].clock = clock

        @app.teardown_appcontext
        def remove_session(error: BaseException | None) -> None:
            db_session.remove()

        return app

    return make


@pytest.fixture
def users_app(make_users_app: t.Callable[..., flask.Flask]) -> flask.Flask:
    """The app most account tests use, with a public and a private page."""
    app = make_users_app()

    @app.get("/")
    def index() -> str:
        return f"Hello {current_user.email or 'stranger'}"

    with_account_page(app)

    return app


@pytest.fixture
def browser(users_app: flask.Flask) -> Browser:
    return Browser(users_app.test_client())


@pytest.fixture
def verified(browser: Browser, mailbox: Mailbox) -> str:
    """An address with a verified account (password ``PASSWORD``), logged out."""
    address = "ann@example.com"
    browser.sign_up(address)
    assert (
        browser.submit(mailbox.last_link(address), {"password": PASSWORD}).status_code
        == 302
    )
    browser.log_out()  # confirming logged in; the tests start logged out
    browser.client.delete_cookie("rivo_device")  # ... from an unknown browser
    mailbox.clear()
    return address
