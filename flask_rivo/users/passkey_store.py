"""An account's passkeys, as the user row keeps them.

:class:`~.models.UserMixin`'s ``passkeys`` column holds them as JSON: no
second table for an application to declare. Only public keys and their
bookkeeping are stored, nothing secret. The WebAuthn ceremonies that add
and use them are in :mod:`.passkeys`.

Every change rewrites the whole column, so every change is a
compare-and-swap (:func:`change`): a request that read the passkeys before
another one changed them never writes its old list back over that change.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

from ..exceptions import RivoError
from . import shared
from .state import users_state

if t.TYPE_CHECKING:
    from .models import User

#: The most passkeys one account may hold (the JSON column stays small).
MAX_PASSKEYS = 20
#: The longest name of a passkey.
NAME_LENGTH = 64
#: How many times a change of an account's passkeys is made, each time on
#: the passkeys as stored then, while other requests change them first.
ATTEMPTS = 3

R = t.TypeVar("R")


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


def holds(user: User, credential_id: object) -> bool:
    """Whether ``credential_id`` is one of ``user``'s passkeys now.

    Asked on every request of a session logged in with a passkey: the user
    row is loaded by then, so it costs no query, only one parse of the
    column's JSON (no :class:`Passkey` is made): microseconds for an
    account's one or two passkeys, under 0.1 ms for the most it may hold.
    """
    if not user.passkeys:
        return False
    return any(entry.get("id") == credential_id for entry in json.loads(user.passkeys))


class PasskeysBusyError(RivoError):
    """Other requests changed the account's passkeys each time a change was
    tried (:data:`ATTEMPTS` times), or the account is gone: nothing was
    changed."""


def change(
    user: User, edit: t.Callable[[list[Passkey]], tuple[list[Passkey] | None, R]]
) -> R:
    """Change ``user``'s passkeys by ``edit``, as a compare-and-swap, and
    commit (see :func:`.shared.swap`).

    ``edit`` gets the passkeys as stored, and gives back the passkeys to
    store (``None``: store nothing) and what to return. The column is
    written only if it still holds what ``edit`` was given; if another
    request changed it meanwhile, ``edit`` runs again on the passkeys as
    stored now, so neither change is lost, and a check in ``edit`` (the
    passkey is still there, its sign count grew) holds for what is stored.
    ``edit`` may raise to refuse.

    :returns: what ``edit`` returned beside the passkeys.
    :raises PasskeysBusyError: after :data:`ATTEMPTS` conflicts, or when the
        account was deleted meanwhile.
    """
    current: User | None = user
    for _attempt in range(ATTEMPTS):
        if current is None:
            break
        before = current.passkeys
        keys, result = edit(passkeys_of(current))
        if keys is None:
            return result
        after = json.dumps([dataclasses.asdict(k) for k in keys]) if keys else None
        if shared.swap(current, "passkeys", before, after):
            return result
        # The swap rolled back: the user is read again, as stored now.
        current = users_state().store.get(current.get_id())
    raise PasskeysBusyError("the passkeys kept changing, or the account is gone")


def remove(user: User, credential_id: str) -> Passkey | None:
    """Take the passkey ``credential_id`` off ``user``, and commit.

    :returns: the passkey removed, or ``None`` if ``user`` had none by that ID.
    :raises PasskeysBusyError: see :func:`change`.
    """

    def edit(keys: list[Passkey]) -> tuple[list[Passkey] | None, Passkey | None]:
        gone = next((k for k in keys if k.id == credential_id), None)
        if gone is None:
            return None, None
        return [k for k in keys if k is not gone], gone

    return change(user, edit)


def remove_all(user: User) -> list[Passkey]:
    """Take every passkey off ``user`` (an administrator's reset), and
    commit.

    :returns: the passkeys removed.
    :raises PasskeysBusyError: see :func:`change`.
    """
    return change(user, lambda keys: ([] if keys else None, keys))
