"""Writing sessions while other requests of the same session write too.

Every write is a compare-and-swap on the record's version. On a conflict
the latest record is reloaded and only this request's changes are replayed
on it: concurrent requests that change different keys both keep their
change, and a session another request ended stays ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import typing as t

from .exceptions import StoreError
from .ids import new_session_id
from .ids import replaced_mark
from .ids import seal_successor
from .ids import session_key
from .ids import unseal_successor
from .settings import MAX_HOPS
from .stores.base import Record

if t.TYPE_CHECKING:
    from .settings import SessionSettings
    from .stores.base import SessionStore

logger = logging.getLogger("flask_rivo")

#: How often a write is retried after losing a compare-and-swap race.
MAX_ATTEMPTS = 100

#: Marks a user ID this request did not change.
UNCHANGED: t.Final = object()


class UnsettledError(StoreError):
    """A session's old ID may have been retired, by a write whose outcome is
    unknown, after its new record was written for certain.

    Nothing may then be deleted: the new record may be the only copy of the
    session. The request still fails (HTTP 503), but its response carries
    :attr:`session_id`, so that the browser can reach the session whatever
    became of the old ID.

    :param error: the failure of the write whose outcome is unknown.
    :param session_id: the new ID, whose record exists.
    """

    def __init__(self, error: StoreError, session_id: str) -> None:
        super().__init__(str(error))  # never the ID: messages get logged
        self.cause_type = error.cause_type
        #: The session's new ID.
        self.session_id = session_id


@contextlib.contextmanager
def moving_to(session_id: str) -> t.Iterator[None]:
    """Turn a :class:`StoreError` raised within into :class:`UnsettledError`.

    Wrap the write that retires (or points away) a session's old ID once
    the record under the new ``session_id`` is known to exist.
    """
    try:
        yield
    except UnsettledError:
        raise
    except StoreError as error:
        raise UnsettledError(error, session_id) from error


@dataclasses.dataclass(frozen=True)
class Changes:
    """What one request did to its session, to replay on a newer record."""

    set: t.Mapping[str, str]
    deleted: frozenset[str]
    user_id: object  # str | None, or UNCHANGED

    def apply(self, base: Record, now: float, settings: SessionSettings) -> Record:
        """``base`` with these changes, used now, with the next version."""
        data = dict(base.data)
        data.update(self.set)
        for key in self.deleted:
            data.pop(key, None)
        user_id = t.cast(
            "str | None", base.user_id if self.user_id is UNCHANGED else self.user_id
        )
        # Every field spelt out: dataclasses.replace, on every write, cost
        # more than the rest of this method.
        return Record(
            data,
            base.version + 1,
            base.created_at,
            now,
            base.id_issued_at,
            settings.expires_at(base.created_at, now, data, user_id),
            user_id,
            base.user_agent,
            base.address,
            base.successor,
        )


NO_CHANGES = Changes({}, frozenset(), UNCHANGED)


def reload(
    store: SessionStore, session_id: str, now: float
) -> tuple[str, Record] | None:
    """The live record of a session, following IDs rotated out meanwhile.

    :returns: the session's current ID and record, or ``None`` if it ended.
    """
    for _ in range(MAX_HOPS):
        record = store.load(session_key(session_id))
        if record is None or record.expires_at <= now:
            return None
        if record.successor is None:
            return session_id, record
        successor = unseal_successor(record.successor, session_id)
        if successor is None:
            return None
        session_id = successor
    return None


def create(
    store: SessionStore,
    settings: SessionSettings,
    data: t.Mapping[str, str],
    user_id: str | None,
    client: tuple[str, str],
    now: float,
) -> str:
    """Store a new session under a new ID; returns the ID."""
    user_agent, address = client
    record = Record(
        data=data,
        version=1,
        created_at=now,
        accessed_at=now,
        id_issued_at=now,
        expires_at=settings.expires_at(now, now, data, user_id),
        user_id=user_id,
        user_agent=user_agent,
        address=address,
    )
    for _ in range(MAX_ATTEMPTS):
        session_id = new_session_id()
        if store.save(session_key(session_id), record, None):
            return session_id
    raise StoreError("the store refused every new session ID")


def commit(
    store: SessionStore,
    settings: SessionSettings,
    session_id: str,
    base: Record,
    changes: Changes,
    now: float,
    *,
    rotate: bool,
) -> tuple[str, Record] | None:
    """Write ``changes`` onto the session, rotating its ID if asked.

    A rotation stores the session under a new ID first, then turns the old
    record into a pointer to it (the new ID sealed with the old one), valid
    for the grace period. If another request rotated first, this one
    follows it and writes there. If the pointer's write fails, it may still
    have landed, so the new record stays (:class:`UnsettledError`).

    :returns: the session's ID and record afterwards, or ``None`` if another
        request ended the session meanwhile.
    """
    for _ in range(MAX_ATTEMPTS):
        key = session_key(session_id)
        updated = changes.apply(base, now, settings)
        if not rotate:
            if store.save(key, updated, base.version):
                return session_id, updated
        else:
            new_id = new_session_id()
            new_key = session_key(new_id)
            fresh = dataclasses.replace(updated, version=1, id_issued_at=now)
            if store.save(new_key, fresh, None):
                pointer = dataclasses.replace(
                    base,
                    data={},
                    version=base.version + 1,
                    user_id=None,
                    expires_at=min(now + settings.id_grace, fresh.expires_at),
                    successor=seal_successor(new_id, session_id),
                )
                with moving_to(new_id):
                    swapped = store.save(key, pointer, base.version)
                if swapped:
                    return new_id, fresh
                store.delete(new_key)  # surely unreachable: an orphan copy
        found = reload(store, session_id, now)
        if found is None:
            return None
        if found[0] != session_id:
            rotate = False  # another request rotated it already
        session_id, base = found
    raise StoreError(f"gave up writing a session after {MAX_ATTEMPTS} conflicts")


def retire(
    store: SessionStore,
    session_id: str,
    base: Record,
    now: float,
    *,
    tombstone_until: float | None = None,
) -> bool:
    """Delete the session's record if it is still exactly ``base``.

    A store has no conditional delete, so the record is first replaced, by
    compare-and-swap, with an already expired one.

    With ``tombstone_until`` (a regenerate), the record is replaced instead
    with a tombstone living until then: no data, no user, and a successor
    that leads nowhere (:func:`~flask_rivo.ids.replaced_mark`). A parallel
    request of the same browser that still carries the old ID then learns
    that the ID was replaced, and leaves the browser's new cookie alone,
    rather than taking the ID for unknown and deleting the cookie or
    starting a session over it (which would log the person out right after
    logging in). Nothing leads from the tombstone to the new ID: that would
    be the session fixation a regenerate exists to prevent.

    :returns: ``False`` if another request changed the record meanwhile.
    """
    key = session_key(session_id)
    if tombstone_until is not None and tombstone_until > now:
        tombstone = dataclasses.replace(
            base,
            data={},
            user_id=None,
            version=base.version + 1,
            expires_at=tombstone_until,
            successor=replaced_mark(),
        )
        return store.save(key, tombstone, base.version)
    ended = dataclasses.replace(
        base, data={}, user_id=None, version=base.version + 1, expires_at=now
    )
    if not store.save(key, ended, base.version):
        return False
    store.delete(key)
    return True


def fade(store: SessionStore, session_id: str, base: Record, until: float) -> bool:
    """Let the session's record expire at ``until``, if it is still ``base``.

    :returns: ``False`` if another request changed the record meanwhile.
    """
    faded = dataclasses.replace(
        base, version=base.version + 1, expires_at=min(base.expires_at, until)
    )
    return store.save(session_key(session_id), faded, base.version)


def retire_latest(
    store: SessionStore, session_id: str, base: Record, now: float
) -> Record | None:
    """Delete the session's record, whatever version it has reached.

    :returns: the record as it was when deleted (to carry its data over), or
        ``None`` if the session had ended already.
    """
    for _ in range(MAX_ATTEMPTS):
        if retire(store, session_id, base, now):
            return base
        found = reload(store, session_id, now)
        if found is None:
            return None
        session_id, base = found
    raise StoreError(f"gave up ending a session after {MAX_ATTEMPTS} conflicts")


def cap_user(
    store: SessionStore,
    settings: SessionSettings,
    session_id: str,
    user_id: str | None,
    before: str | None,
) -> None:
    """Keep the user within ``RIVO_SESSION_MAX_PER_USER`` after a log-in.

    Called after a write that filed the session under ``user_id``, which it
    was filed under ``before``; only a new filing (a log-in) can take a user
    past the cap, so other writes cost nothing. The user's oldest sessions
    end first, never this one. A store failure here is logged, not raised:
    the log-in itself is written, a 503 would strand it, and the next log-in
    ends the excess anyway.
    """
    if user_id is None or user_id == before:
        return
    try:
        store.limit_user_sessions(
            user_id, settings.max_per_user, session_key(session_id)
        )
    except StoreError as error:
        logger.warning("Could not end a user's oldest sessions: %s", error)
