from __future__ import annotations

import typing as t

import flask
import pytest
from aiosmtpd.controller import Controller
from backends import ALL
from backends import Backend
from backends import make_backends
from backends import use
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests marked ``every_store`` that use a store on each one."""
    marked = metafunc.definition.get_closest_marker("every_store") is not None
    if marked and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ALL, indirect=True)


@pytest.fixture(scope="session")
def backends(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Backend]]:
    """Every kind of store; tables and key prefixes of this run's own."""
    made = make_backends(tmp_path_factory.mktemp("stores"))
    yield made
    for backend in made.values():
        backend.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The kind of store under test: memory, unless the test is marked
    ``every_store`` (see :func:`pytest_generate_tests`)."""
    return t.cast("str", getattr(request, "param", "memory"))


@pytest.fixture
def store(
    backends: dict[str, Backend], backend: str, clock: FakeClock
) -> Iterator[CountingStore]:
    """A fresh store of the kind under test, counting the calls to it."""
    kind = backends[backend]
    use(kind)
    inner = kind.make(clock)
    yield CountingStore(inner, lambda: kind.records(inner))
    kind.clear(inner)
    inner.close()


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
