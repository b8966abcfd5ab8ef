"""The read of one session by key, the SQL store's hottest statement.

Every request that uses its session reads it once, so the read skips what
SQLAlchemy adds around a statement where it can: the statement's text is
made once per store (:class:`DriverSelect`), and on an engine the store made
itself, it runs straight on a pooled DBAPI connection (:func:`read_row`),
without SQLAlchemy's result objects (building their metadata from the
cursor's description cost more than the database's answer). The
connection still comes from, and goes back to, the engine's pool, whose
events and reset run as ever.

An engine with listeners on its statements (logging, tracing, tests that
count statements) reads through SQLAlchemy instead, so they see every
statement.
"""

from __future__ import annotations

import json
import typing as t

import sqlalchemy as sa
from sqlalchemy import exc

from . import faults
from .base import Record

#: The engine events that watch statements: with any of them listened to,
#: a read goes through SQLAlchemy, so that the listener sees it.
_STATEMENT_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
)


class DriverSelect:
    """The text of ``SELECT <every column> WHERE key = <key>`` for one dialect.

    Compiled once, in the dialect's own parameter style, then run with
    ``exec_driver_sql`` or on a DBAPI cursor. Rows are read by position, so
    :meth:`record` reads any row of ``select(table)``.
    """

    class Bound(t.NamedTuple):
        """The statement's text and its parameters, for ``exec_driver_sql``."""

        sql: str
        parameters: tuple[object, ...] | dict[str, object]

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        self.columns = [column.name for column in table.columns]
        select = sa.select(table).where(table.c.key == sa.bindparam("key"))
        compiled = select.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        at = {name: n for n, name in enumerate(self.columns)}
        #: Where each field of a :class:`Record` is in a row, in its order.
        self._fields = tuple(
            at[name]
            for name in (
                "data",
                "version",
                "created_at",
                "accessed_at",
                "id_issued_at",
                "expires_at",
                "user_id",
                "user_agent",
                "address",
                "successor",
            )
        )

    def bind(self, key: str) -> DriverSelect.Bound:
        return self.Bound(self.sql, (key,) if self.positional else {"key": key})

    def record(self, row: t.Sequence[t.Any]) -> Record:
        data, *rest = (row[n] for n in self._fields)
        return Record(json.loads(data), *rest)


def watched(engine: sa.Engine) -> bool:
    """Whether listeners watch the statements of ``engine`` (see the module)."""
    dispatch = engine.dispatch
    if engine.dialect.dispatch.handle_error:  # kept by the dialect
        return True
    return any(getattr(dispatch, name) for name in _STATEMENT_EVENTS)


class DisconnectedError(Exception):
    """The pooled connection :func:`read_row` took was dead (the server
    restarted, failed over or dropped it while it sat in the pool)."""


def read_row(engine: sa.Engine, bound: DriverSelect.Bound) -> t.Sequence[t.Any] | None:
    """Run the read on a DBAPI connection from ``engine``'s pool, in
    autocommit mode (an engine the store made is in it for good).

    :returns: the row, or ``None`` if there is none.
    :raises DisconnectedError: if the connection was dead; it is dropped from the
        pool, and the caller reads again through SQLAlchemy, whose handling
        of a disconnect renews the whole pool (its other connections are
        likely as dead as this one).
    :raises StoreError: if the database cannot answer.
    """
    dialect = engine.dialect
    errors = (dialect.loaded_dbapi.Error, exc.SQLAlchemyError)
    try:
        connection = engine.raw_connection()
    except errors as error:
        raise faults.unavailable("session database", error) from None
    cursor = None
    try:
        cursor = connection.cursor()
        cursor.execute(*bound)
        row = cursor.fetchone()
        cursor.close()
        return t.cast("t.Sequence[t.Any] | None", row)
    except errors as error:
        if isinstance(error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
            error, connection.dbapi_connection, cursor
        ):
            connection.invalidate(error)
            raise DisconnectedError from None
        raise faults.unavailable("session database", error) from None
    finally:
        connection.close()
