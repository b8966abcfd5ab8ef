"""Choosing a store by name: ``RIVO_SESSION_STORE`` and where it points."""

from __future__ import annotations

import sys
import typing as t

import flask
import pytest
import redis
import sqlalchemy as sa
from backends import POSTGRES_URL
from backends import REDIS_URL
from backends import use
from support import session_app

from flask_rivo.exceptions import ConfigError
from flask_rivo.stores import RedisStore
from flask_rivo.stores import SQLAlchemyStore

if t.TYPE_CHECKING:
    from pathlib import Path

    from backends import Backend


MADE: list[flask.Flask] = []


@pytest.fixture(autouse=True)
def close_stores() -> t.Iterator[None]:
    """Close the connections of the stores the apps of a test made."""
    yield
    while MADE:
        store_of(MADE.pop()).close()


def make_app(instance: Path, **config: object) -> flask.Flask:
    app = t.cast("flask.Flask", session_app(str(instance), **config))
    MADE.append(app)
    return app


def round_trip(app: flask.Flask) -> str:
    """What a second request reads of what the first stored."""
    client = app.test_client()
    client.get("/set/value/kept")
    return client.get("/get/value").text


def store_of(app: flask.Flask) -> t.Any:
    with app.app_context():
        return app.extensions["rivo_sessions"].store


def test_sqlalchemy_without_a_url_uses_sqlite_in_the_instance_folder(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"  # not there yet: made on demand
    app = make_app(instance, RIVO_SESSION_STORE="sqlalchemy")
    assert round_trip(app) == "'kept'"
    store = store_of(app)
    assert isinstance(store, SQLAlchemyStore)
    assert store.engine.url.database == str(instance / "rivo_sessions.db")
    assert (instance / "rivo_sessions.db").is_file()


@pytest.mark.parametrize(
    ("store", "after_restart"), [("memory", "None"), ("sqlalchemy", "'kept'")]
)
def test_the_quickstarts_one_line_keeps_sessions_over_a_reload(
    tmp_path: Path, store: str, after_restart: str
) -> None:
    """``flask run --debug`` starts a new process on every save: the memory
    store's sessions die with the old one, the SQLite file's do not."""
    client = make_app(tmp_path, RIVO_SESSION_STORE=store).test_client()
    client.get("/set/value/kept")
    cookie = client.get_cookie("session")
    assert cookie is not None
    restarted = make_app(tmp_path, RIVO_SESSION_STORE=store).test_client()
    restarted.set_cookie("session", cookie.value)
    assert restarted.get("/get/value").text == after_restart


def test_sqlalchemy_shares_flask_sqlalchemys_relative_sqlite_file(
    tmp_path: Path,
) -> None:
    from flask_sqlalchemy import SQLAlchemy

    app = make_app(
        tmp_path,
        RIVO_SESSION_STORE="sqlalchemy",
        SQLALCHEMY_DATABASE_URI="sqlite:///site.db",
    )
    db = SQLAlchemy(app)
    assert round_trip(app) == "'kept'"
    with app.app_context():
        assert store_of(app).engine.url.database == db.engine.url.database
        tables = sa.inspect(db.engine).get_table_names()
    assert "rivo_sessions" in tables


def test_sqlalchemy_store_url_wins_over_the_apps_database(
    tmp_path: Path, backends: dict[str, Backend]
) -> None:
    use(backends["postgresql"])
    app = make_app(
        tmp_path,
        RIVO_SESSION_STORE="sqlalchemy",
        RIVO_SESSION_STORE_URL=POSTGRES_URL,
        SQLALCHEMY_DATABASE_URI="sqlite:///site.db",
    )
    store = store_of(app)
    assert store.engine.dialect.name == "postgresql"
    assert round_trip(app) == "'kept'"
    store.delete_user_sessions("nobody")  # reachable
    with store.engine.begin() as connection:
        connection.execute(sa.delete(store.table))


def test_redis_by_url(tmp_path: Path, backends: dict[str, Backend]) -> None:
    use(backends["redis"])
    url = REDIS_URL.rsplit("/", 1)[0] + "/14"
    app = make_app(tmp_path, RIVO_SESSION_STORE="redis", RIVO_SESSION_STORE_URL=url)
    store = store_of(app)
    assert isinstance(store, RedisStore)
    try:
        assert round_trip(app) == "'kept'"
        keys = store.client.keys("rivo:s:*")
        assert len(keys) == 1
    finally:
        for key in store.client.scan_iter(match="rivo:*"):
            store.client.delete(key)


def test_a_changed_url_makes_a_new_store_and_closes_the_old(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        RIVO_SESSION_STORE="sqlalchemy",
        RIVO_SESSION_STORE_URL=f"sqlite:///{tmp_path / 'a.db'}",
    )
    first = store_of(app)
    assert round_trip(app) == "'kept'"
    app.config["RIVO_SESSION_STORE_URL"] = f"sqlite:///{tmp_path / 'b.db'}"
    second = store_of(app)
    assert second is not first
    assert first.engine.pool.checkedin() == 0  # disposed
    assert round_trip(app) == "'kept'"
    assert (tmp_path / "b.db").is_file()


@pytest.mark.parametrize(
    ("store", "url", "message"),
    [
        ("sqlalchemy", "not a url", "RIVO_SESSION_STORE_URL: unusable"),
        ("sqlalchemy", "nosuchdb://x/y", "RIVO_SESSION_STORE_URL: unusable"),
        ("redis", "http://127.0.0.1/", "RIVO_SESSION_STORE_URL: unusable"),
    ],
)
def test_bad_urls_fail_in_init_app(
    tmp_path: Path, store: str, url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_app(tmp_path, RIVO_SESSION_STORE=store, RIVO_SESSION_STORE_URL=url)


def test_a_missing_driver_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="asyncpg"):
        make_app(
            tmp_path,
            RIVO_SESSION_STORE="sqlalchemy",
            RIVO_SESSION_STORE_URL="postgresql+asyncpg://localhost/x",
        )


def test_redis_without_the_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Uninstalling redis-py is not possible mid-run; hiding it is the same
    # to an import statement.
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "flask_rivo.stores.redis", raising=False)
    with pytest.raises(ConfigError, match=r'pip install "flask-rivo\[redis\]"'):
        make_app(tmp_path, RIVO_SESSION_STORE="redis")
    assert redis.Redis  # the real module is back after the test


def test_a_store_instance_replaced_in_the_config_is_not_closed(tmp_path: Path) -> None:
    mine = SQLAlchemyStore(f"sqlite:///{tmp_path / 'mine.db'}")
    app = make_app(tmp_path, RIVO_SESSION_STORE=mine)
    assert round_trip(app) == "'kept'"
    app.config["RIVO_SESSION_STORE"] = "memory"
    assert round_trip(app) == "'kept'"
    assert mine.engine.pool.checkedin() == 1  # still open: the app's owner closes it
    mine.close()


def test_the_apps_database_uri_matters_only_to_the_sqlalchemy_store(
    tmp_path: Path,
) -> None:
    memory = make_app(tmp_path, SQLALCHEMY_DATABASE_URI="sqlite:///a.db")
    first = store_of(memory)
    memory.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///b.db"
    assert store_of(memory) is first  # its sessions are kept

    sql = make_app(
        tmp_path,
        RIVO_SESSION_STORE="sqlalchemy",
        SQLALCHEMY_DATABASE_URI="sqlite:///a.db",
    )
    before = store_of(sql)
    sql.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///b.db"
    after = store_of(sql)
    assert after is not before
    assert after.engine.url.database == str(tmp_path / "b.db")
