"""Logging in with a passkey, and the notices of passkeys added or removed.

A passkey log-in names no account (the browser offers the passkeys it has
for the site), so failures are throttled per client address only, with the
same counters and delays as password log-ins (:mod:`.throttle`). A verified
assertion counts as both factors: it logs in at once, with the device
cookie, the new-device notice and ``last_login_at`` as after a password.
"""

from __future__ import annotations

import enum
import typing as t

from flask import current_app
from flask import has_request_context
from flask import request
from flask import session

from ..i18n import gettext as _
from ..sessions import RivoSessions
from . import accounts
from . import passkeys
from . import shared
from .agents import describe
from .agents import where
from .auth import LOGIN_PASSKEY
from .auth import confirm_login
from .signals import user_login_failed
from .signals import user_passkey_added
from .signals import user_passkey_removed
from .state import users_state

if t.TYPE_CHECKING:
    from .models import User
    from .passkey_store import Passkey


class PasskeyLogin(enum.Enum):
    """How a passkey log-in ended."""

    OK = "ok"
    #: No challenge pending for this session, or it expired or was used.
    EXPIRED = "expired"
    #: No account here has this passkey (removed, or never added), or the
    #: account may not log in: one answer, telling nothing of accounts.
    UNKNOWN = "unknown"
    #: The assertion did not verify (signature, origin, user verification,
    #: a sign count that did not grow).
    INVALID = "invalid"
    #: Too many failures from this client address: wait.
    THROTTLED = "throttled"


def log_in_with_passkey(
    credential: str, *, remember: bool
) -> tuple[PasskeyLogin, float]:
    """Check a passkey assertion from the log-in page and log its user in.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    """
    outcome, wait, found = _check(credential, None)
    if found is not None:
        user, passkey = found
        if not finish_log_in(user, passkey, remember=remember):
            # Closed or deleted since the passkey was checked: as unknown.
            user_login_failed.send(shared.app(), email=None, reason="passkey-unknown")
            return PasskeyLogin.UNKNOWN, 0.0
    return outcome, wait


def reauthenticate_with_passkey(
    user: User, credential: str
) -> tuple[PasskeyLogin, float]:
    """Check a passkey assertion of the logged-in ``user`` who must prove
    again who they are (``/reauthenticate``), and mark the session fresh.

    :returns: the outcome, and for ``THROTTLED`` the seconds to wait.
    """
    outcome, wait, found = _check(credential, user)
    if found is not None:
        confirm_login()
    return outcome, wait


def _check(
    credential: str, user: User | None
) -> tuple[PasskeyLogin, float, tuple[User, Passkey] | None]:
    """Throttle, then verify an assertion (see :func:`.passkeys.authenticate`)."""
    attempts = shared.throttle()
    address = request.remote_addr or ""
    wait = attempts.claim(None, address)
    if wait > 0:
        user_login_failed.send(shared.app(), email=None, reason="throttled")
        return PasskeyLogin.THROTTLED, wait, None
    try:
        found = passkeys.authenticate(credential, user)
    except passkeys.PasskeyError as error:
        users_state().store.rollback()
        reason = f"passkey-{error.reason}"
        user_login_failed.send(shared.app(), email=None, reason=reason)
        outcomes = {"challenge": PasskeyLogin.EXPIRED, "unknown": PasskeyLogin.UNKNOWN}
        return outcomes.get(error.reason, PasskeyLogin.INVALID), 0.0, None
    attempts.succeeded(None, address)
    return PasskeyLogin.OK, 0.0, found


def finish_log_in(user: User, passkey: Passkey, *, remember: bool) -> bool:
    """What follows a successful passkey log-in: the shared steps of every
    way in (:func:`.accounts.finish_log_in`: session, commit, device cookie),
    with a new-browser notice that names the passkey (changing the password
    would not shut out someone who holds it); the session keeps the
    passkey's ID, so that removing the passkey ends it.

    :returns: whether the user is logged in (``False`` for an account closed
        or deleted since the passkey was checked: nothing is done then).
    """

    def notice(owner: User) -> None:
        subject = _("A new log-in to your %(site)s account", site=_site())
        _tell(owner, "new_device_passkey", subject, passkey.name)

    if not accounts.finish_log_in(user, remember=remember, notice=notice):
        return False
    session[LOGIN_PASSKEY] = passkey.id
    return True


def end_their_sessions(user: User, credential_ids: t.Collection[str]) -> int:
    """End the sessions of ``user`` that were logged in with one of the
    passkeys ``credential_ids`` (just removed), but the current one.

    A passkey removed because its device was lost or stolen must not leave
    a way in open: the sessions it opened end with it. This ends those
    stored by now; one that a log-in with the passkey stores later (it was
    under way as the passkey went) ends at its next request, which finds
    its passkey gone (:data:`~.auth.current_user` looks). The current session,
    whose user just removed the passkey, stays, no longer marked as the
    passkey's.

    :returns: how many were ended.
    """
    if has_request_context() and session.get(LOGIN_PASSKEY) in credential_ids:
        session.pop(LOGIN_PASSKEY)
    sessions = RivoSessions()
    store = shared.session_store()
    serializer = RivoSessions.interface().serializer  # as the session wrote it
    ended = 0
    for info in sessions.user_sessions(user.get_id()):
        record = None if info.current else store.load(info.key)
        raw = None if record is None else record.data.get(LOGIN_PASSKEY)
        if raw is not None and serializer.loads(raw) in credential_ids:
            ended += sessions.end_user_session(user.get_id(), info.key)
    return ended


def notify_change(user: User, template: str, name: str) -> None:
    """Tell the owner a passkey was added or removed (the deed stands either
    way): a stranger's key on the account would be a way in. Sends
    ``user_passkey_added`` or ``user_passkey_removed`` first."""
    added = template == "passkey_added"
    (user_passkey_added if added else user_passkey_removed).send(
        shared.app(), user=user, name=name
    )
    if added:
        subject = _("A passkey was added to your %(site)s account", site=_site())
    else:
        subject = _("A passkey was removed from your %(site)s account", site=_site())
    _tell(user, template, subject, name)


def _site() -> str:
    return str(current_app.config["RIVO_SITE_NAME"])


def _tell(user: User, template: str, subject: str, name: str) -> None:
    """Email the owner a passkey notice: which passkey, which browser, where."""
    shared.notify(
        user.email,
        template,
        subject,
        name=name,
        browser=describe(request.headers.get("User-Agent")),
        client=where(request.remote_addr),
        passkeys_link=shared.link_if_routed("rivo_users.passkeys"),
    )
