"""What is particular to SQLAlchemyStore, beyond the conformance suite.

The table is created lazily (and by racing processes at once), or by your
migrations on your own MetaData; an engine you pass in stays yours. Each
store call is one statement in autocommit mode, so one round trip on the
wire (counted here through a TCP relay), but for keeping the per-user cap
past it: one short transaction that locks the user's rows, so that two
log-ins at once end one session, not both; purging deletes in bounded
batches; a connection that died in the pool is retried; MariaDB compares
user IDs case-sensitively and keeps 4-byte UTF-8. Engines made from a URL
get timeouts (and WAL for SQLite), and a relative SQLite path lives in the
instance folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor

import flask
import pytest
import servers
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from backends import SQL
from backends import Backend
from backends import use
from flask_sqlalchemy import SQLAlchemy
from support import FakeClock
from support import require
from support import session_app

from flask_rivo import StoreError
from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key
from flask_rivo.stores import Record
from flask_rivo.stores.sqlalchemy import PURGE_BATCH
from flask_rivo.stores.sqlalchemy import SQLAlchemyStore
from flask_rivo.stores.sqlalchemy import database_url
from flask_rivo.stores.sqlalchemy import make_engine
from flask_rivo.stores.sqlalchemy import session_table

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DIALECTS = ("sqlite", "postgresql", "mariadb")
MakeStore = t.Callable[..., SQLAlchemyStore]


@pytest.fixture(params=DIALECTS)
def url(
    request: pytest.FixtureRequest, backends: dict[str, Backend], tmp_path: Path
) -> str:
    """A database of each dialect: a SQLite file, or a shared server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.db'}"
    use(backends[request.param])
    return t.cast("SQL", backends[request.param]).url


@pytest.fixture
def stores() -> Iterator[MakeStore]:
    """Makes stores on tables of their own, dropped (engines disposed) after."""
    made: list[SQLAlchemyStore] = []

    def make(engine: str | sa.Engine, **options: t.Any) -> SQLAlchemyStore:
        options.setdefault("table_name", f"rivo_t_{uuid.uuid4().hex}")
        made.append(SQLAlchemyStore(engine, **options))
        return made[-1]

    yield make
    for store in made:
        store.table.drop(store.engine, checkfirst=True)
        store.engine.dispose()


def record(now: float, ttl: float = 3600, **fields: t.Any) -> Record:
    return Record({"a": '"1"'}, 1, now, now, now, now + ttl, **fields)


def make_app(store: SQLAlchemyStore, clock: FakeClock | None = None) -> flask.Flask:
    app = t.cast("flask.Flask", session_app(RIVO_SESSION_STORE=store))
    if clock is not None:
        app.extensions["rivo_sessions"].clock = clock
    return app


def statements(engine: sa.Engine) -> list[str]:
    """The first word of each statement the engine sends from now on."""
    sent: list[str] = []
    sa.event.listen(
        engine, "before_cursor_execute", lambda *a: sent.append(a[2].split()[0])
    )
    return sent


class Relay:
    """A TCP relay in front of a database server that counts round trips:
    the times a client speaks after the server did, however many packets
    each turn takes. It also counts the statements psycopg prepares (on
    their fifth run on a connection), which cost one more round trip once."""

    def __init__(self, url: str) -> None:
        parsed = sa.make_url(url)
        self.target = (parsed.host or "127.0.0.1", parsed.port or 0)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = parsed.set(port=self.listener.getsockname()[1])
        self.round_trips, self.prepared, self.sent = 0, 0, bytearray()
        self._sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client = self.listener.accept()[0]
                server = socket.create_connection(self.target)
                self._sockets += [client, server]
                turn = ["server"]
                for ends in ((client, server, True), (server, client, False)):
                    args = (*ends, turn)
                    threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, up: bool, turn: list[str]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if up:
                    self.round_trips += turn[0] == "server"
                    self.prepared += len(re.findall(rb"P.{4}_pg3_", data, re.S))
                    self.sent += data
                turn[0] = "client" if up else "server"  # before the other side acts
                sink.sendall(data)

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


# -- the table -----------------------------------------------------------------


def test_table_is_created_on_first_use_with_its_indexes(
    url: str, stores: MakeStore
) -> None:
    store = stores(url)
    name = store.table.name
    assert not sa.inspect(store.engine).has_table(name)  # not in __init__
    assert store.load(session_key(new_session_id())) is None
    inspector = sa.inspect(store.engine)
    assert inspector.has_table(name)
    indexed = {tuple(index["column_names"]) for index in inspector.get_indexes(name)}
    assert {("user_id",), ("expires_at",)} <= indexed


def test_without_create_table_a_missing_table_is_a_503(
    url: str, stores: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = stores(url, create_table=False)
    client = make_app(store).test_client()
    with caplog.at_level(logging.ERROR, logger="flask_rivo"):
        started = client.get("/set/a/1")  # the INSERT fails
        client.set_cookie("session", new_session_id())
        loaded = client.get("/get/a")  # the SELECT fails
    for response in (started, loaded):  # TESTING: a 500 would raise instead
        assert response.status_code == 503
        assert "session store cannot be reached" in response.text
        assert "Set-Cookie" not in response.headers
    assert "session database unavailable" in caplog.text
    assert not sa.inspect(store.engine).has_table(store.table.name)


def test_two_processes_creating_the_table_at_once_both_succeed(
    url: str, stores: MakeStore, clock: FakeClock
) -> None:
    name = f"rivo_t_{uuid.uuid4().hex}"
    barrier = threading.Barrier(2, timeout=10)
    failed: list[str] = []
    racers = []
    for _ in range(2):
        engine = make_engine(url)  # one per "process": pools of their own

        @sa.event.listens_for(engine, "before_cursor_execute")
        def hold(_c: t.Any, _cur: t.Any, statement: str, *_: t.Any) -> None:
            if statement.lstrip().startswith("CREATE TABLE"):
                barrier.wait()  # both have seen that the table is missing

        @sa.event.listens_for(engine, "handle_error")
        def note(context: sa.engine.ExceptionContext) -> None:
            if (context.statement or "").lstrip().startswith("CREATE TABLE"):
                failed.append(repr(context.original_exception))

        racers.append(stores(engine, table_name=name, clock=clock))
    errors: list[BaseException] = []

    def first_use(store: SQLAlchemyStore) -> None:
        try:
            store.load(session_key(new_session_id()))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=first_use, args=(s,)) for s in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(failed) == 1, failed  # the loser's CREATE TABLE, tolerated
    key = session_key(new_session_id())
    assert racers[0].save(key, record(clock(), user_id="u"), None)
    assert [k for k, _ in racers[1].user_sessions("u")] == [key]


def test_the_table_on_your_metadata_is_the_one_alembic_sees(
    url: str, stores: MakeStore
) -> None:
    metadata = sa.MetaData()
    name = f"rivo_t_{uuid.uuid4().hex}"
    table = session_table(metadata, name)
    assert session_table(metadata, name) is table
    store = stores(url, table_name=name, metadata=metadata)
    assert store.table is table
    ours = {"include_name": lambda n, kind, _: kind != "table" or n == name}

    def diff() -> list[t.Any]:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=ours)
            return compare_metadata(context, metadata)

    made = {(d[0], d[1].name) for d in diff()}
    indexes = {("add_index", f"ix_{name}_{c}") for c in ("user_id", "expires_at")}
    assert made == {("add_table", name), *indexes}
    store.load(session_key(new_session_id()))  # the store creates it
    assert diff() == []  # exactly as the metadata says: no spurious migration


def test_an_engine_of_yours_is_used_and_never_disposed(
    tmp_path: Path, stores: MakeStore, clock: FakeClock
) -> None:
    app = flask.Flask(__name__, instance_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    db = SQLAlchemy(app)
    with app.app_context():
        engine = db.engine
    store = stores(engine, metadata=db.metadata, create_table=False, clock=clock)
    with app.app_context():
        db.create_all()  # your migrations make it: it is on db.metadata
    assert store.engine is engine
    closed: list[object] = []
    sa.event.listen(engine, "close", lambda *a: closed.append(a))
    key = session_key(new_session_id())
    assert store.save(key, record(clock()), None)
    store.close()
    assert closed == []
    assert engine.pool.checkedin() == 1  # still pooled, still working
    assert store.load(key) is not None

    own = stores(f"sqlite:///{tmp_path / 'own.db'}", clock=clock)
    own.load(key)
    sa.event.listen(own.engine, "close", lambda *a: closed.append(a))
    own.close()
    assert len(closed) == 1  # the store made this one: its connection is closed


# -- costs -----------------------------------------------------------------------


def test_purge_deletes_in_bounded_batches(
    url: str, stores: MakeStore, clock: FakeClock
) -> None:
    store = stores(url, clock=clock)
    now = clock()
    store.load(session_key(new_session_id()))  # creates the table

    def rows(prefix: str, count: int, expires_at: float) -> list[dict[str, t.Any]]:
        base = {"version": 1, "created_at": now, "accessed_at": now}
        base |= {"id_issued_at": now, "user_agent": "", "address": "", "data": "{}"}
        return [
            {**base, "key": f"{prefix}{n}", "expires_at": expires_at}
            for n in range(count)
        ]

    with store.engine.begin() as connection:
        connection.execute(sa.insert(store.table), rows("dead", 2500, now - 10))
        connection.execute(sa.insert(store.table), rows("live", 10, now + 3600))
    deleted: list[int] = []

    @sa.event.listens_for(store.engine, "after_cursor_execute")
    def count(_c: t.Any, cursor: t.Any, statement: str, *_: t.Any) -> None:
        if statement.startswith("DELETE"):
            deleted.append(cursor.rowcount)

    assert store.purge_expired(now) == 2500
    assert deleted == [PURGE_BATCH, PURGE_BATCH, 500]
    with store.engine.connect() as connection:
        left = connection.execute(sa.select(store.table.c.key)).scalars().all()
    assert sorted(left) == sorted(f"live{n}" for n in range(10))


def test_each_statement_is_one_round_trip_and_requests_cost_the_minimum(
    url: str, clock: FakeClock
) -> None:
    relay = None if url.startswith("sqlite") else Relay(url)
    target = url if relay is None else relay.url.render_as_string(False)
    store = SQLAlchemyStore(
        target, table_name=f"rivo_t_{uuid.uuid4().hex}", clock=clock
    )
    try:
        store.load(session_key(new_session_id()))  # table and connection ready
        sent = statements(store.engine)
        start = len(relay.sent) if relay else 0
        client = make_app(store, clock).test_client()

        def cost(path: str) -> list[str]:
            sent.clear()
            before = (relay.round_trips - relay.prepared) if relay else 0
            assert client.get(path).status_code == 200
            if relay is not None:  # one statement, one round trip
                trips = relay.round_trips - relay.prepared - before
                assert trips == len(sent), (path, sent)
            return list(sent)

        assert cost("/nothing") == []
        assert cost("/get/a") == []  # no cookie: nothing to read
        assert cost("/set/a/1") == ["INSERT"]  # a new session: one write
        assert cost("/nothing") == []  # a cookie, but the session unused
        clock.advance(10)
        assert cost("/get/a") == ["SELECT"]
        assert cost("/set/a/2") == ["SELECT", "UPDATE"]
        assert cost("/set/a/2") == ["SELECT"]  # nothing changed
        clock.advance(61)  # RIVO_SESSION_TOUCH_INTERVAL is 60 s
        assert cost("/get/a") == ["SELECT", "UPDATE"]  # read and touch
        assert cost("/get/a") == ["SELECT"]
        assert client.get("/get/a").text == "'2'"
        if relay is not None:
            words = (b"BEGIN", b"COMMIT", b"ROLLBACK", b"AUTOCOMMIT")
            assert [w for w in words if w in relay.sent[start:].upper()] == []
    finally:
        store.table.drop(store.engine, checkfirst=True)
        store.close()
        if relay is not None:
            relay.close()


def test_a_read_is_one_round_trip_and_prepared_on_postgresql(url: str) -> None:
    """After its first runs on a connection, a read is a prepared statement
    (psycopg's prepare_threshold), and every read one round trip."""
    if url.startswith("sqlite"):
        pytest.skip("no wire to count")
    relay = Relay(url)
    target = relay.url.render_as_string(False)
    store = SQLAlchemyStore(target, table_name=f"rivo_t_{uuid.uuid4().hex}")
    try:
        key = session_key(new_session_id())
        assert store.save(key, record(time.time()), None)
        for _ in range(6):  # psycopg prepares on the fifth run
            assert store.load(key) is not None
        before, sent = relay.round_trips, len(relay.sent)
        for _ in range(20):
            loaded = store.load(key)
            assert loaded is not None
            assert loaded.data == {"a": '"1"'}
        assert relay.round_trips - before == 20
        if url.startswith("postgresql"):
            # Bind and Execute of the prepared statement: not its text again.
            assert relay.prepared == 1
            assert b"SELECT" not in relay.sent[sent:].upper()
    finally:
        store.table.drop(store.engine, checkfirst=True)
        store.close()
        relay.close()


# -- failures and dialects ---------------------------------------------------------


@pytest.mark.parametrize("listened", [True, False])
def test_a_connection_dead_in_the_pool_is_retried(
    tmp_path: Path, clock: FakeClock, listened: bool
) -> None:
    """With a listener on the engine's errors, reads go through SQLAlchemy;
    without, on a DBAPI connection of the pool (see sql_read): both retry."""
    require(servers.POSTGRES_BIN is not None, "PostgreSQL is not installed")
    with servers.PostgresServer(tmp_path) as server:
        store = SQLAlchemyStore(server.url, clock=clock)
        disconnects: list[bool] = []
        if listened:
            sa.event.listen(
                store.engine,
                "handle_error",
                lambda c: disconnects.append(c.is_disconnect),
            )
        invalidated: list[object] = []
        sa.event.listen(
            store.engine.pool, "invalidate", lambda *a: invalidated.append(a[2])
        )
        client = make_app(store, clock).test_client()
        assert client.get("/set/a/kept").status_code == 200
        for outage in (server.stop, server.kill):  # a restart, then a crash
            outage()
            server.start()
            response = client.get("/get/a")
            assert (response.status_code, response.text) == (200, "'kept'")
        # Each time the pooled connection was dead, and dropped.
        assert disconnects == ([True, True] if listened else [])
        assert len(invalidated) == 2
        store.close()


def test_user_ids_are_case_sensitive_and_keep_4_byte_utf8(
    url: str, stores: MakeStore, clock: FakeClock
) -> None:
    store = stores(url, clock=clock)
    upper, lower = (session_key(new_session_id()) for _ in range(2))
    assert store.save(upper, record(clock(), user_id="Ann"), None)
    assert store.save(lower, record(clock(), user_id="ann"), None)
    assert [k for k, _ in store.user_sessions("Ann")] == [upper]
    assert store.delete_user_sessions("ann") == 1
    assert [k for k, _ in store.user_sessions("Ann")] == [upper]

    emoji = session_key(new_session_id())
    fox = record(clock(), user_id="🦊 fox", user_agent="Mozilla/5.0 🐉")
    assert store.save(emoji, fox, None)
    loaded = store.load(emoji)
    assert loaded is not None
    assert (loaded.user_id, loaded.user_agent) == ("🦊 fox", "Mozilla/5.0 🐉")
    assert [k for k, _ in store.user_sessions("🦊 fox")] == [emoji]
    assert store.user_sessions("🐉 fox") == []


# -- engines and URLs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "postgresql",
            {
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 5,
                "keepalives_interval": 2,
                "keepalives_count": 3,
                "tcp_user_timeout": 10_000,
            },
        ),
        ("mariadb", {"connect_timeout": 5, "read_timeout": 10, "write_timeout": 10}),
    ],
)
def test_made_engines_have_timeouts(
    name: str, expected: dict[str, int], backends: dict[str, Backend]
) -> None:
    use(backends[name])
    engine = make_engine(t.cast("SQL", backends[name]).url)
    given: list[dict[str, t.Any]] = []
    sa.event.listen(engine, "do_connect", lambda *a: given.append(dict(a[3])))
    try:
        with engine.connect() as connection:
            dbapi = t.cast("t.Any", connection.connection.dbapi_connection)
            dsn = dbapi.info.dsn if name == "postgresql" else ""
            limits = (
                [connection.exec_driver_sql(f"SHOW {n}").scalar() for n in LIMITS]
                if name == "postgresql"
                else []
            )
    finally:
        engine.dispose()
    assert given[0].items() >= expected.items()
    if dsn:  # what libpq itself was told, and what the server applies
        from psycopg.conninfo import conninfo_to_dict

        told = conninfo_to_dict(dsn)
        assert {k: int(t.cast("str", told[k])) for k in expected} == expected
        assert limits == ["10s", "5s"]


LIMITS = ("statement_timeout", "lock_timeout")


def test_a_made_sqlite_file_engine_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        engine.dispose()
    assert (mode, timeout) == ("wal", 10_000)
    with contextlib.closing(sqlite3.connect(path)) as other:  # kept in the file
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_connection_waits_for_a_writer_to_switch_a_file_to_wal(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "busy.db"  # a new file, not yet in WAL mode
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # SQLite refuses the switch at once...
    commit = threading.Timer(0.2, writer.execute, ("COMMIT",))
    commit.start()
    store = SQLAlchemyStore(f"sqlite:///{path}", clock=clock)
    try:  # ...so the store tries again, within its timeout: no 503
        assert store.load(session_key(new_session_id())) is None
        with store.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        commit.join()
        store.close()
        writer.close()
    assert mode == "wal"


def test_an_in_memory_database_is_shared_by_every_thread(clock: FakeClock) -> None:
    store = SQLAlchemyStore("sqlite://", clock=clock)
    key = session_key(new_session_id())
    store.save(key, record(clock()), None)
    found: list[Record | None] = []
    thread = threading.Thread(target=lambda: found.append(store.load(key)))
    thread.start()
    thread.join()
    store.close()
    assert found[0] is not None and found[0].data == {"a": '"1"'}


def test_database_url(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    made = database_url(None, str(instance))
    assert made == f"sqlite:///{instance / 'rivo_sessions.db'}"
    assert instance.is_dir()  # SQLite creates files, not folders
    relative = database_url("sqlite:///data/app.db", str(instance))
    assert relative == f"sqlite:///{instance / 'data' / 'app.db'}"
    for kept in (
        f"sqlite:///{tmp_path / 'elsewhere.db'}",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///file:app.db?mode=ro&uri=true",
        "postgresql+psycopg://user:secret@db.example/app",
        "mysql+pymysql://user:secret@db.example/app",
    ):
        assert database_url(kept, str(tmp_path / "unused")) == kept
    assert not (tmp_path / "unused").exists()


def test_the_default_database_is_a_file_in_the_instance_folder(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLAlchemyStore(database_url(None, str(tmp_path / "inst")), clock=clock)
    key = session_key(new_session_id())
    store.save(key, record(clock()), None)
    store.close()
    assert os.path.getsize(tmp_path / "inst" / "rivo_sessions.db") > 0


# -- failures a store survives -------------------------------------------------


@pytest.fixture
def droppers() -> Iterator[t.Callable[[int], servers.ReplyDropper]]:
    """Makes reply-losing proxies, closed after the stores that use them."""
    made: list[servers.ReplyDropper] = []

    def make(port: int) -> servers.ReplyDropper:
        made.append(servers.ReplyDropper(port))
        made[-1].start()
        return made[-1]

    yield make
    for proxy in made:
        proxy.stop()


@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_a_write_whose_reply_was_lost_is_not_reported_as_failed(
    name: str,
    backends: dict[str, Backend],
    droppers: t.Callable[[int], servers.ReplyDropper],
    stores: MakeStore,
) -> None:
    """The write lands, the reply is lost, the statement is sent again and
    finds its own work: success, not a conflict (which would leave an orphan
    session behind) or a 503."""
    use(backends[name])
    server = sa.make_url(t.cast("SQL", backends[name]).url)
    proxy = droppers(t.cast("int", server.port))
    store = stores(server.set(port=proxy.port).render_as_string(False))
    now = time.time()
    new, old = session_key(new_session_id()), session_key(new_session_id())
    store.save(old, record(now), None)
    proxy.drop_next_reply()
    assert store.save(new, record(now, user_id="ann"), None) is True
    proxy.drop_next_reply()
    changed = dataclasses.replace(record(now), data={"x": '"2"'}, version=2)
    assert store.save(old, changed, 1) is True
    assert [k for k, _ in store.user_sessions("ann")] == [new]
    found = store.load(old)
    assert found is not None and (found.version, found.data) == (2, {"x": '"2"'})


def wait_for_a_lock_wait(url: str, table: str) -> None:
    """Return once a statement on ``table`` waits for a row lock (a fixed
    wait could end first on a loaded machine)."""
    watcher = sa.create_engine(url)
    if watcher.dialect.name == "postgresql":
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE :statement"
        )
    else:  # InnoDB
        query = sa.text(
            "SELECT count(*) FROM information_schema.INNODB_TRX"
            " WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE :statement"
        )
    # InnoDB refreshes what INNODB_TRX shows only once it has gone unread
    # for 0.1 s: polled faster, it showed an earlier test's transactions
    # for good, and the wait timed out now and then.
    pause = 0.0 if watcher.dialect.name == "postgresql" else 0.15
    try:
        with watcher.connect() as connection:

            def waiting() -> bool:
                time.sleep(pause)
                found = connection.execute(query, {"statement": f"%{table}%"})
                count = found.scalar()
                connection.rollback()  # a fresh snapshot for the next look
                return bool(count)

            servers.wait_until(f"a statement on {table} to wait for a lock", waiting)
    finally:
        watcher.dispose()


@pytest.mark.parametrize("ending", ["everywhere", "cap"])
@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_a_deadlock_victim_runs_again(
    name: str, ending: str, backends: dict[str, Backend], stores: MakeStore
) -> None:
    """Log-out everywhere, and keeping the cap, lock the user's rows one by
    one; another client locking them in the other order makes a deadlock,
    and the database rolls the store's statement (or the cap's transaction)
    back. The store runs it again instead of a 503."""
    use(backends[name])
    url = t.cast("SQL", backends[name]).url
    store = stores(url)
    now = time.time()
    first, second = "0" * 64, "f" * 64  # the order the DELETE takes them in
    for key in (first, second):
        store.save(key, record(now, user_id="ann"), None)
    # InnoDB sacrifices the transaction that changed less, so the other one
    # adds rows first (of a user who sorts before "ann", out of the DELETE's
    # way), then locks the rows in the other order.
    heavy = [
        dict(store._row(record(now, user_id="aaa")), key=f"{n:064x}")
        for n in range(1, 21)
    ]
    deadlocks: list[str] = []
    sa.event.listen(
        store.engine,
        "handle_error",
        lambda c: deadlocks.append(str(c.original_exception)),
    )
    other = sa.create_engine(url)
    table = store.table
    result: list[int] = []
    try:
        with other.connect() as connection, connection.begin():
            bump = sa.update(table).values(version=table.c.version + 1)
            connection.execute(sa.insert(table), heavy)
            connection.execute(bump.where(table.c.key == second))
            ender = threading.Thread(
                target=lambda: result.append(
                    store.delete_user_sessions("ann")
                    if ending == "everywhere"
                    else store.limit_user_sessions("ann", 1)
                )
            )
            ender.start()
            wait_for_a_lock_wait(url, table.name)  # the store holds `first`
            connection.execute(bump.where(table.c.key == first))
        ender.join(30)
    finally:
        other.dispose()
    assert any("eadlock" in message for message in deadlocks)
    if ending == "everywhere":
        assert result == [2]
        assert store.user_sessions("ann") == []
    else:  # the oldest (by key, as both began at once) ended
        assert result == [1]
        assert [k for k, _ in store.user_sessions("ann")] == [second]


def test_an_in_memory_database_survives_many_threads(clock: FakeClock) -> None:
    """One shared connection, used by one thread at a time (without the
    store's lock, sqlite3 crashes the process)."""
    store = SQLAlchemyStore("sqlite://", clock=clock)
    keys = [session_key(new_session_id()) for _ in range(8)]

    def work(key: str) -> int:
        for version in range(1, 51):
            expected = None if version == 1 else version - 1
            current = dataclasses.replace(record(clock()), version=version)
            assert store.save(key, current, expected)
            assert store.load(key) is not None
        return t.cast("Record", store.load(key)).version

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, keys)) == [50] * 8
    store.close()


@pytest.mark.parametrize("scheme", ["mysql+pymysql", "mariadb+pymysql"])
def test_both_mysql_dialects_get_the_binary_collation_and_bounded_purges(
    scheme: str, backends: dict[str, Backend], stores: MakeStore
) -> None:
    """SQLAlchemy's mariadb dialect reads only mariadb_ options: without
    them the table took the server's case-insensitive collation."""
    use(backends["mariadb"])
    url = sa.make_url(t.cast("SQL", backends["mariadb"]).url)
    store = stores(url.set(drivername=scheme).render_as_string(False))
    store.delete("0" * 64)  # creates the table
    with store.engine.connect() as connection:
        collation = connection.execute(
            sa.text(
                "SELECT table_collation FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = :name"
            ),
            {"name": store.table.name},
        ).scalar()
    assert collation == "utf8mb4_bin"
    [purge] = statements_of_purge(store)
    assert purge.endswith(f" LIMIT {PURGE_BATCH}")


def statements_of_purge(store: SQLAlchemyStore) -> list[str]:
    sent: list[str] = []
    sa.event.listen(
        store.engine, "before_cursor_execute", lambda *a: sent.append(a[2].strip())
    )
    store.purge_expired(time.time())
    return [s for s in sent if s.startswith("DELETE")]


# -- the per-user cap ----------------------------------------------------------


def cap_store(stores: MakeStore, url: str, engine: str) -> SQLAlchemyStore:
    """A store on an engine it made (the whole pool in autocommit), or on
    one of yours (switched to autocommit for each statement)."""
    return stores(url if engine == "made" else sa.create_engine(url))


def in_transaction(engine: sa.Engine) -> bool:
    """Whether the pooled connection the store used last is still inside a
    transaction on the server (the store's sequential calls use one)."""
    raw = engine.raw_connection()
    try:
        dbapi = t.cast("t.Any", raw.driver_connection)
        if engine.dialect.name == "sqlite":
            return bool(dbapi.in_transaction)
        if engine.dialect.name == "postgresql":
            return bool(dbapi.info.transaction_status)  # 0 is IDLE
        cursor = raw.cursor()
        cursor.execute("SELECT @@in_transaction")
        return bool(cursor.fetchone()[0])
    finally:
        raw.close()


ENGINES = pytest.mark.parametrize("engine", ["made", "yours"])


@ENGINES
def test_the_cap_ends_the_oldest_sessions_and_spares_the_callers(
    url: str, stores: MakeStore, engine: str
) -> None:
    """Within the cap a log-in costs one COUNT; past it, one short
    transaction ends the oldest live sessions (never the spared one), and
    the connection goes back to the pool with the transaction ended."""
    store = cap_store(stores, url, engine)
    now = time.time()
    keys = [f"{n:064x}" for n in range(5)]  # keys[0] began first
    for n, key in enumerate(keys):
        began = record(now - 50 + 10 * n, user_id="ann")
        assert store.save(key, began, None)
    dead, bob = "d" * 64, "b" * 64
    store.save(dead, record(now - 100, ttl=-1, user_id="ann"), None)
    store.save(bob, record(now - 100, user_id="bob"), None)
    sent = statements(store.engine)
    assert store.limit_user_sessions("ann", 5, keys[0]) == 0  # expired: uncounted
    assert sent == ["SELECT"]
    sent.clear()
    assert store.limit_user_sessions("ann", 3, keys[0]) == 2
    begin = "START" if store.engine.dialect.name == "mariadb" else "BEGIN"
    assert sent == ["SELECT", begin, "SELECT", "DELETE", "COMMIT"]
    assert not in_transaction(store.engine)
    assert sorted(k for k, _ in store.user_sessions("ann")) == [
        keys[0],  # the caller's, though the oldest
        keys[3],
        keys[4],
    ]
    assert [k for k, _ in store.user_sessions("bob")] == [bob]
    assert store.limit_user_sessions("ann", 1) == 2  # nothing spared
    assert [k for k, _ in store.user_sessions("ann")] == [keys[4]]
    assert not in_transaction(store.engine)


@ENGINES
def test_two_log_ins_at_once_past_the_cap_keep_one_session(
    url: str, stores: MakeStore, engine: str
) -> None:
    """Both log-ins have filed their session and counted the other's before
    either ends anything; then the first to hold the user's rows keeps them
    until the other waits for them. The first ends the other's session; the
    other, counting again under the lock, finds the cap kept. Without the
    lock each ended the other's session and the user was left with none."""
    store = cap_store(stores, url, engine)
    now = time.time()
    keys = {"login1": "1" * 64, "login2": "2" * 64}
    for n, key in enumerate(keys.values()):
        store.save(key, record(now + n, user_id="ann"), None)
    counted = threading.Barrier(2, timeout=10)
    begun: dict[str, threading.Event] = {name: threading.Event() for name in keys}
    holder: list[str] = []

    def other_waits(me: str) -> None:
        """Return once the other log-in waits for the rows (or the file)."""
        other = next(name for name in keys if name != me)
        assert begun[other].wait(10)
        if store.engine.dialect.name == "sqlite":
            time.sleep(0.3)  # BEGIN IMMEDIATE blocks; nothing shows it
        else:
            wait_for_a_lock_wait(url, store.table.name)

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def note_begin(_c: t.Any, _cur: t.Any, statement: str, *_: t.Any) -> None:
        me = threading.current_thread().name
        if me in keys and statement.startswith(("BEGIN", "START TRANSACTION")):
            begun[me].set()

    @sa.event.listens_for(store.engine, "after_cursor_execute")
    def pause(_c: t.Any, _cur: t.Any, statement: str, *_: t.Any) -> None:
        me = threading.current_thread().name
        if me not in keys:
            return
        if "count(*)" in statement:
            counted.wait()  # both have counted two sessions
        elif statement.startswith("SELECT") and begun[me].is_set() and not holder:
            holder.append(me)  # the first to lock the user's rows ...
            other_waits(me)  # ... holds them until the other waits

    ended: dict[str, int] = {}

    def log_in(name: str) -> None:
        ended[name] = store.limit_user_sessions("ann", 1, keys[name])

    threads = [threading.Thread(target=log_in, args=(n,), name=n) for n in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sa.event.remove(store.engine, "after_cursor_execute", pause)
    sa.event.remove(store.engine, "before_cursor_execute", note_begin)
    alive = [k for k, _ in store.user_sessions("ann")]
    assert alive != [], "each log-in ended the other's session"
    assert holder, "no log-in locked the user's rows"
    [first] = holder
    assert alive == [keys[first]]  # the later-capped log-in's session ended
    assert sorted(ended.values()) == [0, 1]
    assert not in_transaction(store.engine)


@ENGINES
def test_a_failure_inside_the_cap_rolls_back_and_is_a_store_error(
    url: str, stores: MakeStore, engine: str
) -> None:
    """A statement of the cap's transaction fails (here its COMMIT, after
    the DELETE): the transaction is rolled back, the connection returned
    clean, and the error quotes nothing of the driver's."""
    store = cap_store(stores, url, engine)
    now = time.time()
    keys = [f"{n:064x}" for n in range(3)]
    for n, key in enumerate(keys):
        store.save(key, record(now + n, user_id="ann"), None)

    @sa.event.listens_for(store.engine, "before_cursor_execute", retval=True)
    def break_commit(
        _c: t.Any, _cur: t.Any, statement: str, parameters: t.Any, *_: t.Any
    ) -> tuple[str, t.Any]:
        if statement == "COMMIT":
            return "SELECT * FROM rivo_no_such_table", parameters
        return statement, parameters

    with pytest.raises(StoreError) as caught:
        store.limit_user_sessions("ann", 1, keys[0])
    sa.event.remove(store.engine, "before_cursor_execute", break_commit)
    assert str(caught.value).startswith("session database unavailable")
    assert "no_such" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert not in_transaction(store.engine)
    assert sorted(k for k, _ in store.user_sessions("ann")) == keys  # undone
    assert store.limit_user_sessions("ann", 1, keys[0]) == 2
    assert [k for k, _ in store.user_sessions("ann")] == [keys[0]]
