"""The HTTP side of sessions: cookies in, records out, and back again.

:class:`RivoSessionInterface` replaces Flask's signed-cookie interface. The
cookie carries only a random ID; everything else lives in a
:class:`~flask_rivo.stores.SessionStore`. All rules about expiry, rotation,
fingerprints and concurrent writers are here, so stores stay simple.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from flask import current_app
from flask.sessions import SessionInterface
from flask.sessions import session_json_serializer
from sqlalchemy.exc import ArgumentError

from . import commit
from . import fingerprint
from .exceptions import ConfigError
from .exceptions import StoreError
from .exceptions import StoreUnavailable
from .ids import is_session_id
from .ids import session_key
from .ids import unseal_successor
from .session import RivoSession
from .settings import FOREIGN_KEYS
from .settings import SESSION_DEFAULTS
from .settings import SessionSettings
from .stores.base import Record
from .stores.base import SessionStore
from .stores.memory import MemoryStore

if t.TYPE_CHECKING:
    from flask import Flask
    from flask import Request
    from flask.json.tag import TaggedJSONSerializer
    from flask.sessions import SessionMixin
    from werkzeug import Response

logger = logging.getLogger("flask_rivo")


def log_store_error(error: StoreError) -> None:
    """Log a store failure with its traceback, but none of its chained errors.

    The stores of flask_rivo chain nothing to their errors; a store of the
    application's may chain its driver's error, whose text can hold
    session data, so only the message and the frames are logged.
    """
    shown = StoreError(str(error)).with_traceback(error.__traceback__)
    logger.error("Session store unavailable: %s", error, exc_info=shown)


#: Where the ``"redis"`` store looks when ``RIVO_SESSION_STORE_URL`` is unset.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The most values of the session cookie one request may send that are
#: looked up (see :meth:`RivoSessionInterface._load_first`).
MAX_COOKIES = 3
#: The keys that choose the store: a change of any other key keeps it.
_STORE_KEYS = (
    "RIVO_SESSION_STORE",
    "RIVO_SESSION_STORE_URL",
    "RIVO_SESSION_MEMORY_MAX",
)


#: The config keys that shape the settings, and those that choose the store.
_Snapshot = tuple[tuple[object, ...], tuple[object, ...]]


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
        self._state: tuple[_Snapshot, SessionSettings, SessionStore] | None
        self._state = None

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
        snapshot = _snapshot(config)
        state = self._state
        if state is not None and state[0] == snapshot:
            return state[1], state[2]
        with self._lock:
            settings = SessionSettings.from_config(config)
            store = self._reuse_store(snapshot)
            if store is None:  # not falsy: an empty store has len() == 0
                store = self._make_store(settings, config, instance_path)
                if self._state is not None and isinstance(self._state[1].store, str):
                    self._state[2].close()  # one this interface made itself
            self._state = (snapshot, settings, store)
            return settings, store

    def _reuse_store(self, snapshot: _Snapshot) -> SessionStore | None:
        """The current store, if the keys that choose it have not changed."""
        if self._state is None:
            return None
        old, _, store = self._state
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

    # -- loading -----------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> RivoSession:
        settings, store = self.configure(app.config, app.instance_path)
        client = (
            fingerprint.user_agent(request.headers.get("User-Agent")),
            request.remote_addr or "",
        )
        cookies = [c for c in request.cookies.getlist(self.get_cookie_name(app)) if c]
        if not cookies:
            return self.session_class(client=client)
        try:
            found = self._load_first(store, settings, cookies, client)
        except StoreError as error:
            log_store_error(error)
            return self.session_class(client=client, error=error)
        if found is None:
            return self.session_class(client=client, stale_cookie=True)
        cookie, (session_id, record) = found
        try:
            data = {k: self.serializer.loads(v) for k, v in record.data.items()}
        except (ValueError, TypeError, KeyError) as error:
            # The error's text may quote the stored value: only its class.
            logger.error("Dropping unreadable session record: %s", type(error).__name__)
            try:
                store.delete(session_key(session_id))
            except StoreError as store_error:
                return self.session_class(client=client, error=store_error)
            return self.session_class(client=client, stale_cookie=True)
        return self.session_class(
            data,
            session_id=session_id,
            record=record,
            client=client,
            stale_cookie=session_id != cookie,
        )

    def _load_first(
        self,
        store: SessionStore,
        settings: SessionSettings,
        cookies: list[str],
        client: tuple[str, str],
    ) -> tuple[str, tuple[str, Record]] | None:
        """The first cookie value that leads to a live session, and that session.

        A browser sends several cookies of one name when a sibling subdomain,
        or a script on a plain-HTTP page of the host, set one for a parent
        domain or another path. An unknown value must not win over the
        user's live session (which would log them out on every request), so
        each value is tried, in the browser's order; none is ever adopted.
        At most :data:`MAX_COOKIES` are tried, so a request costs boundedly
        many reads.
        """
        candidates = dict.fromkeys(c for c in cookies if is_session_id(c))
        for cookie in list(candidates)[:MAX_COOKIES]:
            found = self._load(store, settings, cookie, client)
            if found is not None:
                return cookie, found
        return None

    def _load(
        self,
        store: SessionStore,
        settings: SessionSettings,
        session_id: str,
        client: tuple[str, str],
    ) -> tuple[str, Record] | None:
        now = self.now()
        for _ in range(commit.MAX_HOPS):
            key = session_key(session_id)
            record = store.load(key)
            if record is None:
                return None
            if record.successor is not None:
                # A rotated-out ID in its grace period leads to its successor.
                successor = unseal_successor(record.successor, session_id)
                if record.expires_at <= now or successor is None:
                    return None
                session_id = successor
                continue
            ends = settings.expires_at(
                record.created_at, record.accessed_at, record.data, record.user_id
            )
            if min(ends, record.expires_at) <= now:
                store.delete(key)
                return None
            if not self._same_client(settings, record, client):
                logger.warning(
                    "Ending a session used from another client (%s, %r)",
                    client[1],
                    client[0],
                )
                store.delete(key)
                return None
            return session_id, record
        return None

    @staticmethod
    def _same_client(
        settings: SessionSettings, record: Record, client: tuple[str, str]
    ) -> bool:
        user_agent, address = client
        if settings.ua_match and not fingerprint.same_user_agent(
            record.user_agent, user_agent
        ):
            return False
        return fingerprint.same_network(
            record.address, address, settings.ip_octets, settings.ipv6_prefix
        )

    # -- saving ------------------------------------------------------------

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        if not isinstance(session, RivoSession):
            return
        if session.accessed:
            response.vary.add("Cookie")
        if session.unavailable:
            self._refuse(app, response)
            return
        accessed = session.accessed
        try:
            self._save(app, session, response)
        except StoreError as error:
            log_store_error(error)
            self._refuse(app, response)
            if isinstance(error, commit.UnsettledError):
                # The old ID may be dead already; the new one surely lives.
                self._set_cookie(app, session, response, error.session_id)
        finally:
            # Reading ``session.permanent`` for the cookie is not the app's
            # reading; it must not count as access.
            session.accessed = accessed

    def _save(self, app: Flask, session: RivoSession, response: Response) -> None:
        settings, store = self.configure(app.config, app.instance_path)
        now = self.now()
        record, session_id = session._record, session._id
        empty = settings.is_empty(dict.keys(session), session._user_id)

        ended = session._cleared and (empty or session._regenerate)
        if ended and session_id is not None:
            # clear() or destroy(): the session ends, whatever others wrote;
            # anything stored since starts a new one.
            if record is not None:
                commit.retire_latest(store, session_id, record, now)
            record = None
        if record is None or session_id is None:  # no session in the store yet
            if not empty:
                self._start(app, session, response, store, settings, now)
            elif session._stale_cookie or session_id is not None:
                # A cookie came with the request and leads nowhere now. (A
                # visitor who sent none and stored nothing gets no cookie.)
                self._delete_cookie(app, response)
            return

        changes = self._changes(session, record)
        if session._regenerate:
            self._regenerate(
                app, session, response, store, settings, (session_id, record), changes
            )
            return

        rotate = now - record.id_issued_at >= settings.id_lifetime
        if changes is not None or rotate:
            committed = commit.commit(
                store,
                settings,
                session_id,
                record,
                changes or commit.NO_CHANGES,
                now,
                rotate=rotate,
            )
            if committed is None:
                # Ended by another request meanwhile: never revive it. The
                # cookie is left alone: the browser may hold a newer one
                # already (from a parallel log-in, say).
                return
            session_id, written = committed
            commit.cap_user(
                store, settings, session_id, written.user_id, record.user_id
            )
            # Emptied: the cookie goes, and the record fades out over the grace
            # period, so that a parallel request's write still lands in it
            # (and its response brings the cookie back). If another request
            # stored something meanwhile, the session simply lives on.
            emptied = settings.is_empty(written.data, written.user_id)
            fade_until = now + settings.id_grace
            if emptied and commit.fade(store, session_id, written, fade_until):
                self._delete_cookie(app, response)
                return
        elif not empty and now - record.accessed_at >= settings.touch_interval:
            expires_at = settings.expires_at(
                record.created_at, now, record.data, record.user_id
            )
            store.touch(session_key(session_id), now, expires_at, record.version)
        if (
            session_id != session._id
            or session._stale_cookie
            or self.should_set_cookie(app, session)
        ):
            self._set_cookie(app, session, response, session_id)

    def _regenerate(
        self,
        app: Flask,
        session: RivoSession,
        response: Response,
        store: SessionStore,
        settings: SessionSettings,
        loaded: tuple[str, Record],
        changes: commit.Changes | None,
    ) -> None:
        """Move the session to a new ID; the old one dies at once.

        The new record is written first, then the old one is retired by
        compare-and-swap (on a conflict the new one is dropped and the
        latest data merged again), so a store error loses nothing, parallel
        changes carry over, and a session that another request ended
        meanwhile (a log-out everywhere) is not brought back, unless this
        very request logs a user in. If retiring fails, the old ID may be
        dead or not: the 503 carries the new ID (:class:`commit.UnsettledError`).
        """
        session_id, record = loaded
        now = self.now()
        base: Record | None = record
        user_id: str | None
        for _ in range(commit.MAX_ATTEMPTS):
            if base is None:
                if session._user_id is None or session._user_id == record.user_id:
                    return  # ended meanwhile; the cookie is left alone, as above
                # A log-in after a parallel log-out: a new session with only
                # what this request stored, none of the ended session's data.
                data = dict(changes.set) if changes is not None else {}
                user_id = session._user_id
            else:
                merged = (changes or commit.NO_CHANGES).apply(base, now, settings)
                data, user_id = dict(merged.data), merged.user_id
            if base is not None and settings.is_empty(data, user_id):
                commit.retire_latest(store, session_id, base, now)
                self._delete_cookie(app, response)
                return
            new_id = commit.create(store, settings, data, user_id, session._client, now)
            with commit.moving_to(new_id):
                retired = base is None or commit.retire(store, session_id, base, now)
            if retired:
                commit.cap_user(store, settings, new_id, user_id, record.user_id)
                self._set_cookie(app, session, response, new_id)
                return
            store.delete(session_key(new_id))  # the old record surely lives
            found = commit.reload(store, session_id, now)
            base = None if found is None else found[1]
            if found is not None:
                session_id = found[0]
        raise StoreError(f"gave up regenerating after {commit.MAX_ATTEMPTS} conflicts")

    def _start(
        self,
        app: Flask,
        session: RivoSession,
        response: Response,
        store: SessionStore,
        settings: SessionSettings,
        now: float,
        content: tuple[dict[str, str], str | None] | None = None,
    ) -> None:
        """Store a new session (by default, the session's own content)."""
        data, user_id = content or (self._serialize(session), session._user_id)
        new_id = commit.create(store, settings, data, user_id, session._client, now)
        commit.cap_user(store, settings, new_id, user_id, None)
        self._set_cookie(app, session, response, new_id)

    def _serialize(self, session: RivoSession) -> dict[str, str]:
        return {k: self.serializer.dumps(v) for k, v in dict.items(session)}

    def _changes(self, session: RivoSession, record: Record) -> commit.Changes | None:
        """Compare the session with the record it was loaded from."""
        user_id: object = commit.UNCHANGED
        if session._user_id != record.user_id:
            user_id = session._user_id
        if not session.modified:
            return None
        current = self._serialize(session)
        changed = {k: v for k, v in current.items() if record.data.get(k) != v}
        deleted = frozenset(record.data.keys() - current.keys())
        if not changed and not deleted and user_id is commit.UNCHANGED:
            return None
        return commit.Changes(changed, deleted, user_id)

    # -- the response ------------------------------------------------------

    def _cookie_options(self, app: Flask) -> dict[str, t.Any]:
        """The attributes every session cookie carries, from Flask's keys."""
        return {
            "httponly": self.get_cookie_httponly(app),
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "partitioned": self.get_cookie_partitioned(app),
            "samesite": self.get_cookie_samesite(app),
        }

    def _set_cookie(
        self, app: Flask, session: RivoSession, response: Response, value: str
    ) -> None:
        response.set_cookie(
            self.get_cookie_name(app),
            value,
            expires=self.get_expiration_time(app, session),
            **self._cookie_options(app),
        )
        response.vary.add("Cookie")
        if "Cache-Control" not in response.headers:
            # OWASP: no shared cache may keep (and hand out) a session ID.
            response.headers["Cache-Control"] = 'private, no-cache="Set-Cookie"'

    def _delete_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(self.get_cookie_name(app), **self._cookie_options(app))
        response.vary.add("Cookie")

    @staticmethod
    def _refuse(app: Flask, response: Response) -> None:
        """Turn ``response`` into the application's 503 page, in place.

        Flask gives ``save_session`` no way to replace the response, and an
        exception here would become a 500, so the 503 is copied over it.
        """
        if response.status_code == StoreUnavailable.code:
            return
        error = StoreUnavailable()
        replacement: Response
        try:
            replacement = app.make_response(app.handle_user_exception(error))
        except Exception:  # the app's own 503 handler failed
            logger.exception("The 503 handler failed; sending the plain page")
            replacement = error.get_response()
        response.status = replacement.status
        response.headers = replacement.headers
        response.response = replacement.response
        response.direct_passthrough = False
