"""Getting back into an account: a forgotten password and its reset, and a
fresh verification link.

As everywhere in rivo/users, no answer, email count, status code or timing
tells whether an address has an account: every address typed gets exactly
one email (within its hourly quota), only its content differs, and it goes
to the address as the account has it, never to the string typed.
"""

from __future__ import annotations

import enum
import typing as t

from flask import current_app
from flask import request
from flask import session

from ..i18n import gettext as _
from ..sessions import RivoSessions
from . import devices
from . import halfway
from . import shared
from .agents import where
from .auth import login_user
from .mail import external_url
from .mail import send_email
from .models import UserChangedError
from .models import UserState
from .passwords import hash_password
from .signals import user_password_reset
from .state import users_state
from .throttle import take_mail_quota
from .throttle import unlock
from .tokens import is_fresh
from .tokens import is_token
from .tokens import new_token
from .tokens import token_hash

if t.TYPE_CHECKING:
    from .models import User

#: The session key that holds a reset token between the emailed link and the
#: form, so that it leaves the address bar (and every Referer) at once.
RESET_TOKEN_KEY = "_rivo_reset"  # noqa: S105 (a key name, not a secret)


def _site() -> str:
    return str(current_app.config["RIVO_SITE_NAME"])


def _notice(user: User | None, address: str) -> None:
    """The email for an address that gets no link: why not, and what to do."""
    if user is None:
        reason = "no_account"
    elif user.state is UserState.EXPIRED:
        reason = "closed"
    else:
        reason = "confirmed"
    send_email(
        "address_notice",
        address,
        _("About your email address at %(site)s", site=_site()),
        reason=reason,
        address=address,
        signup_link=external_url("rivo_users.signup"),
        login_link=external_url("rivo_users.login"),
        reset_link=external_url("rivo_users.forgotten_password"),
    )


def _recipient(email: str) -> tuple[User | None, str, bool]:
    """The account of ``email``, the address mail goes to, and whether the
    address's hourly quota of account emails allows one more."""
    user = users_state().store.by_email(email)
    address = email if user is None else user.email
    return user, address, take_mail_quota(shared.session_store(), address, shared.now())


def forgotten_password(email: str) -> None:
    """Send what ``email`` needs to get back in, whatever it is.

    * a verified account: a single-use reset link (``RIVO_RESET_TTL``),
      replacing any earlier one;
    * a never-verified account: a fresh verification link instead, since a
      reset would not let it in;
    * a closed account, or no account: a short notice saying so.

    The caller commits; a :class:`~.mail.MailError` means nothing should be.
    """
    user, address, quota = _recipient(email)
    if not quota:
        return  # the hour's emails to this address are spent; the page is the same
    if user is None or user.state is UserState.EXPIRED:
        _notice(user, address)
    elif user.state is UserState.CREATED:
        shared.send_own_verification(user)
    else:
        raw, hashed = new_token()
        user.reset_token_hash = hashed
        user.reset_created_at = shared.moment()
        send_email(
            "reset",
            address,
            _("Reset your password for %(site)s", site=_site()),
            link=external_url("rivo_users.reset_password", token=raw),
            ttl=users_state().settings().reset_ttl,
        )


def resend_verification(email: str) -> None:
    """Send a never-verified account a fresh verification link.

    Other addresses get a notice instead (already confirmed, closed, or no
    account), so that the answer takes the same time for every address. The
    caller commits.
    """
    user, address, quota = _recipient(email)
    if not quota:
        return
    if user is not None and user.state is UserState.CREATED:
        shared.send_own_verification(user)
    else:
        _notice(user, address)


def user_for_reset(token: str | None) -> User | None:
    """The verified user a reset token belongs to, while the token works."""
    if not is_token(token):
        return None
    state = users_state()
    user = state.store.by_token("reset_token_hash", token_hash(t.cast("str", token)))
    if user is None or user.state is not UserState.VERIFIED:
        return None
    if not is_fresh(user.reset_created_at, state.settings().reset_ttl, shared.now()):
        return None
    return user


def keep_reset_token(token: str) -> None:
    """Move the token of an opened reset link into the session."""
    session[RESET_TOKEN_KEY] = token


def kept_reset_token() -> str | None:
    """The reset token this browser opened a link with, if any."""
    token = session.get(RESET_TOKEN_KEY)
    return token if isinstance(token, str) else None


class ResetOutcome(enum.Enum):
    """How the POST of the reset form ended."""

    OK = "ok"
    #: The token was used, replaced or expired meanwhile.
    DEAD = "dead"
    #: The password is set; the account has a second factor, so the log-in
    #: waits for a code (see :mod:`.halfway`).
    TWO_FACTOR = "two_factor"


def reset_password(token: str | None, password: str) -> ResetOutcome:
    """Set a new password with a reset token, and log the person in.

    The token dies; every session of the user ends (a thief's included); the
    lock that 100 failures from unknown browsers put on the account is
    lifted; the person is logged in with a new session (for an account
    with a second factor, the log-in waits for a code); a notice goes to the
    address. The new password is committed here; the caller commits the
    rest (the time of the log-in).
    """
    user = user_for_reset(token)
    if user is None:
        return ResetOutcome.DEAD
    state = users_state()
    # Used up first, as a compare-and-swap: two submissions of one link, or a
    # link replaced meanwhile, cannot both set a password.
    hashed = token_hash(t.cast("str", token))
    if not state.store.consume_token(user, "reset_token_hash", hashed):
        state.store.rollback()
        return ResetOutcome.DEAD
    try:
        # Still verified: an account the site closed meanwhile stays closed.
        shared.still_holds(user, "state", UserState.VERIFIED)
    except UserChangedError:
        return ResetOutcome.DEAD
    user.password_hash = hash_password(password, state.settings().bcrypt_rounds)
    user.reset_token_hash = None
    user.reset_created_at = None
    # Committed before the session store is written: the swap holds a lock on
    # the user until the commit, and the session store may be the same SQLite
    # file.
    state.store.commit()
    session.pop(RESET_TOKEN_KEY, None)
    account = shared.account_key(user, user.email)
    unlock(shared.session_store(), account)
    RivoSessions().end_user_sessions(user.get_id())
    outcome = ResetOutcome.OK
    if halfway.has_second_factor(user):
        # The link proves the mailbox, not the second factor: the log-in
        # still waits for a code (and the device cookie with it).
        halfway.begin(user, remember=False)
        outcome = ResetOutcome.TWO_FACTOR
    else:
        login_user(user)
        devices.remember(account)
    user_password_reset.send(shared.app(), user=user)
    shared.notify(
        user.email,
        "password_changed",
        _("Your password for %(site)s was changed", site=_site()),
        client=where(request.remote_addr),
        reset_link=external_url("rivo_users.forgotten_password"),
    )
    return outcome
