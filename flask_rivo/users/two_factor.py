"""The TOTP second factor's workflows: set it up, use it, turn it off.

Follows NIST SP 800-63B (AAL2: a password and a time-based one-time
password; a code is accepted once, section 5.1.4.2; recovery codes as
look-up secrets, 5.1.2) and the OWASP Multifactor Authentication Cheat
Sheet: setting up and turning off need the password and a code; codes are
throttled per account and per address like passwords, in counters of their
own, so that the right password does not reset the count of wrong codes;
the owner is emailed when the factor changes and when a recovery code is
used; a change ends the account's other sessions.
"""

from __future__ import annotations

import contextlib
import enum
import typing as t

from flask import current_app
from flask import has_request_context
from flask import request
from flask import session

from ..exceptions import ConfigError
from ..i18n import gettext as _
from ..sessions import RivoSessions
from . import devices
from . import halfway
from . import shared
from . import totp
from .accounts import finish_log_in
from .auth import log_in_again
from .signals import recovery_code_used
from .signals import two_factor_disabled
from .signals import two_factor_enabled
from .signals import user_login_failed
from .state import users_state
from .throttle import unlock

if t.TYPE_CHECKING:
    from .models import User

#: The session key of a secret shown for setting up, not yet confirmed.
SETUP_KEY = "_rivo_totp_setup"
#: Added to an account's throttle key for the counters of its codes.
CODE_COUNTERS = ":2fa"


class Outcome(enum.Enum):
    """How a request about the second factor ended."""

    OK = "ok"
    #: Not the account's password: nothing changed.
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a name, not a password)
    #: Not a code of the account (or of the app being set up), or one used
    #: already.
    WRONG_CODE = "wrong_code"
    #: Too many failures for this account or client: wait.
    THROTTLED = "throttled"
    #: No log-in waits for a second factor in this session (none began, it
    #: took too long, or the account changed meanwhile); or no secret
    #: waits for confirmation.
    EXPIRED = "expired"


def is_on(user: User) -> bool:
    """Whether ``user`` logs in with a second factor."""
    return halfway.has_second_factor(user)


def codes_left(user: User) -> int:
    """How many unused recovery codes ``user`` has."""
    return len(totp.code_hashes(user.recovery_codes))


def setup_secret(user: User) -> str:
    """The secret offered to ``user`` for setting up in this session, made
    on first use.

    Kept (encrypted) in the session until it is confirmed, never in the
    user table: reloading the page shows the same QR code, and a secret
    never confirmed is never stored with the account. It is kept with the
    ID of the user it was shown to: a log-in keeps the session's data, and
    a key somebody else saw in this session (one who planted it, or the
    last user of a shared browser) must never be offered to the next.
    """
    secret = _pending_secret(user)
    if secret is None:
        secret = totp.new_secret()
        session[SETUP_KEY] = {"user": user.get_id(), "secret": totp.seal(secret)}
    return secret


def _pending_secret(user: User) -> str | None:
    """The secret :func:`setup_secret` showed ``user`` in this session."""
    pending = session.get(SETUP_KEY)
    if not isinstance(pending, dict) or pending.get("user") != user.get_id():
        return None
    sealed = pending.get("secret")
    if not isinstance(sealed, str):
        return None
    try:
        return totp.unseal(sealed)
    except totp.UnreadableSecret:
        return None


def enable(user: User, password: str, code: str) -> tuple[Outcome, float, list[str]]:
    """Turn the second factor on with the secret of :func:`setup_secret`,
    once the password and a first code from the app check out.

    :returns: the outcome, for ``THROTTLED`` the seconds to wait, and for
        ``OK`` the new recovery codes, to be shown once.
    :raises ~.models.UserChangedError: when the password changed (a reset)
        while this one was checked: nothing is changed.
    """
    checked = user.password_hash
    right, wait = shared.password_attempt(user, password, known_browser=True)
    if wait > 0:
        return Outcome.THROTTLED, wait, []
    if not right:
        return Outcome.WRONG_PASSWORD, 0.0, []
    secret = _pending_secret(user)
    if secret is None or is_on(user):
        return Outcome.EXPIRED, 0.0, []
    step = totp.matching_step(secret, totp.normalize_code(code), shared.now(), None)
    if step is None:
        return Outcome.WRONG_CODE, 0.0, []
    user.totp_secret = totp.seal(secret)
    user.totp_last_step = step
    user.two_factor_since = shared.moment()
    codes = _new_codes(user)
    shared.still_holds(user, "password_hash", checked)
    session.pop(SETUP_KEY, None)
    _changed(user, enabled=True)
    two_factor_enabled.send(shared.app(), user=user)
    return Outcome.OK, 0.0, codes


def disable(user: User, password: str, code: str) -> tuple[Outcome, float]:
    """Turn the second factor off: the password and a code (from the app,
    or a recovery code) are both needed.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    :raises ~.models.UserChangedError: when the password changed (a reset)
        while this one was checked: nothing is changed.
    """
    checked = user.password_hash
    right, wait = shared.password_attempt(user, password, known_browser=True)
    if wait > 0:
        return Outcome.THROTTLED, wait
    if not right:
        return Outcome.WRONG_PASSWORD, 0.0
    outcome, wait = code_attempt(user, code)
    if outcome is not Outcome.OK:
        return outcome, wait
    shared.still_holds(user, "password_hash", checked)
    remove(user)
    _changed(user, enabled=False)
    two_factor_disabled.send(shared.app(), user=user, by="user")
    return Outcome.OK, 0.0


def regenerate(user: User, password: str) -> tuple[Outcome, float, list[str]]:
    """Replace ``user``'s recovery codes with new ones; the old set stops
    working at once, and the owner is emailed.

    :returns: as :func:`enable`.
    :raises ~.models.UserChangedError: when the password changed (a reset)
        while this one was checked: nothing is changed.
    """
    checked = user.password_hash
    right, wait = shared.password_attempt(user, password, known_browser=True)
    if wait > 0:
        return Outcome.THROTTLED, wait, []
    if not right:
        return Outcome.WRONG_PASSWORD, 0.0, []
    if not is_on(user):
        return Outcome.EXPIRED, 0.0, []
    codes = _new_codes(user)
    shared.still_holds(user, "password_hash", checked)
    users_state().store.commit()
    # A new set is a second factor in the hands of whoever made it, and the
    # owner's old codes die: the owner is told (OWASP ASVS 4.0 2.5.5).
    site = current_app.config["RIVO_SITE_NAME"]
    shared.notify(
        user.email,
        "recovery_codes_new",
        _("New recovery codes for your %(site)s account", site=site),
        site=site,
        settings_link=shared.link_if_routed("rivo_users.two_factor"),
    )
    return Outcome.OK, 0.0, codes


def remove(user: User) -> None:
    """Clear ``user``'s second factor (the caller commits, then ends the
    sessions it should: see :func:`_changed`)."""
    user.totp_secret = None
    user.totp_last_step = None
    user.recovery_codes = None
    user.two_factor_since = None


def _new_codes(user: User) -> list[str]:
    codes = totp.new_recovery_codes()
    user.recovery_codes = totp.hashed_codes(codes)
    return codes


def _changed(user: User, *, enabled: bool) -> None:
    """Commit a factor turned on or off, keep this session (with a new ID
    and the new credentials digest), end every other, tell the owner."""
    state = users_state()
    state.store.commit()
    log_in_again(user)
    state.store.commit()
    shared.end_other_sessions(user)
    _tell(user, enabled=enabled)


def _tell(user: User, *, enabled: bool) -> None:
    """Email the owner that the second factor was turned on or off."""
    site = current_app.config["RIVO_SITE_NAME"]
    subject = (
        _("A second factor now protects your %(site)s account", site=site)
        if enabled
        else _("The second factor of your %(site)s account is off", site=site)
    )
    shared.notify(
        user.email,
        "two_factor_changed",
        subject,
        enabled=enabled,
        site=site,
        settings_link=shared.link_if_routed("rivo_users.two_factor"),
    )


def code_attempt(user: User, code: str) -> tuple[Outcome, float]:
    """Check ``code`` (from the app, or a recovery code) as an attempt on
    ``user``'s second factor, and use it up if it is right.

    Counted like a password (per account, per address, or in this
    browser's own bucket if it logged in to the account before), in
    counters of the codes: a right password never clears a count of wrong
    codes. Failures send ``user_login_failed`` with reason "two_factor".
    """
    attempts = shared.throttle()
    client = request.remote_addr or ""
    account = shared.account_key(user, user.email)
    counters = account + CODE_COUNTERS
    device = devices.nonce_for(account)
    wait = attempts.claim(counters, client, device)
    if wait > 0:
        user_login_failed.send(shared.app(), email=user.email, reason="throttled")
        return Outcome.THROTTLED, wait
    used = _use(user, totp.normalize_code(code))
    if used is None:
        user_login_failed.send(shared.app(), email=user.email, reason="two_factor")
        return Outcome.WRONG_CODE, 0.0
    attempts.succeeded(counters, client, device)
    if used == "recovery":
        _recovery_used(user)
    return Outcome.OK, 0.0


def _use(user: User, code: str) -> str | None:
    """Use up ``code``: ``"totp"`` or ``"recovery"`` for what it was, or
    ``None`` if it is neither (or was used, by this request's twin, first)."""
    if len(code) == 6 and code.isascii() and code.isdigit():
        if user.totp_secret is None:
            return None
        try:
            secret = totp.unseal(user.totp_secret)
        except totp.UnreadableSecret:
            current_app.logger.error(
                "The TOTP secret of user %s is encrypted with a key that is no"
                " longer SECRET_KEY or among SECRET_KEY_FALLBACKS; they can log"
                " in with a recovery code, or 'flask users reset-2fa' removes it",
                user.get_id(),
            )
            return None
        last = user.totp_last_step
        step = totp.matching_step(secret, code, shared.now(), last)
        if step is None:
            return None
        return "totp" if shared.swap(user, "totp_last_step", last, step) else None
    stored = user.recovery_codes
    remaining = totp.without_code(stored, code)
    if remaining is None:
        return None
    spent = shared.swap(user, "recovery_codes", stored, remaining)
    return "recovery" if spent else None


def _recovery_used(user: User) -> None:
    left = codes_left(user)
    recovery_code_used.send(shared.app(), user=user, left=left)
    site = current_app.config["RIVO_SITE_NAME"]
    shared.notify(
        user.email,
        "recovery_code_used",
        _("A recovery code of your %(site)s account was used", site=site),
        site=site,
        left=left,
        low=left <= totp.RECOVERY_LOW,
        settings_link=shared.link_if_routed("rivo_users.two_factor"),
    )


def second_step(code: str) -> tuple[Outcome, float]:
    """The second page of a log-in: a code for the user waiting in this
    session's half-way state; right, and the user is logged in.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    """
    waiting = halfway.pending()
    if waiting is None:
        return Outcome.EXPIRED, 0.0
    user, remember = waiting
    outcome, wait = code_attempt(user, code)
    if outcome is not Outcome.OK:
        return outcome, wait
    email = user.email  # read now: a user deleted meanwhile has no row after
    if not finish_log_in(user, remember=remember):
        # Closed or deleted since the password was checked: no log-in waits.
        halfway.clear()
        user_login_failed.send(shared.app(), email=email, reason="two_factor")
        return Outcome.EXPIRED, 0.0
    return Outcome.OK, 0.0


def reset(user: User) -> int:
    """An administrator's removal of ``user``'s second factor: committed,
    every session of the user ended, and the owner told.

    The lock that wrong codes from unknown browsers put on the account is
    lifted too: the administrator checked who asks, so a second factor the
    owner sets up again takes codes from their new phone's browser at once.

    :returns: how many sessions ended.
    """
    remove(user)
    users_state().store.commit()
    unlock(shared.session_store(), shared.account_key(user, user.email) + CODE_COUNTERS)
    two_factor_disabled.send(shared.app(), user=user, by="admin")
    ended = RivoSessions().end_user_sessions(user.get_id())
    # From the command line: a request context only to build the links.
    context = (
        contextlib.nullcontext()
        if has_request_context()
        else current_app.test_request_context()
    )
    with contextlib.suppress(ConfigError), context:  # ConfigError: nowhere to link
        _tell(user, enabled=False)
    return ended
