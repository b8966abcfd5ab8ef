"""Sessions bound to the credentials they were made with.

A logged-in session keeps a digest of the user's ID, address, password hash,
state and whether a second factor is on, as Django's session auth hash
does. While loading the user, a digest that no longer matches ends the
session: a password reset or change, an email change, a second factor
turned on or off, a lock, or a deleted user whose ID went to somebody new
invalidates older sessions on every store and every app server, even where
an explicit "end all sessions" was missed (OWASP ASVS 3.3.3, NIST SP 800-63B
section 7.1).

A digest cannot outlive a *reversed* change: a lock that is lifted restores
the old state and with it the old digest. So deleting or locking a user also
ends every session of theirs as the change commits
(:func:`watch_credentials`).
"""

from __future__ import annotations

import hashlib
import hmac
import typing as t

import sqlalchemy as sa
from flask import current_app
from flask import has_app_context

from ..sessions import RivoSessions
from .models import UserState

if t.TYPE_CHECKING:
    from .models import User

#: The session key that holds the digest.
SESSION_KEY = "_rivo_auth"
_PURPOSE = b"flask-rivo.session-auth"


def _keys() -> list[bytes]:
    """``SECRET_KEY`` first, then Flask's ``SECRET_KEY_FALLBACKS``.

    A digest keyed by the secret means a copy of the session store tells
    nothing about password hashes; the fallbacks keep sessions alive while
    the secret is rotated.
    """
    config = current_app.config
    secrets = [config.get("SECRET_KEY"), *(config.get("SECRET_KEY_FALLBACKS") or ())]
    keys = [s.encode() if isinstance(s, str) else s for s in secrets if s]
    return keys or [b""]


def _digest(user: User, key: bytes) -> str:
    state = user.state.value if isinstance(user.state, UserState) else str(user.state)
    parts = [user.get_id(), user.email, user.password_hash, state]
    if getattr(user, "totp_secret", None) is not None:
        # Turning a second factor on or off is a change of credentials too
        # (OWASP ASVS 3.3.3). Only "on" is added: the digests of accounts
        # without one stay what they were before second factors existed.
        parts.append("totp")
    message = "\0".join(parts)
    mac = hmac.new(key, _PURPOSE + b"\0" + message.encode(), hashlib.sha256)
    return mac.hexdigest()


def credentials_digest(user: User) -> str:
    """The digest a session made now for ``user`` keeps."""
    return _digest(user, _keys()[0])


def matches(user: User, digest: object) -> bool:
    """Whether ``digest`` was made for ``user`` as their credentials are now.

    Compared in constant time, against the current secret and its fallbacks.
    """
    if not isinstance(digest, str):
        return False
    return any(hmac.compare_digest(_digest(user, key), digest) for key in _keys())


#: Where a database session keeps the users whose sessions end at its commit.
_PENDING = "rivo_end_sessions"


def _end_at_commit(target: t.Any) -> None:
    """Note ``target``'s user, to end their sessions once the change commits.

    Not at the flush: the session store may be the same SQLite file, whose
    write lock the flush holds until the commit.
    """
    session = sa.orm.object_session(target)
    identity = sa.inspect(target).identity
    if session is not None and identity is not None:
        session.info.setdefault(_PENDING, set()).add(str(identity[0]))


def _after_commit(session: sa.orm.Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending or not has_app_context():
        return  # a script working on users without the web app: nothing to end
    if "rivo_sessions" not in current_app.extensions:
        return
    for user_id in sorted(pending):
        RivoSessions().end_user_sessions(user_id)


def _after_rollback(session: sa.orm.Session) -> None:
    session.info.pop(_PENDING, None)


def _after_update(_mapper: t.Any, _connection: t.Any, target: t.Any) -> None:
    history = sa.inspect(target).attrs.state.history
    if history.has_changes() and target.state is not UserState.VERIFIED:
        _end_at_commit(target)


def _after_delete(_mapper: t.Any, _connection: t.Any, target: t.Any) -> None:
    _end_at_commit(target)


def _credential_set(
    target: t.Any, value: object, old: object, _initiator: t.Any
) -> None:
    if value != old:
        # A reset link was issued for the password the account had, and
        # mailed to the address it had: whoever reads that old mailbox must
        # not set the password of the account that moved away from it.
        target.reset_token_hash = None
        target.reset_created_at = None


def watch_credentials(model: type[t.Any]) -> None:
    """Follow credential changes of ``model``, whichever code makes them (a
    view, the CLI, an admin page, ``flask shell``):

    * a user deleted, or moved out of ``verified``, loses every session
      when the change commits, in the application context of the commit (a
      store that cannot be reached makes the commit raise
      :class:`~flask_rivo.exceptions.StoreError`, so the change is not
      mistaken for done with the sessions);
    * a new password, or a new address, kills any reset link issued
      before it.
    """
    for name, listener in (
        ("after_update", _after_update),
        ("after_delete", _after_delete),
    ):
        if not sa.event.contains(model, name, listener):
            sa.event.listen(model, name, listener, propagate=True)
    for name, hook in (
        ("after_commit", _after_commit),
        ("after_rollback", _after_rollback),
    ):
        if not sa.event.contains(sa.orm.Session, name, hook):
            sa.event.listen(sa.orm.Session, name, hook)
    for attribute in (model.password_hash, model.email):
        if not sa.event.contains(attribute, "set", _credential_set):
            sa.event.listen(attribute, "set", _credential_set, propagate=True)
