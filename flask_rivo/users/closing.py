"""Closing an account: the password, then everything goes.

The person confirms with their password (a wrong one counts toward the
log-in throttle). The application deletes its own data of the user in a
:data:`~.signals.user_closing` receiver, in the same database session, so
that one commit removes both; every session of the user ends; the user is
deleted through the user store; a notice goes to the address.
"""

from __future__ import annotations

import enum
import typing as t

from flask import current_app

from ..i18n import gettext as _
from ..sessions import RivoSessions
from . import shared
from .auth import logout_user
from .signals import user_closing
from .state import users_state

if t.TYPE_CHECKING:
    from .models import User


class CloseOutcome(enum.Enum):
    """How a request to close an account ended."""

    CLOSED = "closed"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a name, not a password)
    THROTTLED = "throttled"


def close_account(user: User, password: str) -> tuple[CloseOutcome, float]:
    """Close ``user``'s account if ``password`` is theirs.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    :raises ~.models.UserChangedError: when the password changed (or the
        account was closed) while this one was checked: nothing is changed.
    """
    checked = user.password_hash
    right, wait = shared.password_attempt(user, password, known_browser=True)
    if wait > 0:
        return CloseOutcome.THROTTLED, wait
    if not right:
        return CloseOutcome.WRONG_PASSWORD, 0.0
    state = users_state()
    email, site = user.email, current_app.config["RIVO_SITE_NAME"]
    user_id = user.get_id()
    # A password reset while this one was checked wins: a thief's stale
    # password does not close the account the owner just took back.
    shared.still_holds(user, "password_hash", checked)
    user_closing.send(shared.app(), user=user)
    logout_user()  # this session's record goes when the response is saved
    state.store.delete(user)
    state.store.commit()
    # After the commit: the row's lock is released before the session store
    # (which may be the same SQLite file) is written.
    RivoSessions().end_user_sessions(user_id)
    shared.notify(
        email,
        "account_closed",
        _("Your %(site)s account was closed", site=site),
        site=site,
    )
    return CloseOutcome.CLOSED, 0.0
