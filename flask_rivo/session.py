"""The session object views see as :data:`flask.session`."""

from __future__ import annotations

import typing as t

from flask import has_request_context
from flask.globals import request_ctx
from flask.sessions import SessionMixin
from werkzeug.datastructures import CallbackDict

from .exceptions import StoreError
from .exceptions import StoreUnavailable

if t.TYPE_CHECKING:
    from .stores.base import Record


class RivoSession(CallbackDict[str, t.Any], SessionMixin):
    """A server-side session: a dict, plus what the server needs to keep it.

    The session interface makes these; the keyword arguments are internal.

    It behaves as Flask's own session does: :attr:`accessed` is set when the
    response depends on it (so ``Vary: Cookie`` is sent), :attr:`modified`
    when it changed. Unlike Flask's, membership tests and iteration count as
    access too, since a page that checks ``"cart" in session`` does depend
    on the session.
    """

    def __init__(
        self,
        initial: t.Mapping[str, t.Any] | None = None,
        *,
        session_id: str | None = None,
        record: Record | None = None,
        client: tuple[str, str] = ("", ""),
        stale_cookie: bool = False,
        error: StoreError | None = None,
    ) -> None:
        def on_update(self: RivoSession) -> None:
            self.modified = True
            self._read()

        super().__init__(initial, on_update)
        #: True once the view changed the session (or set it by hand).
        self.modified = False
        #: True once the view read the session.
        self.accessed = False
        #: True for a session that has no record in the store yet.
        self.new = record is None
        self._id = session_id
        self._record = record
        self._user_id = None if record is None else record.user_id
        self._client = client
        self._stale_cookie = stale_cookie
        self._error = error
        self._raised = False
        self._regenerate = False
        self._cleared = False

    def _read(self) -> None:
        self.accessed = True
        if self._error is not None and not self._raised:
            self.raise_unavailable()

    def raise_unavailable(self) -> None:
        """Raise :class:`StoreUnavailable` once if the store failed to load.

        Later reads see an empty session that is never saved, so an error
        page that shows session data still renders (and stays a 503).
        """
        if self._error is not None and not self._raised:
            self._raised = True
            raise StoreUnavailable() from self._error

    def __getitem__(self, key: str) -> t.Any:
        self._read()
        return super().__getitem__(key)

    def get(self, key: str, default: t.Any = None) -> t.Any:
        self._read()
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read()
        return super().__contains__(key)

    def __iter__(self) -> t.Iterator[str]:
        self._read()
        return super().__iter__()

    def __len__(self) -> int:
        self._read()
        return super().__len__()

    def keys(self) -> t.KeysView[str]:  # type: ignore[override]
        self._read()
        return super().keys()

    def values(self) -> t.ValuesView[t.Any]:  # type: ignore[override]
        self._read()
        return super().values()

    def items(self) -> t.ItemsView[str, t.Any]:  # type: ignore[override]
        self._read()
        return super().items()

    def clear(self) -> None:
        """Empty the session, and detach it from its user.

        Flask applications log out with ``session.clear()``; that must not
        leave the session filed under the user who left.
        """
        super().clear()
        self._user_id = None
        self._cleared = True

    @property
    def user_id(self) -> str | None:
        """The logged-in user this session belongs to, or ``None``.

        Setting it files the session under the user, for
        :meth:`~flask_rivo.RivoSessions.user_sessions` and logging a user out
        everywhere.
        """
        return self._user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._user_id = None if value is None else str(value)
        self.modified = True
        self.accessed = True

    def regenerate(self) -> None:
        """Give the session a new ID at the end of the request, keeping its data.

        Call it on every change of privilege (log-in, log-out, a password
        change) against session fixation: the old ID stops working at once,
        with no grace period.
        """
        self._regenerate = True
        self.accessed = True

    def destroy(self) -> None:
        """End the session: its data and record go, the cookie is expired.

        Anything stored in the session later in the same request starts a new
        session under a new ID.
        """
        self.clear()
        self._user_id = None
        self._regenerate = True

    @property
    def unavailable(self) -> bool:
        """True if the store could not be reached when the request began."""
        return self._error is not None


def current_session() -> RivoSession | None:
    """The current request's session, if it is a :class:`RivoSession`.

    Unlike the :data:`flask.session` proxy, this does not count as a read:
    Flask >= 3.1 marks the session accessed whenever ``ctx.session`` is read,
    which would add ``Vary: Cookie`` to responses that never used it.
    """
    if not has_request_context():
        return None
    ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
    found = getattr(ctx, "_session", None)
    if found is None:
        found = getattr(ctx, "session", None)
    return found if isinstance(found, RivoSession) else None
