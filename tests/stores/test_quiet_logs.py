"""A store failure is logged with its cause, and never with session data.

Drivers' error texts quote what they were given: SQLAlchemy's show the
statement's parameters (the session's data), a traceback shows every
chained error. Each test here causes a real failure while a session holds
a secret, captures every log record of every logger as a handler would
render it (tracebacks included), and looks for the secret, the session ID
and its store key.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from backends import use
from servers import POSTGRES_BIN
from servers import REDIS_SERVER
from servers import PostgresServer
from servers import RedisServer
from support import cookie_value
from support import require
from support import session_app

from flask_rivo import StoreError
from flask_rivo.ids import session_key
from flask_rivo.stores import RedisStore
from flask_rivo.stores import SQLAlchemyStore
from flask_rivo.stores import sqlalchemy as sql_store
from flask_rivo.stores.faults import describe

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from pathlib import Path

    from backends import Backend

    from flask_rivo.stores import SessionStore

SECRET = f"api-token-{uuid.uuid4().hex}"

Fault = t.Callable[[], t.ContextManager[object]]


class Logs(logging.Handler):
    """Every record, formatted as a logging handler writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Everything logged: the root logger at DEBUG, SQLAlchemy's pools at
    DEBUG and its engines at INFO (each statement with its parameters; at
    DEBUG SQLAlchemy also logs the rows it fetched, which hold whatever the
    table holds, see docs/deployment.rst)."""
    levels = {"": logging.DEBUG, "sqlalchemy": logging.DEBUG}
    levels["sqlalchemy.engine"] = logging.INFO
    saved = {name: logging.getLogger(name).level for name in levels}
    handler = Logs()
    logging.getLogger().addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    yield handler
    logging.getLogger().removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def assert_quiet(store: SessionStore, fault: Fault, cause: str, logs: Logs) -> None:
    """Store a secret, fail a write and a log-in under ``fault``, and read
    the logs: the cause is there, the secret and the session's IDs are not."""
    app = session_app(RIVO_SESSION_STORE=store)
    browser = app.test_client()
    assert browser.get(f"/set/token/{SECRET}").status_code == 200
    cookie = browser.get_cookie("session")
    assert cookie is not None
    shown = [cookie.value, session_key(cookie.value), SECRET]
    with fault():
        for path in (f"/set/token/{SECRET}-2", "/login/ann"):
            response = browser.get(path)
            assert response.status_code == 503, path
            new = cookie_value(response)
            if new:  # a log-in whose old ID may be retired hands out the new
                shown += [new, session_key(new)]
    text = logs.text
    assert "Session store unavailable" in text
    assert "Traceback (most recent call last)" in text  # tracebacks are read
    assert cause in text
    for secret in shown:
        assert secret not in text
    assert browser.get("/get/token").text == repr(SECRET)  # and nothing lost


# -- SQLite: a file locked by another connection ------------------------------


def locked_sqlite(path: Path) -> Fault:
    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock, until rollback
            yield
        finally:
            other.rollback()
            other.close()

    return hold


@pytest.fixture
def fast_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy timeout of 0.2 s: a locked file fails the request at once."""
    monkeypatch.setitem(sql_store.CONNECT_ARGS, "pysqlite", {"timeout": 0.2})


@pytest.mark.usefixtures("fast_sqlite")
def test_a_locked_sqlite_file(tmp_path: Path, logs: Logs) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path / 'sessions.db'}")
    try:
        assert store.engine.hide_parameters
        assert_quiet(store, locked_sqlite(tmp_path / "sessions.db"), "locked", logs)
        assert "[SQL parameters hidden due to hide_parameters=True]" in logs.text
    finally:
        store.close()


def test_an_engine_of_yours_that_shows_parameters(tmp_path: Path, logs: Logs) -> None:
    """Your engine's own statement log is yours to configure (it is off
    here, as by default); flask_rivo's lines and errors stay clean."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    path = tmp_path / "sessions.db"
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    assert not engine.hide_parameters
    try:
        store = SQLAlchemyStore(engine)
        assert_quiet(store, locked_sqlite(path), "locked", logs)
        # The error an application may catch quotes nothing either.
        with locked_sqlite(path)(), pytest.raises(StoreError) as caught:
            store.delete_user_sessions(SECRET)
        assert SECRET not in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__
        assert caught.value.cause_type is sa.exc.OperationalError
    finally:
        engine.dispose()


# -- PostgreSQL and MariaDB: a row locked by another connection ---------------


def row_lock(url: str, table: sa.Table) -> Fault:
    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        engine = sa.create_engine(url)  # not the store's: that one autocommits
        try:
            with engine.connect() as other, other.begin():
                other.execute(sa.select(table).with_for_update())  # every row
                yield
        finally:
            engine.dispose()

    return hold


@pytest.mark.parametrize(
    ("name", "url", "cause"),
    [
        ("postgresql", POSTGRES_URL, "lock timeout"),
        ("mariadb", MARIADB_URL, "lock timeout"),
    ],
)
def test_a_row_lock_held_elsewhere(
    name: str,
    url: str,
    cause: str,
    backends: dict[str, Backend],
    monkeypatch: pytest.MonkeyPatch,
    logs: Logs,
) -> None:
    use(backends[name])
    store_url = url
    if name == "postgresql":
        short = {**sql_store.CONNECT_ARGS["psycopg"], "options": "-c lock_timeout=200"}
        monkeypatch.setitem(sql_store.CONNECT_ARGS, "psycopg", short)
    else:
        store_url += "?init_command=SET innodb_lock_wait_timeout=1"
    store = SQLAlchemyStore(store_url, table_name=f"rivo_test_{uuid.uuid4().hex[:12]}")
    try:
        assert_quiet(store, row_lock(url, store.table), cause, logs)
    finally:
        store.table.drop(store.engine, checkfirst=True)
        store.close()


# -- private servers, stopped ---------------------------------------------------


def stopped(server: RedisServer | PostgresServer) -> Fault:
    @contextlib.contextmanager
    def down() -> Iterator[None]:
        server.stop()
        try:
            yield
        finally:
            server.start()

    return down


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_a_stopped_server(kind: str, tmp_path: Path, logs: Logs) -> None:
    server: RedisServer | PostgresServer
    if kind == "redis":
        require(REDIS_SERVER is not None, "redis-server is not installed")
        server = RedisServer(tmp_path)
    else:
        require(POSTGRES_BIN is not None, "PostgreSQL is not installed")
        server = PostgresServer(tmp_path)
    with server:
        store = (
            RedisStore(server.url) if kind == "redis" else SQLAlchemyStore(server.url)
        )
        try:
            assert_quiet(store, stopped(server), "connection refused", logs)
        finally:
            store.close()


# -- what the description keeps ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: sqlite3.OperationalError("database is locked"), "database locked"),
        (lambda: TimeoutError(f"timed out reading {SECRET}"), "timeout (TimeoutError)"),
        (lambda: ValueError(f"invalid input: {SECRET}"), "ValueError"),
    ],
)
def test_a_description_names_the_kind_and_quotes_nothing(
    make: Callable[[], BaseException], expected: str
) -> None:
    described = describe(make())
    assert expected in described
    assert SECRET not in described
