"""The session stores the tests run against: memory, SQLite and real servers.

PostgreSQL, MariaDB and Redis are the servers on loopback (override with
``RIVO_TEST_POSTGRES_URL``, ``RIVO_TEST_MARIADB_URL``, ``RIVO_TEST_REDIS_URL``).
Each run gets tables and key prefixes of its own, removed at the end, so
nothing else on those servers is touched.

``make test`` runs the suite in several processes (pytest-xdist), each
test file whole in one (``--dist loadfile``). What has a fixed name on the
shared servers (the docs' migration's ``user`` table, the default
``rivo_sessions`` table, Redis databases 13 and 14 under the default key
prefix) is used by one test file only, so no two processes meet there.
"""

from __future__ import annotations

import abc
import os
import typing as t
import uuid

import sqlalchemy as sa

from flask_rivo.stores import MemoryStore
from flask_rivo.stores import Record
from flask_rivo.stores import SessionStore
from flask_rivo.stores.sqlalchemy import SQLAlchemyStore
from flask_rivo.stores.sqlalchemy import make_engine

if t.TYPE_CHECKING:
    from pathlib import Path

POSTGRES_URL = os.environ.get(
    "RIVO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "RIVO_TEST_MARIADB_URL", "mariadb+pymysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("RIVO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

#: Every store the conformance suite and the HTTP-level tests run on.
ALL = ("memory", "sqlite", "postgresql", "mariadb", "redis")

Clock = t.Callable[[], float]


class Backend(abc.ABC):
    """One kind of store, made afresh for each test on a shared server."""

    name: str

    def available(self) -> str | None:
        """``None`` if the backend can be used, else why not."""
        return None

    @abc.abstractmethod
    def make(self, clock: Clock) -> SessionStore:
        """A new, empty store."""

    @abc.abstractmethod
    def records(self, store: SessionStore) -> dict[str, Record]:
        """Everything ``store`` holds, expired or not."""

    def clear(self, store: SessionStore) -> None:  # noqa: B027 (optional)
        """Remove what the test left in ``store``."""

    def close(self) -> None:  # noqa: B027 (optional)
        """Remove what the run left on the server."""


class Memory(Backend):
    name = "memory"

    def make(self, clock: Clock) -> SessionStore:
        return MemoryStore(maxsize=1000, clock=clock)

    def records(self, store: SessionStore) -> dict[str, Record]:
        held: dict[str, Record] = {}
        for pool in t.cast("MemoryStore", store)._pools:
            held.update(pool)
        return held


class SQL(Backend):
    """A table of this run's own in a SQL database."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.table = f"rivo_test_{uuid.uuid4().hex[:12]}"
        self._engine: sa.Engine | None = None
        self._metadata = sa.MetaData()
        self._problem: str | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def available(self) -> str | None:
        if self._engine is None and self._problem is None:
            try:
                with self.engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
            except sa.exc.SQLAlchemyError as error:
                self._problem = f"{self.name} at {self.url}: {error}"
                self._engine = None
        return self._problem

    def make(self, clock: Clock) -> SessionStore:
        store = SQLAlchemyStore(
            self.engine, table_name=self.table, metadata=self._metadata, clock=clock
        )
        # Made ahead, so that a test that never touches its store can be
        # cleared; the store's own lazy creation is tested in test_sqlalchemy.
        self._metadata.create_all(self.engine, checkfirst=True)
        return store

    def records(self, store: SessionStore) -> dict[str, Record]:
        sql = t.cast("SQLAlchemyStore", store)
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(sql.table)).all()
        return {row.key: sql._record(row) for row in rows}

    def clear(self, store: SessionStore) -> None:
        sql = t.cast("SQLAlchemyStore", store)
        with self.engine.begin() as connection:
            connection.execute(sa.delete(sql.table))

    def close(self) -> None:
        if self._engine is not None:
            self._metadata.drop_all(self._engine, checkfirst=True)
            self._engine.dispose()


class SQLite(SQL):
    def __init__(self, folder: Path) -> None:
        super().__init__("sqlite", f"sqlite:///{folder / 'sessions.db'}")


class Redis(Backend):
    """Keys under a prefix of this test's own on the shared server."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5)
        self._problem: str | None = None
        self._checked = False

    def available(self) -> str | None:
        import redis

        if not self._checked:
            self._checked = True
            try:
                self.client.ping()
            except redis.RedisError as error:
                self._problem = f"redis at {self.url}: {error}"
        return self._problem

    def make(self, clock: Clock) -> SessionStore:
        from flask_rivo.stores.redis import RedisStore

        prefix = f"rivotest:{uuid.uuid4().hex[:12]}:"
        return RedisStore(self.client, prefix=prefix, clock=clock)

    def _keys(self, store: SessionStore, kind: str = "") -> list[str]:
        prefix = t.cast("t.Any", store).prefix + kind
        found = self.client.scan_iter(match=f"{prefix}*", count=1000)
        return [key.decode()[len(prefix) :] for key in found]

    def records(self, store: SessionStore) -> dict[str, Record]:
        loaded = {key: store.load(key) for key in self._keys(store, "s:")}
        return {key: record for key, record in loaded.items() if record is not None}

    def clear(self, store: SessionStore) -> None:
        prefix = t.cast("t.Any", store).prefix
        keys = [prefix + key for key in self._keys(store)]
        if keys:
            self.client.delete(*keys)

    def close(self) -> None:
        self.client.close()


def make_backends(folder: Path) -> dict[str, Backend]:
    return {
        "memory": Memory(),
        "sqlite": SQLite(folder),
        "postgresql": SQL("postgresql", POSTGRES_URL),
        "mariadb": SQL("mariadb", MARIADB_URL),
        "redis": Redis(REDIS_URL),
    }


def use(backend: Backend) -> None:
    """Skip the test (or fail it in CI) if the backend's server is down."""
    from support import require

    problem = backend.available()
    require(problem is None, problem or "")
