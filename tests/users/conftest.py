"""Fixtures for the account workflows: a real SMTP server on loopback, a
SQLite user table, and an app with RivoUsers and CSRF on."""

from __future__ import annotations

import socket
import typing as t

import flask
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import FakeClock
from users_support import SITE
from users_support import Base
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import RivoUsers
from flask_rivo import current_user
from flask_rivo import login_required

if t.TYPE_CHECKING:
    from collections.abc import Iterator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the whole test run."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[int, Mailbox]) -> Mailbox:
    smtp_server[1].clear()
    return smtp_server[1]


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
def users_app(
    smtp_server: tuple[int, Mailbox], db: scoped_session[t.Any], clock: FakeClock
) -> flask.Flask:
    """An app with RivoUsers, CSRF on, mail going to the loopback server."""
    app = flask.Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test secret",
        RIVO_EXTERNAL_URL=SITE,
        RIVO_BCRYPT_ROUNDS=4,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server[0],
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="Rivo Test <noreply@rivo.test>",
    )
    RivoUsers(app, user_model=User, db_session=db)
    app.extensions["rivo_sessions"].clock = clock

    @app.teardown_appcontext
    def remove_session(error: BaseException | None) -> None:
        db.remove()

    @app.get("/")
    def index() -> str:
        return f"Hello {current_user.email or 'stranger'}"

    @app.get("/account")
    @login_required
    def account() -> str:
        return f"Account of {current_user.email}"

    return app


@pytest.fixture
def browser(users_app: flask.Flask) -> Browser:
    return Browser(users_app.test_client())


@pytest.fixture
def verified(browser: Browser, mailbox: Mailbox) -> str:
    """An address with a verified account (password ``PASSWORD``)."""
    address = "ann@example.com"
    browser.sign_up(address)
    assert browser.submit(mailbox.last_link(address), {}).status_code == 302
    mailbox.clear()
    return address
