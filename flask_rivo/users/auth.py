"""Who is logged in: current_user, login_user, logout_user, login_required,
and how recently they proved it: confirm_login, is_fresh,
fresh_login_required."""

from __future__ import annotations

import functools
import typing as t
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import request
from flask import session
from flask import url_for
from werkzeug.local import LocalProxy

from ..i18n import lazy_gettext
from ..session import RivoSession
from ..sessions import RivoSessions
from . import binding
from . import passkey_store
from .models import AnonymousUser
from .models import User
from .models import UserState
from .models import utcnow
from .signals import user_logged_in
from .signals import user_logged_out
from .state import users_state

if t.TYPE_CHECKING:
    from werkzeug import Response

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: Flashed on the log-in page :func:`login_required` sends a visitor to, so
#: that landing on a form they did not ask for makes sense.
LOGIN_NEEDED = lazy_gettext("Please log in to see this page.")
#: Flashed on the page :func:`fresh_login_required` sends a logged-in
#: visitor to when their last log-in is older than ``RIVO_REAUTH_WINDOW``.
REAUTH_NEEDED = lazy_gettext("Please enter your password again to continue.")
#: The session key of when its user last proved who they are (a log-in or
#: a re-authentication), in seconds since the epoch.
AUTHENTICATED_AT = "_rivo_auth_at"

_ANONYMOUS = AnonymousUser()


def _rivo_session() -> RivoSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, RivoSession):
        raise RuntimeError("RivoUsers needs RivoSessions as the session interface")
    return current


def _load_user() -> User | AnonymousUser:
    if "rivo_user" not in g:
        user: User | AnonymousUser = _ANONYMOUS
        current = _rivo_session()
        if current.user_id is not None:
            loaded = users_state().user_loader(current.user_id)
            if loaded is not None and _may_stay(loaded, current):
                user = loaded
            else:
                # Deleted, locked, or its credentials changed since this
                # session was made (see binding): the session ends.
                current.destroy()
        g.rivo_user = user
    return t.cast("User | AnonymousUser", g.rivo_user)


def logged_in_user() -> User:
    """The logged-in user itself, not the :data:`current_user` proxy.

    For views behind :func:`login_required`, which hand the user to the
    workflows.

    :raises RuntimeError: if nobody is logged in.
    """
    user = _load_user()
    if not user.is_authenticated:
        raise RuntimeError("nobody is logged in; guard the view with login_required")
    return t.cast("User", user)


#: Marks a session that :func:`login_user` logged in with ``force``.
_FORCED = "_rivo_forced"
#: The credential ID of the passkey a session was logged in with, so that
#: removing the passkey ends the sessions it opened (see :func:`_may_stay`).
LOGIN_PASSKEY = "_rivo_login_passkey"


def log_in_again(user: User) -> bool:
    """Log the current session's user in again after a change of their own
    credentials (a new session ID, and the credentials' new digest),
    keeping the session as it was logged in: remembered ("Stay logged in":
    permanent) or not, and forced (see :func:`login_user`) or not.

    :returns: what :func:`login_user` returns.
    """
    forced = _rivo_session().get(_FORCED) is True
    return login_user(user, remember=session.permanent, force=forced)


def _may_stay(user: User, current: RivoSession) -> bool:
    """Whether the session's user is still the one who logged in, and may be.

    A session logged in with a passkey stays only while the passkey is on
    the account: removing it ends the session even when the log-in stored
    it after the removal ended the passkey's sessions (the two in parallel).
    The user row is loaded already, so this costs no query; sessions logged
    in otherwise do not look.
    """
    if not binding.matches(user, current.get(binding.SESSION_KEY)):
        return False
    passkey = current.get(LOGIN_PASSKEY)
    if passkey is not None and not passkey_store.holds(user, passkey):
        return False
    if getattr(user, "is_active", False):
        return True
    return user.state is UserState.CREATED and current.get(_FORCED) is True


#: The logged-in user, or an anonymous user whose ``is_authenticated`` is
#: ``False``. Reading it reads the session, so the response varies by cookie.
current_user: User | AnonymousUser = t.cast(
    "User | AnonymousUser", LocalProxy(_load_user)
)


def _forget_csrf_token(current: RivoSession) -> None:
    """Drop Flask-WTF's CSRF secret, so a new one is made for the new session.

    A token an attacker read from a session they planted must not stay valid
    once the victim logs in with that session (Django's ``rotate_token``).
    """
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    current.pop(name, None)
    g.pop(name, None)


def login_user(user: User, *, remember: bool = False, force: bool = False) -> bool:
    """Log ``user`` in to the current session.

    The session gets a new ID (the old one dies at once: no session
    fixation) and is filed under the user, so it can be listed and ended
    with the user's other sessions. It keeps a digest of the user's
    credentials: once their password, address or state changes, the
    session ends (see :ref:`bound-sessions`). Call it again after
    a user changed their own password to keep them logged in, with a new ID.
    With ``remember`` the cookie outlives the browser
    (``PERMANENT_SESSION_LIFETIME``). The caller commits the user's
    ``last_login_at``.

    As with Flask-Login, a user who may not log in (``is_active`` false: an
    address not yet verified, or a closed account) is refused, unless
    ``force`` is true; a forced session stays logged in while the account is
    unverified, never once it is closed.

    :returns: whether the user is now logged in.
    """
    if not force and not getattr(user, "is_active", False):
        return False
    if getattr(user, "state", None) is UserState.EXPIRED:
        return False
    current = _rivo_session()
    current.regenerate()
    _forget_csrf_token(current)
    current.user_id = user.get_id()
    current[binding.SESSION_KEY] = binding.credentials_digest(user)
    if force and not getattr(user, "is_active", False):
        current[_FORCED] = True
    else:
        current.pop(_FORCED, None)  # not left over from an earlier log-in
    current.pop(LOGIN_PASSKEY, None)  # the caller sets it for a passkey log-in
    current.permanent = remember
    _stamp_authenticated(current)
    user.last_login_at = utcnow()
    g.rivo_user = user
    user_logged_in.send(current_app._get_current_object(), user=user, remember=remember)  # type: ignore[attr-defined]
    return True


def logout_user() -> None:
    """End the current session on the server and expire its cookie."""
    user = _load_user()
    current = _rivo_session()
    current.destroy()
    _forget_csrf_token(current)
    g.rivo_user = _ANONYMOUS
    if user.is_authenticated:
        user_logged_out.send(current_app._get_current_object(), user=user)  # type: ignore[attr-defined]


def abandon_login() -> None:
    """Undo a :func:`login_user` whose commit failed (the user was deleted
    meanwhile): the session it made ends and nobody is logged in.

    No ``user_logged_out``: the user the receivers would get is gone.
    """
    current = _rivo_session()
    current.destroy()
    _forget_csrf_token(current)
    g.rivo_user = _ANONYMOUS


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else ``None``.

    Refuses anything a browser could read as another host: ``//host``,
    backslashes (``/\\host``), schemes (``javascript:``), control characters
    (browsers drop tabs and newlines, so ``/\\t/host`` is ``//host``), and
    the same hidden under percent-encoding.
    """
    if not target or len(target) > 2048:
        return None
    candidate = target
    for _ in range(4):
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return None
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
        decoded = unquote(candidate)
        if decoded == candidate:
            return target
        candidate = decoded
    return None


def _wants_json() -> bool:
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


#: Characters RFC 3986 allows unquoted in a path.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def current_path() -> str:
    """The current request's URL without scheme and host, as it was requested.

    The decoded path is quoted again (every character that is not plain in
    a path, ``?``, ``#`` and ``%`` included), so ``/files/report%3Fdraft.txt``
    stays that and does not become ``/files/report?draft.txt`` (another
    resource), as gluing the decoded ``request.path`` to the query would.
    Every place that sends a visitor back where they were uses this.
    """
    path = quote(request.script_root + request.path, safe=_PATH_SAFE)
    query = request.query_string.decode("latin-1")  # as sent: never re-quoted
    return f"{path}?{query}" if query else path


def login_required(view: F) -> F:
    """Let only logged-in users into ``view``.

    Others are sent to the log-in page with ``next`` set to come back here,
    and :data:`LOGIN_NEEDED` flashed (category ``"info"``); JSON requests
    get a 401 instead, and no flash, which would wait in the session for
    the next page a browser shows. Responses are sent with
    ``Cache-Control: no-store``, so no cache keeps a logged-in page.
    """

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> Response:
        if not current_user.is_authenticated:
            return _send_to("rivo_users.login", LOGIN_NEEDED, "authentication")
        response = make_response(current_app.ensure_sync(view)(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        return response

    return t.cast("F", wrapper)


def _stamp_authenticated(current: RivoSession) -> None:
    current[AUTHENTICATED_AT] = int(RivoSessions.interface().now())


def confirm_login() -> None:
    """Mark the current session's user as having just proved who they are.

    Call it after checking a password (or another authenticator) of an
    already logged-in user; :func:`login_user` does the same. Sensitive
    pages (:func:`fresh_login_required`) then open without asking again for
    ``RIVO_REAUTH_WINDOW``. The session gets a new ID, as on any raise of
    privilege (OWASP Session Management Cheat Sheet). Flask-Login's name.
    """
    current = _rivo_session()
    current.regenerate()
    _stamp_authenticated(current)


def is_fresh() -> bool:
    """Whether the logged-in user proved who they are within
    ``RIVO_REAUTH_WINDOW`` (a log-in or :func:`confirm_login`).

    A session from before the stamp existed, or with a stamp from further in
    the future than the window (a clock far off), is not fresh. A stamp
    slightly in the future (another server's clock a little ahead) is.
    """
    if not current_user.is_authenticated:
        return False
    stamp = _rivo_session().get(AUTHENTICATED_AT)
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        return False
    window = users_state().settings().reauth_window
    return abs(RivoSessions.interface().now() - stamp) < window


def reauthentication_needed() -> Response:
    """Send the logged-in user to confirm their password, then back here
    (see :func:`fresh_login_required`); for JSON requests a 401."""
    return _send_to("rivo_users.reauthenticate", REAUTH_NEEDED, "re-authentication")


def _send_to(endpoint: str, message: t.Any, needed: str) -> Response:
    """Turn a visitor away to ``endpoint``, with ``next`` to come back here
    and ``message`` flashed; a JSON request gets a 401 instead, and no
    flash, which would wait in the session for the next page a browser
    shows. Never cached."""
    response: Response
    if _wants_json():
        response = jsonify(error=f"{needed} required")
        response.status_code = 401
    else:
        flash(str(message), "info")
        response = redirect(url_for(endpoint, next=current_path()))
    response.headers["Cache-Control"] = "no-store"
    return response


def fresh_login_required(view: F) -> F:
    """Let into ``view`` only users who logged in, or confirmed their
    password, within ``RIVO_REAUTH_WINDOW`` (default 10 minutes).

    For sensitive actions (OWASP ASVS 4.0 V3.7.1, NIST SP 800-63B §4.2.3 /
    §7.2: re-authentication before a change of credentials). Visitors not
    logged in are handled as by :func:`login_required`; a logged-in user
    whose log-in is older is sent to the re-authentication page
    (``rivo_users.reauthenticate``) with ``next`` set to come back here, and
    :data:`REAUTH_NEEDED` flashed; JSON requests get a 401. A form posted
    after the window closed is not acted on: the person confirms their
    password and then sees the page again. Flask-Login's name.
    """
    guarded = login_required(view)

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> Response:
        if current_user.is_authenticated and not is_fresh():
            return reauthentication_needed()
        return t.cast("Response", guarded(*args, **kwargs))

    return t.cast("F", wrapper)
