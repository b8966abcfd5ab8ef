"""An app for ``servers.AppProcess``: sessions in a store several processes share.

Configured from the environment, so that tests/test_processes.py can start
several processes of the same app on the same store:

``RIVO_TEST_STORE``
    ``sqlite``, ``postgresql``, ``mariadb`` or ``redis``.
``RIVO_TEST_STORE_URL``
    The store's SQLAlchemy or ``redis://`` URL.
``RIVO_TEST_TABLE`` / ``RIVO_TEST_PREFIX``
    The SQL table, or the Redis key prefix: one per test module, so that
    tests never see each other's sessions on the shared servers.
``RIVO_SESSION_ID_LIFETIME``, ``RIVO_SESSION_ID_GRACE``
    Optional, in seconds.
"""

from __future__ import annotations

import os
import typing as t

import flask
from support import session_app

from flask_rivo import RivoSession
from flask_rivo import RivoSessions
from flask_rivo.stores import RedisStore
from flask_rivo.stores import SessionStore
from flask_rivo.stores import SQLAlchemyStore

#: The stores that several processes can share (not the memory store).
SHARED_STORES = ("sqlite", "postgresql", "mariadb", "redis")


def make_store() -> SessionStore:
    """The store the environment names."""
    kind, url = os.environ["RIVO_TEST_STORE"], os.environ["RIVO_TEST_STORE_URL"]
    if kind not in SHARED_STORES:
        raise ValueError(f"RIVO_TEST_STORE: expected one of {SHARED_STORES}")
    if kind == "redis":
        return RedisStore(url, prefix=os.environ["RIVO_TEST_PREFIX"])
    return SQLAlchemyStore(url, table_name=os.environ["RIVO_TEST_TABLE"])


def create_app() -> flask.Flask:
    """The tests' session app on the store the environment names, plus views
    that say which process answered and who is logged in, and one that logs
    the current user out everywhere."""
    config: dict[str, t.Any] = {"RIVO_SESSION_STORE": make_store()}
    for key in ("RIVO_SESSION_ID_LIFETIME", "RIVO_SESSION_ID_GRACE"):
        if key in os.environ:
            config[key] = float(os.environ[key])
    app = t.cast("flask.Flask", session_app(**config))
    session = t.cast("RivoSession", flask.session)  # a proxy to one

    @app.get("/pid")
    def pid() -> str:
        """Which process answered."""
        return str(os.getpid())

    @app.get("/user")
    def user() -> str:
        return repr(session.user_id)

    @app.get("/logout-everywhere")
    def logout_everywhere() -> str:
        """End every session of the current user; answers how many ended."""
        user_id = session.user_id
        if user_id is None:
            flask.abort(403)
        return str(RivoSessions().end_user_sessions(user_id))

    return app
