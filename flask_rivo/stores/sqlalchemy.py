"""A session store in a SQL database, through SQLAlchemy Core.

One table holds the sessions. Every write is a single statement that checks
the version in its ``WHERE`` clause, so compare-and-swap needs no table lock
and no transaction longer than one statement; the statements run in
autocommit mode, so each store call is one round trip to the server. The one
exception is keeping a user's cap past it, at a log-in: a short transaction
that locks the user's sessions (see :meth:`SQLAlchemyStore.limit_user_sessions`).
Tested on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import threading
import time
import typing as t

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import mysql
from sqlalchemy.pool import StaticPool

from ..ids import COUNTER_PREFIX
from . import faults
from .base import Record
from .base import SessionStore
from .base import oldest_excess
from .sql_read import DisconnectedError
from .sql_read import DriverSelect
from .sql_read import read_row
from .sql_read import watched

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

#: How many expired rows one ``DELETE`` of :meth:`SQLAlchemyStore.purge_expired`
#: removes at most, so that purging never holds many locks or much memory.
PURGE_BATCH = 1000

_LIBPQ = {
    "connect_timeout": 5,
    # Kernel-level limits: a dead peer is noticed within about 10 s.
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    # Server-side limits: a statement stuck behind another client's lock
    # fails after 5 s instead of waiting as long as the lock is held.
    "options": "-c statement_timeout=10000 -c lock_timeout=5000",
}
_MYSQL = {"connect_timeout": 5, "read_timeout": 10, "write_timeout": 10}

#: Connection timeouts for the engines the store makes from a URL, by
#: SQLAlchemy driver name: a server that stops answering fails the request
#: (HTTP 503) instead of hanging a worker. Other drivers take other
#: arguments, so they get none; an engine you pass in keeps its settings.
CONNECT_ARGS: t.Mapping[str, t.Mapping[str, object]] = {
    "psycopg": _LIBPQ,
    "psycopg2": _LIBPQ,
    "pymysql": _MYSQL,
    "mysqldb": _MYSQL,
    "pysqlite": {"timeout": 10},
}


#: Errors after which the database has rolled the statement back, so it may
#: simply run again: PostgreSQL's SQLSTATEs for a deadlock and a
#: serialization failure, MySQL's error number for a deadlock. (A lock
#: timeout is not retried: it has waited long enough.)
_ROLLED_BACK: frozenset[object] = frozenset({"40P01", "40001", 1213})


#: How a transaction begins on a connection in autocommit mode, where
#: SQLAlchemy sends no ``BEGIN`` of its own, by dialect. SQLite's takes the
#: database's write lock at once, so that the reads in it are of the latest
#: data and no other writer can come between them and the writes.
_BEGIN: t.Mapping[str, str] = {
    "postgresql": "BEGIN",
    "mysql": "START TRANSACTION",
    "mariadb": "START TRANSACTION",
    "sqlite": "BEGIN IMMEDIATE",
}

_T = t.TypeVar("_T")


class _Result(t.NamedTuple):
    #: Rows changed (what the driver reports).
    changed: int
    rows: list[sa.Row[t.Any]]
    #: The statement was sent twice, after a connection died under it.
    resent: bool
    #: An INSERT found its key taken.
    clash: bool = False


def _rolled_back(error: exc.DBAPIError) -> bool:
    original = error.orig
    code = getattr(original, "sqlstate", None)
    args = getattr(original, "args", ())
    if code is None and args:
        code = args[0]
    return code in _ROLLED_BACK


def _same(a: Record, b: Record) -> bool:
    return dataclasses.replace(a, data=dict(a.data)) == dataclasses.replace(
        b, data=dict(b.data)
    )


#: SQLAlchemy's two dialects for MySQL's protocol, each reading only the
#: dialect options with its own name.
_MYSQL_DIALECTS = ("mysql", "mariadb")

#: The table options on MySQL and MariaDB: InnoDB, full UTF-8, and a binary
#: collation (the default ones ignore case, which would merge user IDs).
_MYSQL_OPTIONS: dict[str, t.Any] = {
    f"{dialect}_{option}": value
    for dialect in _MYSQL_DIALECTS
    for option, value in {
        "engine": "InnoDB",
        "charset": "utf8mb4",
        "collate": "utf8mb4_bin",
    }.items()
}


def _in_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def session_table(
    metadata: sa.MetaData, name: str = "rivo_sessions", schema: str | None = None
) -> sa.Table:
    """Define the sessions table on ``metadata`` (or return it if defined).

    Call it on your application's ``MetaData`` (``db.metadata`` with
    Flask-SQLAlchemy) to have Alembic's autogenerate see the table; pass
    the same ``metadata`` and name to :class:`SQLAlchemyStore`.
    """
    qualified = f"{schema}.{name}" if schema else name
    existing = metadata.tables.get(qualified)
    if existing is not None:
        return existing
    return sa.Table(
        name,
        metadata,
        # The hex SHA-256 of the session ID, never the ID itself.
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True, index=True),
        sa.Column("expires_at", sa.Double, nullable=False, index=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("accessed_at", sa.Double, nullable=False),
        sa.Column("id_issued_at", sa.Double, nullable=False),
        sa.Column("user_agent", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("successor", sa.Text, nullable=True),
        # JSON of the session's keys and tagged-JSON values, ASCII only.
        sa.Column("data", sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL_DIALECTS)),
        schema=schema,
        **_MYSQL_OPTIONS,
    )


def database_url(url: str | None, instance_path: str) -> str:
    """The URL of the sessions database, as the ``"sqlalchemy"`` store uses it.

    With no URL it is a SQLite file in the instance folder. A relative
    SQLite path is relative to the instance folder too, as Flask-SQLAlchemy
    reads ``SQLALCHEMY_DATABASE_URI``, so both name the same file.

    :raises sqlalchemy.exc.ArgumentError: if ``url`` is no database URL.
    """
    if url is None:
        url = "sqlite:///rivo_sessions.db"
    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or _in_memory(parsed) or not database:
        return url
    if database.startswith("file:") or os.path.isabs(database):
        return url
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, database)
    return parsed.set(database=path).render_as_string(hide_password=False)


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with the store's timeouts, hiding parameters.

    An in-memory SQLite database exists once per connection, so it gets a
    single shared connection; that suits tests, not production.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, t.Any] = {
        "connect_args": dict(CONNECT_ARGS.get(parsed.get_driver_name(), {})),
        "pool_pre_ping": False,  # a failed statement is retried instead
        # The parameters are session data: SQLAlchemy must not show them in
        # its errors, nor in its log of statements.
        "hide_parameters": True,
    }
    if _in_memory(parsed):
        options["poolclass"] = StaticPool
        options["connect_args"]["check_same_thread"] = False
    # The whole pool in autocommit. Switched for each statement, as it must
    # be on an engine passed in, MySQL drivers spend five more round trips
    # per statement (autocommit on and off, the isolation level restored
    # with a COMMIT, a ROLLBACK), and every driver some CPU.
    options["isolation_level"] = "AUTOCOMMIT"
    options["skip_autocommit_rollback"] = True
    engine = sa.create_engine(parsed, **options)
    if backend == "sqlite" and not _in_memory(parsed):
        sa.event.listen(engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(connection: t.Any, _record: object) -> None:
    """Let readers and the writer of a SQLite file work at the same time.

    Switching a file to WAL needs it to itself, and SQLite gives up at once
    (its busy timeout does not apply) while another connection writes to the
    file, so the switch is tried again until the timeout has passed.
    """
    import sqlite3

    timeout = t.cast("float", CONNECT_ARGS["pysqlite"]["timeout"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLAlchemyStore(SessionStore):
    """Keeps sessions in one table of a SQL database.

    :param engine: a SQLAlchemy URL or an existing
        :class:`~sqlalchemy.engine.Engine`, such as Flask-SQLAlchemy's
        ``db.engine``.
    :param table_name: the table's name.
    :param metadata: the ``MetaData`` to define the table on; yours, to
        include the table in your migrations (see
        :func:`~flask_rivo.stores.sqlalchemy.session_table`).
    :param schema: the database schema of the table, if not the default.
    :param create_table: create the table on first use if it is missing.
        Turn it off when migrations create it.
    :param clock: where the store reads the time to tell live records from
        expired ones.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        engine: str | sa.Engine,
        *,
        table_name: str = "rivo_sessions",
        metadata: sa.MetaData | None = None,
        schema: str | None = None,
        create_table: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._own_engine = isinstance(engine, str)
        #: The engine the store talks through.
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        #: The sessions table.
        self.table = session_table(metadata or sa.MetaData(), table_name, schema)
        # An engine the store made is in autocommit mode already; one passed
        # in is switched for each statement.
        self._per_statement: dict[str, t.Any] = (
            {} if self._own_engine else {"isolation_level": "AUTOCOMMIT"}
        )
        self._select = DriverSelect(self.table, self.engine.dialect)
        self.clock = clock
        self._ready = not create_table
        self._ready_lock = threading.Lock()
        # One shared connection (in-memory SQLite) must not be used by two
        # threads at once; a real pool hands each thread its own.
        self._serial: t.ContextManager[object] = (
            threading.Lock()
            if isinstance(self.engine.pool, StaticPool)
            else contextlib.nullcontext()
        )

    # -- plumbing ------------------------------------------------------------

    def _ensure_table(self) -> None:
        """Create the table once, on first use (and tolerate a racing creator)."""
        with self._ready_lock:
            if self._ready:
                return
            try:
                self.table.create(self.engine, checkfirst=True)
            except (exc.ProgrammingError, exc.OperationalError, exc.IntegrityError):
                # Another process created it between the check and the create.
                if not sa.inspect(self.engine).has_table(
                    self.table.name, schema=self.table.schema
                ):
                    raise
            self._ready = True

    def _retrying(self, once: Callable[[sa.Connection, bool], _T]) -> _T:
        """Call ``once`` with a pooled connection in autocommit mode, and
        whether this is a resend, until it goes through.

        Two failures are worth another try, and get one:

        * The connection died (the server restarted while it sat in the
          pool, or the reply was lost): ``once`` runs again on a fresh
          connection, told it is a resend, because a write may have landed
          the first time.
        * A deadlock or serialization failure: the database rolled the work
          back, so it runs again after a short pause.

        Anything else that keeps the database from answering becomes a
        :class:`~flask_rivo.exceptions.StoreError` (HTTP 503) that names the
        kind of failure but quotes nothing: SQLAlchemy's error text holds
        the statement's parameters, and the driver's the values of keys.
        """
        resent = False
        try:
            if not self._ready:
                self._ensure_table()
            for attempt in range(1, 5):
                try:
                    with (
                        self._serial,
                        self.engine.connect().execution_options(
                            **self._per_statement
                        ) as connection,
                    ):
                        return once(connection, resent)
                except exc.DBAPIError as error:
                    if error.connection_invalidated and not resent:
                        resent = True
                    elif _rolled_back(error) and attempt < 4:
                        time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311
                    else:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        except exc.SQLAlchemyError as error:
            raise faults.unavailable("session database", error) from None

    def _run(self, statement: sa.Executable | DriverSelect.Bound) -> _Result:
        """Run one statement in autocommit mode, as one round trip, retried
        as :meth:`_retrying` says. The rows it selected are fetched before
        the connection goes back to the pool; a unique key's clash is a
        result (``clash``), not an error."""

        def once(connection: sa.Connection, resent: bool) -> _Result:
            try:
                if isinstance(statement, DriverSelect.Bound):
                    result = connection.exec_driver_sql(*statement)
                else:
                    result = connection.execute(statement)
            except exc.IntegrityError:
                return _Result(0, [], resent, clash=True)
            rows = list(result.all()) if result.returns_rows else []
            return _Result(result.rowcount, rows, resent)

        return self._retrying(once)

    def _transaction(self, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction, begun and ended by hand.

        The connection is in autocommit mode as for :meth:`_run` (the
        whole pool of an engine the store made, or this connection of one
        passed in), so SQLAlchemy sends no ``BEGIN``; the store sends its
        dialect's own (:data:`_BEGIN`), and ``COMMIT``, or ``ROLLBACK`` on
        any failure, before the connection goes back to the pool (which,
        in autocommit mode, would not roll it back). A connection whose
        rollback fails is dropped from the pool.

        Retried as :meth:`_retrying` says: after a deadlock or serialization
        failure the whole transaction was rolled back, so ``work`` must be
        safe to run again, reading what it acts on afresh each time.
        """
        begin = _BEGIN[self.engine.dialect.name]

        def once(connection: sa.Connection, _resent: bool) -> _T:
            connection.exec_driver_sql(begin)
            try:
                done = work(connection)
                connection.exec_driver_sql("COMMIT")
            except BaseException:
                self._roll_back(connection)
                raise
            return done

        return self._retrying(once)

    @staticmethod
    def _roll_back(connection: sa.Connection) -> None:
        """End a failed transaction of :meth:`_transaction`, or, if that
        fails too, drop the connection (the server then ends it)."""
        if connection.invalidated:
            return  # the connection died: nothing left to roll back
        try:
            connection.exec_driver_sql("ROLLBACK")
        except exc.SQLAlchemyError:
            connection.invalidate()

    def _landed(self, key: str, record: Record) -> bool:
        """Whether ``record`` is stored under ``key``: a write whose reply was
        lost did land, and its resend found its own work."""
        found = self.load(key)
        return found is not None and _same(found, record)

    def _row(self, record: Record) -> dict[str, object]:
        return {
            "version": record.version,
            "user_id": record.user_id,
            "expires_at": record.expires_at,
            "created_at": record.created_at,
            "accessed_at": record.accessed_at,
            "id_issued_at": record.id_issued_at,
            "user_agent": record.user_agent,
            "address": record.address,
            "successor": record.successor,
            "data": json.dumps(dict(record.data), separators=(",", ":")),
        }

    def _record(self, row: t.Sequence[t.Any]) -> Record:
        """The record of a row of ``select(table)``."""
        return self._select.record(row)

    def _where_live(self, key: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.table.c.key == key, self.table.c.expires_at > self.clock())

    # -- the store interface -------------------------------------------------

    def load(self, key: str) -> Record | None:
        """One ``SELECT`` by primary key, the cheapest read there is.

        The statement's text is made once per store and sent as it is
        (:class:`~.sql_read.DriverSelect`), so a read skips building,
        compiling and caching a SQLAlchemy statement; psycopg prepares it
        on the server after its fifth run on a connection, so from then on
        PostgreSQL skips parsing and planning it too. On an engine the store
        made, with nothing listening to its statements, it runs on a pooled
        DBAPI connection directly (see :mod:`.sql_read`).
        """
        bound = self._select.bind(key)
        if self._ready and self._own_engine and not watched(self.engine):
            try:
                with self._serial:
                    row = read_row(self.engine, bound)
                return None if row is None else self._select.record(row)
            except DisconnectedError:
                pass  # read again below, renewing the pool
        rows = self._run(bound).rows
        return self._select.record(rows[0]) if rows else None

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        values = self._row(record)
        if expected_version is not None:
            update = (
                sa.update(self.table)
                .where(self._where_live(key))
                .where(self.table.c.version == expected_version)
                .values(values)
            )
            done = self._run(update)
            return done.changed == 1 or (done.resent and self._landed(key, record))
        # Create-only: a plain INSERT, which the primary key makes atomic. A
        # clash with an expired record (a reused throttle key, say) removes
        # that record and tries once more.
        insert = sa.insert(self.table).values(key=key, **values)
        for _ in (1, 2):
            done = self._run(insert)
            if not done.clash:
                return True
            if done.resent and self._landed(key, record):
                return True
            dead = sa.delete(self.table).where(
                self.table.c.key == key, self.table.c.expires_at <= self.clock()
            )
            if self._run(dead).changed == 0:
                return False
        return False

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        self._run(
            sa.update(self.table)
            .where(self._where_live(key))
            .where(self.table.c.version == expected_version)
            .values(accessed_at=accessed_at, expires_at=expires_at)
        )

    def delete(self, key: str) -> None:
        self._run(sa.delete(self.table).where(self.table.c.key == key))

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        query = sa.select(self.table).where(
            self._of_user(user_id), self.table.c.expires_at > self.clock()
        )
        return [(row.key, self._record(row)) for row in self._run(query).rows]

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        statement = sa.delete(self.table).where(self._of_user(user_id))
        if keep is not None:
            statement = statement.where(self.table.c.key != keep)
        return self._run(statement).changed

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        """End the user's oldest live sessions past ``keep``.

        One indexed ``COUNT`` while the user is within the cap. Past it, one
        short transaction: it locks the user's live rows (``SELECT ... FOR
        UPDATE``, in key order, so that two log-ins lock them in the same
        order; on SQLite, ``BEGIN IMMEDIATE`` takes the database's write
        lock), counts them again under the lock, and deletes the oldest
        excess. Two log-ins of one user at once thus end sessions one after
        the other, the second seeing what the first ended: without the lock
        each counted the other's new session and ended it, and the user was
        left with none. The ``COUNT`` needs no lock: whichever log-in files
        its session last counts every session filed before it.

        Expired rows do not count (they wait for :meth:`purge_expired`).
        On a dialect other than SQLite, PostgreSQL and MySQL or MariaDB,
        whose way of beginning a transaction the store does not know, the
        excess is ended without the lock, as the default of
        :class:`SessionStore` does.
        """
        table = self.table
        live = sa.and_(self._of_user(user_id), table.c.expires_at > self.clock())
        counted = sa.select(sa.func.count()).select_from(table).where(live)
        if int(self._run(counted).rows[0][0]) <= keep:
            return 0
        if self.engine.dialect.name not in _BEGIN:
            return super().limit_user_sessions(user_id, keep, spare)
        # Every live row of the user, which the cap keeps to a few more than
        # ``keep``; the key order is the user index's own on each server.
        rows = (
            sa.select(table.c.key, table.c.created_at)
            .where(live)
            .order_by(table.c.key)
            .with_for_update()
        )

        def end_excess(connection: sa.Connection) -> int:
            doomed = oldest_excess(connection.execute(rows).all(), keep, spare)
            if not doomed:
                return 0
            ended = sa.delete(table).where(table.c.key.in_(doomed))
            return connection.execute(ended).rowcount

        return self._transaction(end_excess)

    def _of_user(self, user_id: str) -> sa.ColumnElement[bool]:
        """The rows of exactly this user.

        MySQL's collations, binary ones included, ignore trailing spaces
        when comparing, so there "ann" would also match "ann "'s sessions;
        comparing the lengths as well keeps them apart.
        """
        column = self.table.c.user_id
        if self.engine.dialect.name not in _MYSQL_DIALECTS:
            return column == user_id
        return sa.and_(
            column == user_id, sa.func.length(column) == sa.func.length(user_id)
        )

    def purge_expired(self, now: float) -> int:
        """Delete expired rows in batches of :data:`PURGE_BATCH`.

        Each batch is one short statement of its own, so a large backlog
        neither locks the table for long nor loads keys into memory.
        """
        return sum(self.purge_batches(now))

    def _expired(self, now: float, counters: bool | None) -> sa.ColumnElement[bool]:
        """Rows expired by ``now``: all, or only counters, or only sessions."""
        expired = self.table.c.expires_at <= now
        if counters is None:
            return expired
        counter = self.table.c.key.startswith(COUNTER_PREFIX, autoescape=True)
        return sa.and_(expired, counter if counters else sa.not_(counter))

    def count_expired(self, now: float, *, counters: bool | None = None) -> int:
        """How many rows :meth:`purge_batches` would delete now.

        :param counters: ``True`` for throttle counters only (keys made by
            :func:`~flask_rivo.ids.counter_key`), ``False`` for sessions
            only, ``None`` for both.
        """
        query = sa.select(sa.func.count()).select_from(self.table)
        return int(self._run(query.where(self._expired(now, counters))).rows[0][0])

    def purge_batches(
        self, now: float, *, counters: bool | None = None
    ) -> Iterator[int]:
        """Delete expired rows a batch at a time, yielding each batch's count.

        What :meth:`purge_expired` does, one step at a time, so that a caller
        can show progress (``flask users purge``) or stop between batches.

        :param counters: as for :meth:`count_expired`.
        """
        expired = self._expired(now, counters)
        if self.engine.dialect.name in _MYSQL_DIALECTS:
            # MySQL has DELETE ... LIMIT but no LIMIT in an IN subquery.
            statement: sa.Delete = sa.delete(self.table).where(expired)
            statement = statement.with_dialect_options(
                mysql_limit=PURGE_BATCH, mariadb_limit=PURGE_BATCH
            )
        else:
            batch = sa.select(self.table.c.key).where(expired).limit(PURGE_BATCH)
            statement = sa.delete(self.table).where(
                self.table.c.key.in_(batch.scalar_subquery()), expired
            )
        while True:
            removed = self._run(statement).changed
            yield removed
            if removed < PURGE_BATCH:
                return

    def close(self) -> None:
        """Close the connections of an engine the store made itself."""
        if self._own_engine:
            self.engine.dispose()
