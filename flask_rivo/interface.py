"""The HTTP side of sessions: cookies in, records out, and back again.

:class:`RivoSessionInterface` replaces Flask's signed-cookie interface. The
cookie carries only a random ID; everything else lives in a
:class:`~flask_rivo.stores.SessionStore`. This module keeps the settings and
the store of each application and hands each request to the modules that do
the work: :mod:`~flask_rivo.loading` (expiry, fingerprints, rotated IDs, when
the view first uses the session), :mod:`~flask_rivo.saving` and
:mod:`~flask_rivo.commit` (writes that survive concurrent requests) and
:mod:`~flask_rivo.cookie` (the response). Stores stay simple.
"""

from __future__ import annotations

import threading
import time
import typing as t

from flask import current_app
from flask.sessions import SessionInterface
from flask.sessions import session_json_serializer
from sqlalchemy.exc import ArgumentError

from . import commit
from . import fingerprint
from .codec import Codec
from .codec import Codecs
from .cookie import ResponseCookie
from .cookie import vary_cookie
from .exceptions import ConfigError
from .exceptions import StoreError
from .exceptions import log_store_error
from .ids import is_session_id
from .ids import split_cookie
from .loading import Loader
from .saving import Saver
from .saving import nothing_to_save
from .session import RivoSession
from .settings import FOREIGN_KEYS
from .settings import SESSION_DEFAULTS
from .settings import SessionSettings
from .stores.base import SessionStore
from .stores.memory import MemoryStore

if t.TYPE_CHECKING:
    from flask import Flask
    from flask import Request
    from flask.json.tag import TaggedJSONSerializer
    from flask.sessions import SessionMixin
    from werkzeug import Response

#: Where the ``"redis"`` store looks when ``RIVO_SESSION_STORE_URL`` is unset.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The keys that choose the store: a change of any other key keeps it.
_STORE_KEYS = (
    "RIVO_SESSION_STORE",
    "RIVO_SESSION_STORE_URL",
    "RIVO_SESSION_MEMORY_MAX",
)


#: The config keys that shape the settings, and those that choose the store.
_Snapshot = tuple[tuple[object, ...], tuple[object, ...]]
#: Every key :func:`_snapshot` reads: while none changed, nothing did.
_WATCHED = (
    *SESSION_DEFAULTS,
    *FOREIGN_KEYS,
    *_STORE_KEYS,
    "SQLALCHEMY_DATABASE_URI",
)


def _snapshot(config: t.Mapping[str, t.Any]) -> _Snapshot:
    """The keys that shape the settings, and those that choose the store.

    ``SQLALCHEMY_DATABASE_URI`` counts only for the ``"sqlalchemy"`` store:
    the application's database moving must not empty a memory store.
    """
    store = tuple(config.get(key) for key in _STORE_KEYS)
    if store[0] == "sqlalchemy":
        store += (config.get("SQLALCHEMY_DATABASE_URI"),)
    shaping = (*SESSION_DEFAULTS, *FOREIGN_KEYS)
    return tuple(config.get(key) for key in shaping), store


class _State(t.NamedTuple):
    """The settings and store of one configuration, and what it was."""

    #: The values of every :data:`_WATCHED` key.
    watched: tuple[object, ...]
    snapshot: _Snapshot
    settings: SessionSettings
    store: SessionStore


class RivoSessionInterface(SessionInterface):
    """Server-side sessions for one Flask application.

    :class:`~flask_rivo.RivoSessions` installs one per application as
    ``app.session_interface``; it is also ``app.extensions["rivo_sessions"]``.
    It rereads the ``RIVO_SESSION_*`` keys when they change, as Flask rereads
    its ``SESSION_COOKIE_*`` keys on every request.
    """

    #: Serializes each session value; Flask's own, so the same types work.
    serializer: TaggedJSONSerializer = session_json_serializer
    session_class = RivoSession

    def __init__(self) -> None:
        #: Returns the time in seconds since the epoch. Every time this
        #: interface and the stores it makes read comes from here, so tests can
        #: replace it to move time without sleeping.
        self.clock: t.Callable[[], float] = time.time
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._codecs = Codecs()

    def now(self) -> float:
        """The current time, in seconds since the epoch, from :attr:`clock`."""
        return self.clock()

    # -- configuration -----------------------------------------------------

    def configure(
        self, config: t.Mapping[str, t.Any], instance_path: str | None = None
    ) -> tuple[SessionSettings, SessionStore]:
        """Return the settings and store for ``config``, rebuilt if it changed.

        :param instance_path: the application's instance folder, where the
            ``"sqlalchemy"`` store keeps its SQLite file if no URL is set.
        :raises ConfigError: if a ``RIVO_SESSION_*`` key has a bad value.
        """
        # Every request with a session cookie asks: one pass of C over the
        # keys, and a tuple comparison, while nothing changed.
        watched = tuple(map(config.get, _WATCHED))
        state = self._state
        if state is not None and state.watched == watched:
            return state.settings, state.store
        snapshot = _snapshot(config)
        with self._lock:
            state = self._state
            if state is not None and state.snapshot == snapshot:
                settings, store = state.settings, state.store
            else:
                settings = SessionSettings.from_config(config)
                reused = self._reuse_store(snapshot)
                if reused is not None:  # not falsy: an empty store has len() 0
                    store = reused
                else:
                    store = self._make_store(settings, config, instance_path)
                    if state is not None and isinstance(state.settings.store, str):
                        state.store.close()  # one this interface made itself
            self._state = _State(watched, snapshot, settings, store)
            return settings, store

    def _reuse_store(self, snapshot: _Snapshot) -> SessionStore | None:
        """The current store, if the keys that choose it have not changed."""
        if self._state is None:
            return None
        old, store = self._state.snapshot, self._state.store
        return store if old[1] == snapshot[1] else None

    def _make_store(
        self,
        settings: SessionSettings,
        config: t.Mapping[str, t.Any],
        instance_path: str | None,
    ) -> SessionStore:
        """Build the store ``RIVO_SESSION_STORE`` names.

        :raises ConfigError: for a bad URL, or a missing driver or package.
        """
        if isinstance(settings.store, SessionStore):
            return settings.store
        if settings.store == "memory":
            return MemoryStore(settings.memory_max, clock=self.now)
        try:
            if settings.store == "redis":
                from .stores.redis import RedisStore

                url = settings.store_url or DEFAULT_REDIS_URL
                return RedisStore(url, clock=self.now)
            from .stores.sqlalchemy import SQLAlchemyStore
            from .stores.sqlalchemy import database_url

            url = database_url(
                settings.store_url or config.get("SQLALCHEMY_DATABASE_URI"),
                instance_path or current_app.instance_path,
            )
            return SQLAlchemyStore(url, clock=self.now)
        except ImportError as error:
            extra = ' (pip install "flask-rivo[redis]")' * (settings.store == "redis")
            raise ConfigError(
                "RIVO_SESSION_STORE",
                f"the {settings.store!r} store needs {error.name or error}{extra}",
            ) from error
        except (ValueError, ArgumentError) as error:
            raise ConfigError(
                "RIVO_SESSION_STORE_URL",
                f"unusable for the {settings.store!r} store: {error}",
            ) from error

    @property
    def store(self) -> SessionStore:
        """The store of the current application."""
        return self.configure(current_app.config, current_app.instance_path)[1]

    # -- one request -------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> RivoSession:
        """The request's session, loaded only when the view first uses it.

        No store call happens here: see :class:`~flask_rivo.RivoSession`.
        """
        cookies = [c for c in request.cookies.getlist(self.get_cookie_name(app)) if c]
        environ = request.environ  # as request.headers reads it, without it
        client = (
            fingerprint.user_agent(environ.get("HTTP_USER_AGENT")),
            fingerprint.address(request.remote_addr),
        )
        if not cookies:
            return self.session_class(client=client)
        settings, store = self.configure(app.config, app.instance_path)
        codec = self._codecs(self.serializer, app.json)
        loader = Loader(store, settings, codec.loads, cookies, client, self.now)
        session = self.session_class(loader=loader, client=client)
        session._opened_with = (settings, store, codec)
        # The cookie to send again if the view never uses its session: only
        # the browser's one value of the name, shaped as a permanent
        # session's. Of several, one was planted by another origin (see
        # Loader.first_live), and only a load can tell which is live: sending
        # one back unread would let the planted value replace the user's own
        # cookie. Their expiry moves forward when the session is next used.
        if len(cookies) == 1:
            value, permanent = split_cookie(cookies[0])
            if permanent and is_session_id(value):
                session.refresh_cookie = cookies[0]
        return session

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        if not isinstance(session, RivoSession):
            return
        if session.accessed:
            vary_cookie(response)
        if not session.loaded:
            # Never used: nothing to check or write, and the session's idle
            # time is not extended. A permanent session's cookie is still
            # sent again, as Flask does, from its mark alone.
            refresh = session.refresh_cookie
            if refresh is not None and app.config["SESSION_REFRESH_EACH_REQUEST"]:
                ResponseCookie(self, app, response).refresh(refresh)
            return
        cookie = ResponseCookie(self, app, response)
        if session.unavailable:
            cookie.refuse()
            return
        accessed = session.accessed
        try:
            opened: tuple[SessionSettings, SessionStore, Codec] | None
            opened = session._opened_with
            if opened is None:  # no cookie came: nothing was configured yet
                settings, store = self.configure(app.config, app.instance_path)
                codec = self._codecs(self.serializer, app.json)
            else:
                settings, store, codec = opened
            now = self.now()
            if nothing_to_save(session, settings, now) and not self.should_set_cookie(
                app, session
            ):
                return
            save = Saver(
                store,
                settings,
                codec.dumps,
                cookie,
                lambda s: self.should_set_cookie(app, s),
                now,
            )
            save(session)
        except StoreError as error:
            log_store_error(error)
            cookie.refuse()
            if isinstance(error, commit.UnsettledError):
                # The old ID may be dead already; the new one surely lives.
                cookie.set(session, error.session_id)
        finally:
            # Reading ``session.permanent`` for the cookie is not the app's
            # reading; it must not count as access.
            session.accessed = accessed
