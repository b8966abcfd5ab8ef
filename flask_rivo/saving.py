"""Saving a session at the end of its request: what to write, and the cookie.

Only a session the request loaded gets here (see
:class:`~flask_rivo.RivoSession`): an emptied one ends, a changed one is
written by compare-and-swap (:mod:`flask_rivo.commit`), a regenerated one
moves to a new ID, an unchanged one is at most touched.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from . import commit
from .exceptions import StoreError
from .ids import session_key

if t.TYPE_CHECKING:
    from .cookie import ResponseCookie
    from .session import RivoSession
    from .settings import SessionSettings
    from .stores.base import Record
    from .stores.base import SessionStore


#: Types whose values cannot change in place: one that is still the very
#: object the session was loaded with is stored as it was.
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
_MISSING = object()

logger = logging.getLogger("flask_rivo")


def _rotation_due(settings: SessionSettings, record: Record, now: float) -> bool:
    """Whether the session's ID has served ``RIVO_SESSION_ID_LIFETIME``
    (OWASP: renew the ID periodically, not only at a change of privilege)."""
    return now - record.id_issued_at >= settings.id_lifetime


def _touch_due(settings: SessionSettings, record: Record, now: float) -> bool:
    """Whether the record's last use is ``RIVO_SESSION_TOUCH_INTERVAL`` old,
    so that a read should store its new last use."""
    return now - record.accessed_at >= settings.touch_interval


def nothing_to_save(
    session: RivoSession, settings: SessionSettings, now: float
) -> bool:
    """Whether saving a loaded ``session`` would write nothing, now: it is
    stored, the request changed nothing of it, and neither its ID's
    rotation nor its last-use touch is due.

    The common read-only request then skips building a :class:`Saver`
    (some microseconds of every such request). Its cookie may still need
    sending again (Flask's ``should_set_cookie``): the caller's to check.
    """
    record = session._record  # None for a new, stale or replaced one
    return (
        record is not None
        and session._id is not None
        and not (
            session.modified
            or session._regenerate
            or session._cleared
            or session._stale_cookie
        )
        and not _rotation_due(settings, record, now)
        and not _touch_due(settings, record, now)
    )


@dataclasses.dataclass(slots=True)
class Saver:
    """Saves one loaded session, and sets or deletes its cookie.

    (A plain class with slots, not a frozen dataclass: one is made per
    request.)
    """

    store: SessionStore
    settings: SessionSettings
    #: Turns a session value into the text stored (see :mod:`flask_rivo.codec`).
    dumps: t.Callable[[t.Any], str]
    cookie: ResponseCookie
    #: Flask's ``should_set_cookie`` rules for this session.
    refresh_cookie: t.Callable[[RivoSession], bool]
    now: float

    def __call__(self, session: RivoSession) -> None:
        """Write what the request did to ``session``.

        :raises StoreError: if the store fails; :class:`commit.UnsettledError`
            if it failed after the session moved to a new ID for certain.
        """
        store, settings, now = self.store, self.settings, self.now
        record, session_id = session._record, session._id
        empty = settings.is_empty(dict.keys(session), session._user_id)
        if session._replaced:
            self._replaced(session, empty)
            return

        ended = session._cleared and (empty or session._regenerate)
        if ended and session_id is not None:
            # clear() or destroy(): the session ends, whatever others wrote;
            # anything stored since starts a new one.
            if record is not None:
                commit.retire_latest(store, session_id, record, now)
            record = None
        if record is None or session_id is None:  # no session in the store yet
            if not empty:
                self._start(session)
            elif session._stale_cookie or session_id is not None:
                # A cookie came with the request and leads nowhere now. (A
                # visitor who sent none and stored nothing gets no cookie.)
                self.cookie.delete()
            return

        changes = self._changes(session, record)
        if session._regenerate:
            self._regenerate(session, (session_id, record), changes)
            return

        rotate = _rotation_due(settings, record, now)
        if changes is not None or rotate:
            committed = commit.commit(
                store,
                settings,
                session_id,
                record,
                changes or commit.NO_CHANGES,
                now,
                rotate=rotate,
            )
            if committed is None:
                # Ended by another request meanwhile: never revive it. The
                # cookie is left alone: the browser may hold a newer one
                # already (from a parallel log-in, say).
                return
            session_id, written = committed
            commit.cap_user(
                store, settings, session_id, written.user_id, record.user_id
            )
            # Emptied: the cookie goes, and the record fades out over the grace
            # period, so that a parallel request's write still lands in it
            # (and its response brings the cookie back). If another request
            # stored something meanwhile, the session simply lives on.
            emptied = settings.is_empty(written.data, written.user_id)
            fade_until = now + settings.id_grace
            if emptied and commit.fade(store, session_id, written, fade_until):
                self.cookie.delete()
                return
        elif not empty and _touch_due(settings, record, now):
            expires_at = settings.expires_at(
                record.created_at, now, record.data, record.user_id
            )
            store.touch(session_key(session_id), now, expires_at, record.version)
        if (
            session_id != session._id
            or session._stale_cookie
            or self.refresh_cookie(session)
        ):
            self.cookie.set(session, session_id)

    def _regenerate(
        self,
        session: RivoSession,
        loaded: tuple[str, Record],
        changes: commit.Changes | None,
    ) -> None:
        """Move the session to a new ID; the old one dies at once, leaving a
        tombstone for the grace period (see :func:`commit.retire`).

        The new record is written first, then the old one is retired by
        compare-and-swap (on a conflict the new one is dropped and the
        latest data merged again), so a store error loses nothing, parallel
        changes carry over, and a session that another request ended
        meanwhile (a log-out everywhere) is not brought back, unless this
        very request logs a user in. If retiring fails, the old ID may be
        dead or not: the 503 carries the new ID (:class:`commit.UnsettledError`).
        """
        store, settings, now = self.store, self.settings, self.now
        session_id, record = loaded
        base: Record | None = record
        user_id: str | None
        for _ in range(commit.MAX_ATTEMPTS):
            if base is None:
                if session._user_id is None or session._user_id == record.user_id:
                    return  # ended meanwhile; the cookie is left alone, as above
                # A log-in after a parallel log-out: a new session with only
                # what this request stored, none of the ended session's data.
                data = dict(changes.set) if changes is not None else {}
                user_id = session._user_id
            else:
                merged = (changes or commit.NO_CHANGES).apply(base, now, settings)
                data, user_id = dict(merged.data), merged.user_id
            if base is not None and settings.is_empty(data, user_id):
                commit.retire_latest(store, session_id, base, now)
                self.cookie.delete()
                return
            new_id = commit.create(store, settings, data, user_id, session._client, now)
            with commit.moving_to(new_id):
                retired = base is None or commit.retire(
                    store,
                    session_id,
                    base,
                    now,
                    tombstone_until=now + settings.id_grace,
                )
            if retired:
                commit.cap_user(store, settings, new_id, user_id, record.user_id)
                self.cookie.set(session, new_id)
                return
            store.delete(session_key(new_id))  # the old record surely lives
            found = commit.reload(store, session_id, now)
            base = None if found is None else found[1]
            if found is not None:
                session_id = found[0]
        raise StoreError(f"gave up regenerating after {commit.MAX_ATTEMPTS} conflicts")

    def _replaced(self, session: RivoSession, empty: bool) -> None:
        """Save a session whose cookie's ID a regenerate replaced moments ago.

        Its holder is a parallel request of the browser that got the new ID
        (a page's fetches, a second tab, while a log-in answers), or whoever
        planted the old ID on that browser. Either way the cookie is left
        alone, so that the browser keeps the new one, and nothing is stored:
        a new session would need a cookie, and that cookie would replace the
        browser's new one, logging the person out right after logging in.
        Only a log-in starts a session (with only what this request stored),
        as a log-in after a parallel log-out does: a log-in submitted twice
        must not be lost, and a new session under a new ID gives nobody
        anything of another's.
        """
        if session._regenerate and session._user_id is not None:
            self._start(session)
        elif not empty:
            logger.debug("Dropping what a request stored under a replaced session ID")

    def _start(self, session: RivoSession) -> None:
        """Store a new session with the session's content."""
        store, settings, user_id = self.store, self.settings, session._user_id
        data = self._serialize(session)
        new_id = commit.create(
            store, settings, data, user_id, session._client, self.now
        )
        commit.cap_user(store, settings, new_id, user_id, None)
        self.cookie.set(session, new_id)

    def _serialize(self, session: RivoSession) -> dict[str, str]:
        dumps = self.dumps
        return {k: dumps(v) for k, v in dict.items(session)}

    def _changes(self, session: RivoSession, record: Record) -> commit.Changes | None:
        """Compare the session with the record it was loaded from.

        Only values that may have changed are encoded again: a string,
        number, boolean or ``None`` that is still the very object loaded is
        what the record holds.
        """
        user_id: object = commit.UNCHANGED
        if session._user_id != record.user_id:
            user_id = session._user_id
        if not session.modified:
            return None
        dumps, loaded, stored = self.dumps, session._loaded, record.data
        changed: dict[str, str] = {}
        for key, value in dict.items(session):
            if (
                type(value) in _IMMUTABLE
                and key in stored
                and loaded.get(key, _MISSING) is value
            ):
                continue
            text = dumps(value)
            if stored.get(key) != text:
                changed[key] = text
        deleted = frozenset(stored.keys() - dict.keys(session))
        if not changed and not deleted and user_id is commit.UNCHANGED:
            return None
        return commit.Changes(changed, deleted, user_id)
