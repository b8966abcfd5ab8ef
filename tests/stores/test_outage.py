"""A real store server goes down mid-test: HTTP 503 quickly, the session kept,
and views that never use the session served as usual.

tests/test_unavailable.py fakes the failure with a store wrapper; here a
private Redis or PostgreSQL (tests/servers.py) is stopped, killed or (Redis)
hung for real,
so the drivers' own errors, timeouts and reconnects are what is tested. The
shared servers are never taken down.
"""

from __future__ import annotations

import time
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from backends import SQL
from servers import POSTGRES_BIN
from servers import REDIS_SERVER
from servers import PostgresServer
from servers import RedisServer
from support import require
from support import session_app

from flask_rivo.stores import RedisStore
from flask_rivo.stores import SQLAlchemyStore

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask_rivo.stores import SessionStore

MESSAGE = "the session store cannot be reached"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require(REDIS_SERVER is not None, "redis-server is not installed")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PostgresServer]:
    require(POSTGRES_BIN is not None, "PostgreSQL is not installed")
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


def make_store(server: RedisServer | PostgresServer) -> SessionStore:
    if isinstance(server, RedisServer):
        return RedisStore(server.url + "?socket_timeout=1&socket_connect_timeout=1")
    return SQLAlchemyStore(server.url)


@pytest.mark.parametrize(
    ("server_name", "outage"),
    [
        ("redis_server", "stop"),
        ("redis_server", "kill"),
        ("redis_server", "pause"),
        ("postgres_server", "stop"),
        ("postgres_server", "kill"),
    ],
)
def test_an_outage_answers_503_and_keeps_the_session(
    request: pytest.FixtureRequest, server_name: str, outage: str
) -> None:
    """``stop`` is a graceful shutdown, ``kill`` a crash (SIGKILL), ``pause``
    a hung server (SIGSTOP: connections are accepted, nothing answers).

    A refused connection fails at once; a hung Redis after its 1 s socket
    timeout, once (a timeout is not retried). PostgreSQL is not paused:
    psycopg has no read timeout, so a PostgreSQL that hangs while its
    machine still answers TCP hangs the request (a known limit, in
    docs/deployment.rst; a dead host or network is caught by TCP timeouts).
    """
    server: RedisServer | PostgresServer = request.getfixturevalue(server_name)
    server.resume()  # no-ops, unless an earlier test failed with it down
    server.start()
    store = make_store(server)
    bound = 1.8 if outage == "pause" else 1.0
    try:
        app = session_app(RIVO_SESSION_STORE=store)
        client, newcomer = app.test_client(), app.test_client()
        assert client.get("/set/cart/apples").status_code == 200
        cookie = client.get_cookie("session")
        assert cookie is not None

        if outage == "kill":
            server.kill()
        else:
            getattr(server, outage)()
        requests = [
            (client, "/get/cart"),
            (client, "/set/cart/pears"),
            (newcomer, "/set/cart/plums"),  # a first visit that stores something
        ]
        for browser, path in requests:
            started = time.monotonic()
            response = browser.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, path
            assert MESSAGE in response.text
            # No empty session replaces the real one, and none is started.
            assert "Set-Cookie" not in response.headers
            assert elapsed < bound, f"{path} took {elapsed:.2f} s"
        assert client.get_cookie("session") == cookie
        assert newcomer.get_cookie("session") is None
        # A view that never uses the session makes no store call: it is
        # served, at once, cookie or not.
        for browser in (client, newcomer):
            started = time.monotonic()
            response = browser.get("/nothing")
            assert (response.status_code, response.text) == (200, "nothing")
            assert "Set-Cookie" not in response.headers
            assert time.monotonic() - started < bound

        if outage == "pause":
            server.resume()
        else:
            server.start()
        # The refused write did not land; the session is intact and writable.
        assert client.get("/get/cart").text == "'apples'"
        assert client.get("/set/cart/pears").status_code == 200
        assert client.get("/get/cart").text == "'pears'"
        assert newcomer.get("/set/cart/plums").status_code == 200
        assert newcomer.get("/get/cart").text == "'plums'"
    finally:
        store.close()


#: How to ask a server which connection this is, and to end one.
_DROP = {
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
    "mariadb": ("SELECT connection_id()", "KILL {}"),
}


@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_reads_recover_at_once_when_every_pooled_connection_was_dropped(
    name: str,
) -> None:
    """A restart, a failover or an idle-connection killer leaves every
    connection of the pool dead. The first read after must renew the pool
    and answer, not meet one dead connection after another (503s until the
    pool is used up). Only this test's own connections are ended, on the
    shared server."""
    url = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}[name]
    backend = SQL(name, url)
    problem = backend.available()
    backend.close()
    require(problem is None, f"{name} is not reachable")
    who, drop = _DROP[name]
    table = f"rivo_test_dropped_{uuid.uuid4().hex[:8]}"
    store = SQLAlchemyStore(url, table_name=table)  # its own engine: fast reads
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        client = session_app(RIVO_SESSION_STORE=store).test_client()
        assert client.get("/set/cart/apples").status_code == 200
        held = [store.engine.raw_connection() for _ in range(3)]
        ended = []
        for connection in held:
            cursor = connection.cursor()
            cursor.execute(who)
            ended.append(int(cursor.fetchone()[0]))
            cursor.close()
        for connection in held:
            connection.close()  # back to the pool, three deep
        with admin.connect() as connection:
            for number in ended:
                connection.execute(sa.text(drop.format(number)))
        response = client.get("/get/cart")
        assert (response.status_code, response.text) == (200, "'apples'")
        assert client.get("/set/cart/pears").status_code == 200
        assert client.get("/get/cart").text == "'pears'"
    finally:
        store.close()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        admin.dispose()
