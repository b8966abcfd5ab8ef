"""The half-way state of a log-in: the password was right, the second
factor is still to come.

Kept in the server-side session, never in a cookie of its own, so it is
bound to the browser whose session it is (and to its fingerprint); it dies
with the session, at log-out, and after ``RIVO_TWO_FACTOR_TTL``. It keeps
the credentials digest of the moment the password was checked: a password
changed or reset, a second factor turned off, or an account closed in
between makes it worthless (OWASP MFA Cheat Sheet: the state between the
factors must not be a way around either of them).
"""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import g
from flask import session

from . import binding
from . import shared
from .auth import AUTHENTICATED_AT
from .state import users_state

if t.TYPE_CHECKING:
    from ..session import RivoSession
    from .models import User

#: The session key of the half-way state.
SESSION_KEY = "_rivo_2fa"


def has_second_factor(user: User) -> bool:
    """Whether ``user`` logs in with a second factor (a user object of an
    application's own store without the column has none)."""
    return getattr(user, "totp_secret", None) is not None


def _session() -> RivoSession:
    return t.cast("RivoSession", session._get_current_object())  # type: ignore[attr-defined]


def begin(user: User, *, remember: bool) -> None:
    """Note that ``user`` gave the right password in this browser.

    The session gets a new ID first (and loses its CSRF secret), as at a
    log-in: an ID planted in the browser before is no way into the second
    step. A user logged in to the session before is logged out of it.
    """
    current = _session()
    current.regenerate()
    current.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    if current.user_id is not None:
        # Whoever was logged in here is not any more: the session now
        # belongs to the one log-in that waits for its second factor.
        current.user_id = None
        current.pop(binding.SESSION_KEY, None)
        current.pop(AUTHENTICATED_AT, None)
    g.pop("rivo_user", None)
    current[SESSION_KEY] = {
        "user": user.get_id(),
        "remember": remember,
        "at": shared.now(),
        "auth": binding.credentials_digest(user),
    }


def pending() -> tuple[User, bool] | None:
    """The user waiting for a second factor in this session, and whether
    they asked to stay logged in; ``None`` (and the state forgotten) when
    there is none, or it expired, or the account changed since.
    """
    current = _session()
    state = current.get(SESSION_KEY)
    if not isinstance(state, dict):
        return None
    user = _still_valid(state)
    if user is None:
        current.pop(SESSION_KEY, None)
        return None
    return user, state.get("remember") is True


def _still_valid(state: dict[str, t.Any]) -> User | None:
    started = state.get("at")
    user_id = state.get("user")
    if not isinstance(started, float) or not isinstance(user_id, str):
        return None
    age = shared.now() - started
    if not 0 <= age <= users_state().settings().two_factor_ttl:
        return None
    user = users_state().user_loader(user_id)
    if user is None or not getattr(user, "is_active", False):
        return None
    if not has_second_factor(user) or not binding.matches(user, state.get("auth")):
        return None
    return user


def clear() -> None:
    """Forget the half-way state (the log-in finished, or was given up)."""
    _session().pop(SESSION_KEY, None)
