"""The session object views see as :data:`flask.session`."""

from __future__ import annotations

import typing as t
from types import MappingProxyType

from flask import has_request_context
from flask.globals import request_ctx
from flask.sessions import SessionMixin
from werkzeug.datastructures import CallbackDict

from .exceptions import StoreError
from .exceptions import StoreUnavailable
from .exceptions import log_store_error

if t.TYPE_CHECKING:
    from .loading import Loaded
    from .stores.base import Record

#: The longest user ID a session may be filed under: the SQL store's column.
MAX_USER_ID = 255
#: The key Flask keeps :attr:`~flask.sessions.SessionMixin.permanent` under.
_PERMANENT = "_permanent"


def _changed(session: RivoSession) -> None:
    """What :class:`~werkzeug.datastructures.CallbackDict` calls on a change."""
    session.modified = True
    session.accessed = True


class RivoSession(CallbackDict[str, t.Any], SessionMixin):
    """A server-side session: a dict, plus what the server needs to keep it.

    The session interface makes these; the keyword arguments are internal.

    It behaves as Flask's own session does: :attr:`accessed` is set when the
    response depends on it (so ``Vary: Cookie`` is sent), :attr:`modified`
    when it changed. Unlike Flask's, membership tests and iteration count as
    access too, since a page that checks ``"cart" in session`` does depend
    on the session.

    It is loaded from the store when it is first used, not when the request
    begins: a view that never touches it costs no store call. Every read,
    every write, :attr:`user_id`, :meth:`regenerate` and :meth:`destroy`
    load it first (a write must merge with what is stored), and raise
    :class:`~flask_rivo.StoreUnavailable` if the store cannot be reached.
    Setting :attr:`permanent` waits for the load, so the common
    ``session.permanent = True`` in a ``before_request`` costs nothing on
    requests that do not use the session.
    """

    #: True once the view changed the session (or set it by hand).
    modified = False
    #: True once the view read the session.
    accessed = False
    #: True for a session that has no record in the store yet.
    new = True
    # What the server keeps beside the data, as class defaults, so that the
    # session of a request that never uses it costs only its dict.
    _id: str | None = None
    _record: Record | None = None
    #: The values as loaded, before the view changed any: a value that is
    #: still the very same immutable object need not be encoded again.
    _loaded: t.Mapping[str, t.Any] = MappingProxyType({})
    _user_id: str | None = None
    _stale_cookie = False
    _error: StoreError | None = None
    _regenerate = False
    _cleared = False
    #: ``permanent`` as set before the load, applied by it.
    _permanent: bool | None = None
    #: The request's cookie marked permanent, if any: sent again when
    #: the session is never used (``SESSION_REFRESH_EACH_REQUEST``).
    refresh_cookie: str | None = None
    #: What the request opened the session with (the interface's business):
    #: its end reuses it rather than reading the configuration again.
    _opened_with: t.Any = None

    def __init__(
        self,
        initial: t.Mapping[str, t.Any] | None = None,
        *,
        loader: t.Callable[[], Loaded] | None = None,
        client: tuple[str, str] = ("", ""),
    ) -> None:
        super().__init__(initial, _changed)
        self._loader = loader
        self._client = client

    # -- loading ---------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once the session was loaded (or there was nothing to load).

        A session that is never loaded is never written: its request did not
        use it, so it does not extend the session's idle time either.
        """
        return self._loader is None

    def load(self) -> None:
        """Load the session from the store now, if it is not loaded yet.

        Views need not call it: any use of the session loads it. An
        application that wants the 503 of an unreachable store before its
        views run at all can call it in a ``before_request`` (at the price of
        a store call on every request that carries a cookie). It does not
        count as access.

        :raises StoreUnavailable: if the store cannot be reached; the
            session then stays empty and is never saved.
        """
        loader = self._loader
        if loader is None:
            return
        self._loader = None
        try:
            found = loader()
        except StoreError as error:
            log_store_error(error)
            self._error = error
            raise StoreUnavailable() from error
        dict.update(self, found.data)
        self._loaded = found.data
        self._id, self._record = found.session_id, found.record
        self._user_id = None if found.record is None else found.record.user_id
        self._stale_cookie = found.stale_cookie
        self.new = found.record is None
        if self._permanent is not None:
            # As Flask's setter would have done: a change, not a read.
            dict.__setitem__(self, _PERMANENT, self._permanent)
            self.modified = True

    def _read(self) -> None:
        self.load()
        self.accessed = True

    @property
    def permanent(self) -> bool:
        """Flask's flag for a cookie that outlives the browser.

        Setting it does not load the session (see the class).
        """
        if self._loader is not None and self._permanent is not None:
            return self._permanent
        return bool(self.get(_PERMANENT, False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if self._loader is None:
            self[_PERMANENT] = bool(value)
        else:
            self._permanent = bool(value)

    # -- the dict --------------------------------------------------------------

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

    def __reversed__(self) -> t.Iterator[str]:
        self._read()
        return super().__reversed__()

    def __len__(self) -> int:
        self._read()
        return super().__len__()

    def __eq__(self, other: object) -> bool:
        self._read()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def keys(self) -> t.KeysView[str]:  # type: ignore[override]
        self._read()
        return super().keys()

    def values(self) -> t.ValuesView[t.Any]:  # type: ignore[override]
        self._read()
        return super().values()

    def items(self) -> t.ItemsView[str, t.Any]:  # type: ignore[override]
        self._read()
        return super().items()

    def copy(self) -> dict[str, t.Any]:
        self._read()
        return dict(super().items())

    def __setitem__(self, key: str, value: t.Any) -> None:
        self.load()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.load()
        super().__delitem__(key)

    def setdefault(self, key: str, default: t.Any = None) -> t.Any:
        self.load()
        return super().setdefault(key, default)

    def pop(self, key: str, *default: t.Any) -> t.Any:
        self.load()
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, t.Any]:
        self.load()
        return super().popitem()

    def update(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.load()
        super().update(*args, **kwargs)

    def __ior__(self, other: t.Any) -> RivoSession:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __repr__(self) -> str:
        # Never loads: a debugger or a log line must not cost a store call.
        if self._loader is not None:
            return f"<{type(self).__name__} (not loaded yet)>"
        return super().__repr__()

    def clear(self) -> None:
        """Empty the session, and detach it from its user.

        Flask applications log out with ``session.clear()``; that must not
        leave the session filed under the user who left.
        """
        self.load()
        super().clear()
        self._user_id = None
        self._cleared = True

    # -- what the server keeps beside the data ---------------------------------

    @property
    def user_id(self) -> str | None:
        """The logged-in user this session belongs to, or ``None``.

        Setting it files the session under the user, for
        :meth:`~flask_rivo.RivoSessions.user_sessions` and logging a user out
        everywhere.

        :raises ValueError: on setting an ID (as text) longer than
            :data:`MAX_USER_ID` characters or holding a NUL, which some
            stores cannot keep: better the application's own error at once
            than a 503 from the store at the end of the request.
        """
        self._read()
        return self._user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        text = None if value is None else str(value)
        if text is not None and (len(text) > MAX_USER_ID or "\0" in text):
            raise ValueError(
                f"a session's user ID is at most {MAX_USER_ID} characters, without NUL"
            )
        self.load()
        self._user_id = text
        self.modified = True
        self.accessed = True

    def regenerate(self) -> None:
        """Give the session a new ID at the end of the request, keeping its data.

        Call it on every change of privilege (log-in, log-out, a password
        change) against session fixation: the old ID stops working at once,
        with no grace period.
        """
        self.load()
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
        """True if the store could not be reached to load the session."""
        return self._error is not None


def current_session() -> RivoSession | None:
    """The current request's session, if it is a :class:`RivoSession`.

    Unlike the :data:`flask.session` proxy, this does not count as a read:
    Flask >= 3.1 marks the session accessed whenever ``ctx.session`` is read,
    which would add ``Vary: Cookie`` to responses that never used it. So it
    is the way to reach the session without using it, for example to
    :meth:`~flask_rivo.RivoSession.load` it early in a ``before_request``.
    """
    if not has_request_context():
        return None
    ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
    found = getattr(ctx, "_session", None)
    if found is None:
        found = getattr(ctx, "session", None)
    return found if isinstance(found, RivoSession) else None
