"""What the account workflows share: the clock, the counters, links, mails.

Below every workflow module (sign-up, log-in, recovery, changes), above the
state, models and throttles.
"""

from __future__ import annotations

import contextlib
import typing as t
from datetime import datetime
from datetime import timezone

from flask import current_app
from flask import request

from ..i18n import gettext as _
from ..sessions import RivoSessions
from . import devices
from .mail import MailError
from .mail import external_url
from .mail import send_email
from .models import UserChangedError
from .passwords import check_password
from .signals import user_login_failed
from .state import users_state
from .throttle import Throttle
from .throttle import take_client_budget
from .tokens import new_token

if t.TYPE_CHECKING:
    from ..stores.base import SessionStore
    from .models import User


def now() -> float:
    """The time, from the one clock hook tests can move."""
    return RivoSessions.interface().now()


def session_store() -> SessionStore:
    """The application's session store, where the counters live."""
    return RivoSessions.interface().store


def spend_client_budget() -> float:
    """Count a costly anonymous POST (one that hashes a password or sends an
    email) against the client's address: 0 if it may go ahead, else the
    seconds to wait (HTTP 429).

    Checked before the work, so a dropped request costs nothing.
    """
    settings = users_state().settings()
    address = request.remote_addr or ""
    return take_client_budget(
        session_store(), address, now(), settings.costly_posts_per_hour
    )


def moment() -> datetime:
    return datetime.fromtimestamp(now(), tz=timezone.utc)


def app() -> t.Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def swap(user: User, column: str, expected: object, value: object) -> bool:
    """Change one column of ``user`` by :meth:`~.models.UserStore.swap` (a
    compare-and-swap), and end the transaction at once.

    For what one request reads and another may change meanwhile: a
    single-use code, the passkeys. Committed at once, the change stands for
    good, and the row's lock is released before the request writes to the
    session store (which may be the same SQLite file). When the stored value
    was no longer ``expected``, nothing is written and the transaction is
    rolled back, so what the request reads next is as stored now.

    :returns: whether the stored user still held ``expected``.
    """
    store = users_state().store
    if store.swap(user, column, expected, value):
        store.commit()
        return True
    store.rollback()
    return False


def issue_verification(user: User) -> str:
    """Give ``user`` a fresh verification token and return it raw.

    The token replaces any earlier one, so an earlier link stops working.
    """
    raw, hashed = new_token()
    user.verification_token_hash = hashed
    user.verification_created_at = moment()
    return raw


def send_verification(user: User) -> None:
    """Email a fresh verification link to the address waiting for it: the
    pending new address of a change, else the account's own."""
    raw = issue_verification(user)
    send_email(
        "verify",
        user.pending_email or user.email,
        _(
            "Confirm your email address for %(site)s",
            site=current_app.config["RIVO_SITE_NAME"],
        ),
        link=external_url("rivo_users.verify", token=raw),
        ttl=users_state().settings().verification_ttl,
        change=user.pending_email is not None,
    )


def send_own_verification(user: User) -> None:
    """Email a never-verified account a fresh link for its own address.

    For a link asked for by the account's address (signing up with it again,
    a fresh link, a forgotten password): the link goes to that address, as
    the account has it, and confirms it. A change of address the account
    asked for (it can only when the application let it in with
    ``login_user(force=True)``) is dropped: the link would otherwise go to
    the pending address, which nobody asked about and whose hourly quota
    was not counted, and confirm it in place of the address typed.
    """
    user.pending_email = None
    send_verification(user)


def end_other_sessions(user: User) -> None:
    """End every session of ``user`` but the current one.

    Called after a change of credentials, once it is committed, and after
    :func:`~.auth.login_user` gave the current session the new digest.
    """
    RivoSessions().end_user_sessions(user.get_id(), keep_current=True)


def still_holds(user: User, column: str, checked: object) -> None:
    """Make sure the stored ``user`` still holds ``checked`` in ``column``
    (the password hash a workflow checked, the state it read), and keep it
    so until the commit.

    Called by every workflow that checks the account, then does something
    slow (a bcrypt hash, an email) and then writes it, right before the
    write: a password reset, a confirmation or a deletion that another
    request committed meanwhile wins, and this request's stale changes are
    dropped instead of undoing it. A swap of the value for itself
    (:meth:`~.models.UserStore.swap`), so the database's lock on the row
    holds the check until the commit; commit soon after, and before the
    session store is written (it may be the same SQLite file).

    :raises ~.models.UserChangedError: it holds something else now, or the
        user was deleted; this request's changes are rolled back.
    """
    store = users_state().store
    if not store.swap(user, column, checked, checked):
        store.rollback()
        raise UserChangedError(f"the account's {column} changed meanwhile")


def account_key(user: User | None, email: str) -> str:
    """What the counters protecting an account are keyed by: the account.

    Keyed by the user's ID, not by the address typed, no spelling of an
    address that reaches the account escapes them; an address without an
    account is counted by itself (the same work, so the same time).
    """
    return f"email:{email}" if user is None else f"user:{user.get_id()}"


def throttle() -> Throttle:
    """The log-in throttle for an attempt made now."""
    settings = users_state().settings()
    return Throttle(
        session_store(),
        now(),
        settings.login_free_attempts,
        settings.login_address_free_attempts,
        settings.login_max_delay,
    )


def notify(address: str, template: str, subject: str, **context: t.Any) -> None:
    """Email an account's owner a notice of something already done.

    The deed stands whether the notice goes out or not: a mail failure is
    logged (by :func:`~.mail.send_email`), never raised.
    """
    context.setdefault("when", moment())
    context.setdefault("login_link", external_url("rivo_users.login"))
    context.setdefault("sessions_link", link_if_routed("rivo_users.sessions"))
    with contextlib.suppress(MailError):
        send_email(template, address, subject, **context)


def password_attempt(
    user: User, password: str, *, known_browser: bool
) -> tuple[bool, float]:
    """Check ``user``'s password as a log-in attempt on the account.

    Every page that asks for the account's password (confirming an
    address, changing it) counts under the log-in throttle, so none of them
    is a way around it. With ``known_browser`` the attempt goes to this
    browser's device bucket if it has one for the account (see
    :mod:`.devices`). Failures send ``user_login_failed``.

    :returns: whether the password is right, and the seconds to wait when
        the attempt was throttled (the password then unchecked).
    """
    attempts = throttle()
    client = request.remote_addr or ""
    account = account_key(user, user.email)
    device = devices.nonce_for(account) if known_browser else None
    wait = attempts.claim(account, client, device)
    if wait > 0:
        user_login_failed.send(app(), email=user.email, reason="throttled")
        return False, wait
    if not check_password(password, user.password_hash):
        user_login_failed.send(app(), email=user.email, reason="password")
        return False, 0.0
    attempts.succeeded(account, client, device)
    return True, 0.0


def link_if_routed(endpoint: str) -> str | None:
    """An emailed link to ``endpoint``, if the application serves it."""
    if endpoint not in current_app.view_functions:
        return None
    return external_url(endpoint)
