"""Changing a logged-in account's address and password, apart from HTTP.

Every change takes the current password, checked under the log-in throttle:
a session left open on a shared computer, or stolen, is not enough to take
the account over. A new password applies at once and ends every other
session of the user; a new address applies only once its link is followed
and the account's password entered (:func:`.accounts.confirm`), and until
then the account keeps working under the old one. The old address is told
of either change.

Asking for an address that already has an account looks, to the one who
asks, exactly like asking for a free one: the same page, the same pending
address, the same notice to their own address, and any earlier link dies
in both cases. Only the address's owner learns of it, by a notice instead of
a link.
"""

from __future__ import annotations

import enum
import typing as t

from flask import current_app

from ..i18n import gettext as _
from . import shared
from .auth import log_in_again
from .mail import external_url
from .mail import send_email
from .passwords import hash_password
from .state import users_state
from .throttle import take_mail_quota

if t.TYPE_CHECKING:
    from .models import User


class ChangeOutcome(enum.Enum):
    """How a request to change the account ended."""

    #: Done: the password is changed, the new address's link is on its way.
    OK = "ok"
    #: Not the account's current password: nothing changed.
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a name, not a password)
    #: Too many failed passwords for this account or client: wait.
    THROTTLED = "throttled"


def change(
    user: User,
    current_password: str,
    *,
    email: str | None = None,
    password: str | None = None,
) -> tuple[ChangeOutcome, float]:
    """Change the address (pending until confirmed), the password, or both.

    The current password is counted as a log-in attempt on the account
    (this browser's device bucket if it has one), so wrong ones slow down
    and then stop whoever tries them. A new password ends every other
    session of the user, and this one goes on under a new session ID.

    :param email: the new normalized address, or ``None`` to keep it.
    :param password: the new password (already checked by
        ``reasonable_password``), or ``None`` to keep it.
    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    :raises ~.mail.MailError: when an email could not be sent; nothing is
        committed, and the caller rolls back.
    :raises ~.models.UserChangedError: when the account's password changed
        (or the account was closed) while this one was checked: nothing is
        changed.
    """
    checked = user.password_hash
    right, wait = shared.password_attempt(user, current_password, known_browser=True)
    if wait > 0:
        return ChangeOutcome.THROTTLED, wait
    if not right:
        return ChangeOutcome.WRONG_PASSWORD, 0.0
    state = users_state()
    if email is not None:
        _ask_for_address(user, email)
    new_hash = None
    if password is not None:
        new_hash = hash_password(password, state.settings().bcrypt_rounds)
    _notify_owner(user, new_email=email, new_password=password is not None)
    # A reset (or a closing) that committed while the password was checked,
    # hashed and mailed about wins: a thief's stale change must not put
    # their password back, nor end the sessions the reset made.
    shared.still_holds(user, "password_hash", checked)
    if new_hash is not None:
        user.password_hash = new_hash
    state.store.commit()
    if password is not None:
        # A new ID and the new credentials digest for this session; the
        # others end now (and would at their next request, by the digest).
        # Forced as the session was: an account the application let in
        # unconfirmed stays in, as a confirmed one does; remembered too.
        log_in_again(user)
        state.store.commit()
        shared.end_other_sessions(user)
    return ChangeOutcome.OK, 0.0


def _ask_for_address(user: User, email: str) -> None:
    """Make ``email`` the pending address, with a fresh token, and tell it.

    Whether or not the address has an account, the pending address and a
    new token are stored, so an earlier link dies either way and the change
    page shows the same. A free address gets the link; one with an account
    gets a notice instead, and its token is never sent, so it can never be
    confirmed. An address past its hourly mail quota gets nothing, and the
    rest looks the same (as on the sign-up page).
    """
    holder = users_state().store.by_email(email)
    recipient = email if holder is None else holder.email
    quota = take_mail_quota(shared.session_store(), recipient, shared.now())
    user.pending_email = email
    if holder is None and quota:
        shared.send_verification(user)
        return
    shared.issue_verification(user)
    if quota and holder is not None:
        site = current_app.config["RIVO_SITE_NAME"]
        send_email(
            "change_taken_notice",
            holder.email,
            _("Someone tried to move a %(site)s account to your address", site=site),
            login_link=external_url("rivo_users.login"),
        )


def mask(address: str) -> str:
    """``ann@example.com`` as ``a***@example.com``.

    The notice to the old address names the new one this way: enough for
    the owner to recognise an address of theirs, or to see that it is not,
    without handing the full address to whoever reads the old mailbox.
    """
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def _notify_owner(user: User, *, new_email: str | None, new_password: bool) -> None:
    """Tell the account's address what was changed, and what to do if it
    was not its owner.

    Not counted against the mail quota: only the account's owner (or who
    holds the password) can cause it, and a quota used up by strangers'
    sign-ups must not silence it.
    """
    site = current_app.config["RIVO_SITE_NAME"]
    send_email(
        "change_notice",
        user.email,
        _("Your %(site)s account was changed", site=site),
        new_email=None if new_email is None else mask(new_email),
        new_password=new_password,
        when=shared.moment(),
        reset_link=shared.link_if_routed("rivo_users.forgotten_password"),
        login_link=external_url("rivo_users.login"),
    )
