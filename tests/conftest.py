from __future__ import annotations

import typing as t

import flask
import pytest
from aiosmtpd.controller import Controller
from support import CountingStore
from support import FakeClock
from support import free_port
from users_support import Mailbox

from flask_rivo import RivoSessions

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask.testing import FlaskClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
def app(clock: FakeClock, store: CountingStore) -> flask.Flask:
    """An app with RivoSessions on a counting memory store, and a few views."""
    app = flask.Flask(__name__)
    app.config.update(TESTING=True, RIVO_SESSION_STORE=store)
    RivoSessions(app)
    app.extensions["rivo_sessions"].clock = clock

    @app.get("/nothing")
    def nothing() -> str:
        return "nothing"

    @app.get("/get/<key>")
    def get(key: str) -> str:
        return repr(flask.session.get(key))

    @app.get("/set/<key>/<value>")
    def set_(key: str, value: str) -> str:
        flask.session[key] = value
        return "ok"

    @app.get("/incr/<key>")
    def incr(key: str) -> str:
        flask.session[key] = flask.session.get(key, 0) + 1
        return str(flask.session[key])

    @app.get("/login/<user_id>")
    def login(user_id: str) -> str:
        flask.session.regenerate()
        flask.session.user_id = user_id
        flask.session["user"] = user_id
        return "in"

    @app.get("/destroy")
    def destroy() -> str:
        flask.session.destroy()
        return "bye"

    return app


@pytest.fixture
def client(app: flask.Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the whole test run."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[int, Mailbox]) -> Mailbox:
    """The messages the SMTP server received, emptied for each test."""
    smtp_server[1].clear()
    return smtp_server[1]
