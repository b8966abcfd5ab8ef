"""An account's passkeys, as the user row keeps them.

:class:`~.models.UserMixin`'s ``passkeys`` column holds them as JSON: no
second table for an application to declare. Only public keys and their
bookkeeping are stored, nothing secret. The WebAuthn ceremonies that add
and use them are in :mod:`.passkeys`.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

if t.TYPE_CHECKING:
    from .models import User

#: The most passkeys one account may hold (the JSON column stays small).
MAX_PASSKEYS = 20
#: The longest name of a passkey.
NAME_LENGTH = 64


@dataclasses.dataclass
class Passkey:
    """One credential of an account, as stored (all text is base64url)."""

    #: The credential ID.
    id: str
    #: The COSE public key.
    public_key: str
    #: The authenticator's signature counter at the last use (0: none kept).
    sign_count: int
    #: What the owner calls it.
    name: str
    #: Unix time it was added.
    created_at: float
    #: Unix time of the last log-in with it, or ``None``.
    last_used_at: float | None = None
    #: How the browser reaches the authenticator (``"internal"``, ``"usb"``...).
    transports: list[str] = dataclasses.field(default_factory=list)
    #: Whether the authenticator said the key is synced (a "multi-device" key).
    backed_up: bool = False


_FIELDS = {f.name for f in dataclasses.fields(Passkey)}


def passkeys_of(user: User) -> list[Passkey]:
    """The passkeys of ``user``, oldest first (none if the column is unset)."""
    if not user.passkeys:
        return []
    entries = json.loads(user.passkeys)
    return [Passkey(**{k: v for k, v in e.items() if k in _FIELDS}) for e in entries]


def keep(user: User, keys: list[Passkey]) -> None:
    """Store ``keys`` as ``user``'s passkeys (the caller commits)."""
    user.passkeys = json.dumps([dataclasses.asdict(k) for k in keys]) if keys else None


def remove(user: User, credential_id: str) -> Passkey | None:
    """Take the passkey ``credential_id`` off ``user`` (the caller commits).

    :returns: the passkey removed, or ``None`` if ``user`` had none by that ID.
    """
    keys = passkeys_of(user)
    gone = next((k for k in keys if k.id == credential_id), None)
    if gone is not None:
        keep(user, [k for k in keys if k is not gone])
    return gone


def remove_all(user: User) -> int:
    """Take every passkey off ``user`` (an administrator's reset); the
    caller commits. :returns: how many there were."""
    count = len(passkeys_of(user))
    user.passkeys = None
    return count
