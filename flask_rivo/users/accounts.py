"""The account workflows, apart from HTTP: sign up, verify, log in.

Views stay thin; each step here follows rivo/users' rules, above all that
no answer, email, status code or timing tells whether an address has an
account.
"""

from __future__ import annotations

import enum
import typing as t

from flask import current_app
from flask import request
from flask import session

from ..i18n import gettext as _
from . import agents
from . import devices
from . import halfway
from . import shared
from .auth import abandon_login
from .auth import login_user
from .mail import external_url
from .mail import send_email
from .models import User
from .models import UserChangedError
from .models import UserConflictError
from .models import UserState
from .passwords import check_password
from .passwords import dummy_check
from .passwords import hash_password
from .passwords import needs_rehash
from .signals import user_login_failed
from .signals import user_signed_up
from .signals import user_verified
from .state import users_state
from .throttle import take_mail_quota
from .tokens import is_fresh
from .tokens import is_token
from .tokens import token_hash


def sign_up(email: str, password: str) -> None:
    """Create an account, or do what rivo does for a known address.

    * new address: a ``created`` account and a verification link;
    * ``created`` (never verified) account: the new password replaces the
      old one and a fresh link is sent, so whoever pre-registered somebody
      else's address gains nothing;
    * any other account: it stays as it was; its owner gets a notice.

    Every branch hashes one password and sends one email, so they take the
    same time. An address gets at most ``MAIL_PER_HOUR`` such emails an
    hour; past that nothing changes, no
    password is hashed, and the page still looks the same. The caller
    commits; a :class:`~.mail.MailError` means nothing should be.
    """
    state = users_state()
    user = state.store.by_email(email)
    # Counted by the address the email goes to, as the account has it: no
    # spelling that reaches the account gets a quota of its own.
    recipient = email if user is None else user.email
    quota = take_mail_quota(shared.session_store(), recipient, shared.now())
    if not quota:
        return  # this account had its emails for the hour; the page looks the same
    password_hash = hash_password(password, state.settings().bcrypt_rounds)
    if user is None:
        user = state.store.create(email, password_hash)
        shared.send_own_verification(user)
        user_signed_up.send(shared.app(), user=user)
    elif user.state is UserState.CREATED:
        user.password_hash = password_hash
        shared.send_own_verification(user)
        try:
            # Confirmed (or closed) while the password was hashed and the
            # link mailed: the owner's confirmation wins, and this sign-up
            # changes nothing (the page looks the same; the link is dead).
            shared.still_holds(user, "state", UserState.CREATED)
        except UserChangedError:
            return
    else:
        send_email(
            "signup_notice",
            user.email,
            _(
                "Someone tried to sign up to %(site)s with your address",
                site=current_app.config["RIVO_SITE_NAME"],
            ),
            login_link=external_url("rivo_users.login"),
        )


class Link(enum.Enum):
    """What an emailed verification link leads to."""

    #: A fresh token: the page asks for the account's password.
    OPEN = "open"
    #: The token was used: the address is confirmed already.
    USED = "used"
    #: Unknown, replaced by a newer link, or expired.
    DEAD = "dead"


def verification_link(token: str | None) -> tuple[Link, User | None]:
    """Where a verification link stands, and its user while it is open.

    A used token keeps its hash (with no creation time, so it never works
    again), so that opening the link a second time can say "already
    confirmed: log in" instead of "sign up again".
    """
    if not is_token(token):
        return Link.DEAD, None
    state = users_state()
    user = state.store.by_token(
        "verification_token_hash", token_hash(t.cast("str", token))
    )
    if user is None or user.state is UserState.EXPIRED:
        return Link.DEAD, None
    if user.verification_created_at is None:
        return (Link.USED if user.state is UserState.VERIFIED else Link.DEAD), None
    ttl = state.settings().verification_ttl
    if not is_fresh(user.verification_created_at, ttl, shared.now()):
        return Link.DEAD, None
    return Link.OPEN, user


class ConfirmOutcome(enum.Enum):
    """How the POST of a verification page ended."""

    #: Confirmed, and logged in.
    OK = "ok"
    #: Not the password the account has: nothing changed.
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a name, not a password)
    #: Too many failures for this account or client: wait.
    THROTTLED = "throttled"
    #: The link is dead (see :class:`Link`), or was replaced or used while
    #: the password was being checked.
    DEAD = "dead"
    #: A new address that another account took since the change was asked
    #: for: nothing changed.
    TAKEN = "taken"
    #: Confirmed; the account has a second factor, so the log-in waits for
    #: a code (see :mod:`.halfway`).
    TWO_FACTOR = "two_factor"


def confirm(token: str | None, password: str) -> tuple[ConfirmOutcome, float]:
    """Confirm an address with the link's token and the account's password.

    The one who confirms must know the password the account will have, so an
    address somebody else signed up can never be confirmed, by its owner's
    click, with that somebody's password (account pre-hijacking). Wrong
    passwords count toward the log-in throttle.

    The token is used up by a compare-and-swap
    (:meth:`~.models.UserStore.consume_token`) that also checks the pending
    address: a change of address asked for again while this one's password
    was checked replaces the link, and then this confirmation fails, rather
    than confirm an address whose link nobody opened. A password reset
    meanwhile makes the password typed a wrong one, and a state the site
    set meanwhile stays (:func:`.shared.still_holds`). The confirmation is
    committed here, before the log-in: a new address that another account
    took meanwhile breaks the unique rule and leaves everything as it was.
    A success logs the person in with a new session ID (a confirmed new
    address also ends the user's other sessions); the caller commits the
    log-in time.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    """
    _link, user = verification_link(token)
    if user is None:
        return ConfirmOutcome.DEAD, 0.0
    checked, read = user.password_hash, user.state
    right, wait = shared.password_attempt(user, password, known_browser=True)
    if wait > 0:
        return ConfirmOutcome.THROTTLED, wait
    if not right:
        return ConfirmOutcome.WRONG_PASSWORD, 0.0
    second_factor = halfway.has_second_factor(user)
    if not second_factor:
        devices.remember(shared.account_key(user, user.email))
    store = users_state().store
    hashed = token_hash(t.cast("str", token))
    if not store.consume_token(user, "verification_token_hash", hashed):
        store.rollback()
        return ConfirmOutcome.DEAD, 0.0
    try:
        # The password checked is still the account's (not reset meanwhile),
        # and the state read still its state (not closed by the site).
        shared.still_holds(user, "password_hash", checked)
        shared.still_holds(user, "state", read)
    except UserChangedError:
        return ConfirmOutcome.WRONG_PASSWORD, 0.0
    changed_address = user.pending_email is not None
    if user.pending_email:
        user.email, user.pending_email = user.pending_email, None
    if user.state is UserState.CREATED:
        user.state = UserState.VERIFIED
    user.verified_at = shared.moment()
    try:
        store.commit()
    except UserConflictError:
        return ConfirmOutcome.TAKEN, 0.0
    user_verified.send(shared.app(), user=user)
    if second_factor:
        # The link and the password are one factor's worth: the log-in
        # waits for a code, as after the log-in page's password.
        halfway.begin(user, remember=False)
        shared.end_other_sessions(user)
        return ConfirmOutcome.TWO_FACTOR, 0.0
    # Kept as it was if this browser was logged in ("Stay logged in" on a
    # changed address confirmed where the change was made).
    login_user(user, remember=session.permanent)
    if changed_address:
        # The digest ends them anyway at their next request; this ends them now.
        shared.end_other_sessions(user)
    return ConfirmOutcome.OK, 0.0


class LoginOutcome(enum.Enum):
    """How a log-in attempt ended."""

    OK = "ok"
    #: Wrong password, or no such account: the user is not told which.
    WRONG = "wrong"
    #: The right password, for an account whose address is not verified;
    #: answered as :attr:`WRONG`.
    UNVERIFIED = "unverified"
    #: The right password, for an account the site has closed; answered
    #: (and counted) as :attr:`WRONG`.
    INACTIVE = "inactive"
    #: Too many failures: wait before trying again.
    THROTTLED = "throttled"
    #: The right password, for an account with a second factor: the log-in
    #: waits for a code on the second page (see :mod:`.halfway`).
    TWO_FACTOR = "two_factor"


def log_in(email: str, password: str, *, remember: bool) -> tuple[LoginOutcome, float]:
    """Check a log-in attempt and, if it is right, log the user in (or, for
    an account with a second factor, start the half-way state that waits
    for it).

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    """
    state = users_state()
    settings = state.settings()
    throttle = shared.throttle()
    address = request.remote_addr or ""
    user = state.store.by_email(email)
    account = shared.account_key(user, email)
    device = devices.nonce_for(account) if user is not None else None
    wait = throttle.claim(account, address, device)
    if wait > 0:
        user_login_failed.send(shared.app(), email=email, reason="throttled")
        return LoginOutcome.THROTTLED, wait
    if user is None:
        dummy_check(password, settings.bcrypt_rounds)  # the same cost as a real check
        right = False
    else:
        right = check_password(password, user.password_hash)
    if not right or user is None:
        user_login_failed.send(shared.app(), email=email, reason="password")
        return LoginOutcome.WRONG, 0.0
    if user.state is UserState.CREATED:
        # Answered (and counted) as a wrong password: anyone can sign up an
        # address with a password of their choice, so "not confirmed yet"
        # would tell them the address had no account before.
        user_login_failed.send(shared.app(), email=email, reason="unverified")
        return LoginOutcome.UNVERIFIED, 0.0
    if user.state is not UserState.VERIFIED:
        # Answered (and counted) as a wrong password too: "closed" to the
        # right password only would tell a guesser the password is right,
        # one they may try on other sites (OWASP: one message for all).
        user_login_failed.send(shared.app(), email=email, reason="inactive")
        return LoginOutcome.INACTIVE, 0.0
    throttle.succeeded(account, address, device)
    try:
        if needs_rehash(user.password_hash, settings.bcrypt_rounds):
            # The same password, hashed anew, only in place of the hash it
            # was checked against: never over a password reset meanwhile.
            checked = user.password_hash
            rehashed = hash_password(password, settings.bcrypt_rounds)
            shared.still_holds(user, "password_hash", checked)
            user.password_hash = rehashed
        if halfway.has_second_factor(user):
            # Not logged in yet: the second page asks for a code. The device
            # cookie and the new-device notice wait for it too.
            state.store.commit()
            halfway.begin(user, remember=remember)
            return LoginOutcome.TWO_FACTOR, 0.0
    except UserChangedError:
        # Its password reset, or the account deleted, since the check.
        user_login_failed.send(shared.app(), email=email, reason="password")
        return LoginOutcome.WRONG, 0.0
    if not finish_log_in(user, remember=remember):
        user_login_failed.send(shared.app(), email=email, reason="password")
        return LoginOutcome.WRONG, 0.0
    return LoginOutcome.OK, 0.0


def finish_log_in(
    user: User,
    *,
    remember: bool,
    notice: t.Callable[[User], None] | None = None,
) -> bool:
    """Log ``user`` in once every factor of theirs checked out.

    The steps after the last factor, the same for every way in (a password
    alone, a password and a TOTP or recovery code, a passkey, which counts
    as both factors): the session gets a new ID and the user
    (:func:`~.auth.login_user`, which sets ``last_login_at``), any
    half-way state of a log-in is dropped, the change is committed, the
    browser gets a fresh device cookie for the account, and a browser that
    had none is told to the owner (``RIVO_NOTIFY_NEW_DEVICE``).

    The caller has checked the factors (and counted them in the throttles)
    and that the account may log in.

    :param remember: keep the session cookie past the browser's closing.
    :param notice: sends the new-browser notice, for a way in whose notice
        says more (a passkey's names it); by default the password's.
    :returns: whether the user is logged in now (``False`` for an account
        that may not log in, or that was deleted since its factors were
        checked: nothing is done then).
    """
    state = users_state()
    account = shared.account_key(user, user.email)
    known = devices.nonce_for(account) is not None
    if not login_user(user, remember=remember):
        return False
    halfway.clear()
    try:
        state.store.commit()
    except UserChangedError:
        abandon_login()
        return False
    devices.remember(account)
    if not known and state.settings().notify_new_device:
        (notice or _notify_new_device)(user)
    return True


def _notify_new_device(user: User) -> None:
    """Tell the owner of a log-in from a browser that had not logged in to
    the account before. The log-in stands whether the notice goes out."""
    site = current_app.config["RIVO_SITE_NAME"]
    shared.notify(
        user.email,
        "new_device",
        _("A new log-in to your %(site)s account", site=site),
        browser=agents.describe(request.headers.get("User-Agent")),
        client=agents.where(request.remote_addr),
    )
