"""The :class:`RivoSessions` extension: server-side sessions for Flask."""

from __future__ import annotations

import dataclasses
import typing as t
from datetime import datetime
from datetime import timezone

from flask import current_app

from . import commit
from .exceptions import StoreError
from .exceptions import StoreUnavailable
from .exceptions import log_store_error
from .ids import session_key
from .interface import RivoSessionInterface
from .session import current_session
from .settings import SESSION_DEFAULTS

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.typing import ResponseReturnValue

    from .stores.base import Record


def _store_error(error: StoreError) -> ResponseReturnValue:
    """A store failure inside a view (listing sessions, throttling) is a 503.

    It is answered by the application's own 503 handler, if it has one.
    """
    log_store_error(error)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    unavailable = StoreUnavailable()
    unavailable.__cause__ = error
    return app.handle_http_exception(unavailable)  # type: ignore[no-any-return]


class RivoSessions:
    """Replace Flask's cookie session with a server-side one.

    ``RivoSessions(app)``, or ``ext = RivoSessions()`` then
    ``ext.init_app(app)`` in an application factory. One instance may serve
    several applications; each keeps its own settings and store, in
    ``app.extensions["rivo_sessions"]`` (its :class:`RivoSessionInterface`).

    No ``SECRET_KEY`` is needed: the cookie carries a random ID, not data.

    .. versionadded:: 0.1
    """

    #: The session interface installed on each application; a subclass can
    #: point this at a subclass of :class:`RivoSessionInterface`, for
    #: example one that picks the cookie name per request.
    interface_class: type[RivoSessionInterface] = RivoSessionInterface

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Install server-side sessions on ``app``.

        Missing ``RIVO_SESSION_*`` keys are filled with their defaults. The
        settings are checked now, and again whenever they change later.

        :raises ConfigError: if a ``RIVO_SESSION_*`` key has a bad value.
        """
        for key, value in SESSION_DEFAULTS.items():
            app.config.setdefault(key, value)
        interface = self.interface_class()
        interface.configure(app.config, app.instance_path)
        app.session_interface = interface
        app.extensions["rivo_sessions"] = interface
        app.register_error_handler(StoreError, _store_error)

    @staticmethod
    def interface() -> RivoSessionInterface:
        """The session interface of the current application."""
        found = current_app.extensions.get("rivo_sessions")
        if not isinstance(found, RivoSessionInterface):
            raise RuntimeError(
                "RivoSessions is not installed on this application;"
                " call RivoSessions(app) or init_app(app) first"
            )
        return found

    def user_sessions(self, user_id: str) -> list[SessionInfo]:
        """List the active sessions of a user, most recently used first.

        Marking the current request's session needs its ID, so this loads
        that session if the request has not used it yet.
        """
        interface = self.interface()
        current = _current_key()
        now = interface.now()
        found = [
            SessionInfo(
                key=key,
                created_at=_moment(record.created_at),
                accessed_at=_moment(record.accessed_at),
                user_agent=record.user_agent,
                address=record.address,
                current=key == current,
                keys=frozenset(record.data),
            )
            for key, record in interface.store.user_sessions(str(user_id))
            if _live_session(record, now)
        ]
        return sorted(found, key=lambda info: info.accessed_at, reverse=True)

    def end_user_sessions(self, user_id: str, *, keep_current: bool = False) -> int:
        """Log a user out everywhere (or everywhere else, with ``keep_current``).

        With ``keep_current``, the current request's session is loaded if the
        request has not used it yet: only loading tells which session its
        cookie leads to.

        :returns: how many sessions were ended.
        """
        interface = self.interface()
        keep = None
        session = current_session()
        if keep_current and session is not None:
            session.load()
        if keep_current and session is not None and session._id is not None:
            # The current session may have been rotated by a parallel request.
            found = commit.reload(interface.store, session._id, interface.now())
            keep = session_key(session._id if found is None else found[0])
        return interface.store.delete_user_sessions(str(user_id), keep=keep)

    def end_user_session(
        self, user_id: str, key: str, *, created_at: datetime | None = None
    ) -> bool:
        """End one session of a user, named by its :attr:`SessionInfo.key`.

        A listing can go stale: the session's ID may have been rotated
        (``RIVO_SESSION_ID_LIFETIME``) between showing a page and the click
        on its button, leaving ``key`` a pointer to a successor that only
        the old ID can unseal, or nothing at all once the grace period is
        over. Rotation keeps a session's :attr:`SessionInfo.created_at`, so
        given the one from the same listing, the user's one session begun at
        that moment is ended instead. Only the user's own sessions are ever
        candidates, so a forged ``created_at`` can do no harm elsewhere; two
        of them begun in the same microsecond end neither.

        :param created_at: :attr:`SessionInfo.created_at` of the listing
            that gave ``key``.
        :returns: ``False`` if no such session belongs to that user, so a
            forged key cannot end somebody else's session.
        """
        interface = self.interface()
        store = interface.store
        user_id = str(user_id)
        record = store.load(key)
        if record is not None and record.user_id is not None:
            if record.user_id != user_id or record.successor is not None:
                return False  # somebody else's session
            store.delete(key)
            return True
        if created_at is None:
            return False
        now = interface.now()
        found = [
            found_key
            for found_key, found in store.user_sessions(user_id)
            if _live_session(found, now) and _moment(found.created_at) == created_at
        ]
        if len(found) != 1:
            return False
        store.delete(found[0])
        return True


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """One active session of a user, as a sessions page shows it."""

    #: The store key: names the session without being usable as a cookie.
    key: str
    #: When the session began (UTC).
    created_at: datetime
    #: When the session was last used (UTC), to within the touch interval.
    accessed_at: datetime
    #: The User-Agent header the session began with.
    user_agent: str
    #: The client address the session began with.
    address: str
    #: True for the session of the request that asked.
    current: bool
    #: The keys the session holds (not their values), such as the marks a
    #: log-in leaves (a sessions page can say how the session logged in).
    keys: frozenset[str] = frozenset()


def _live_session(record: Record, now: float) -> bool:
    """Whether ``record`` is a live session, not a rotated-out ID's pointer."""
    return record.expires_at > now and record.successor is None


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _current_key() -> str | None:
    """The store key of the current request's session, if it has one."""
    session = current_session()
    if session is not None:
        session.load()
    if session is not None and session._id is not None:
        return session_key(session._id)
    return None
