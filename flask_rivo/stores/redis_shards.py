"""How :class:`~flask_rivo.stores.redis.RedisStore` keeps a user's index on
a Redis Cluster whose sessions spread over every slot.

A session and its user's index then live in different slots, often on
different masters, and no script or transaction spans both. The index is
kept consistent by the order of the writes instead, so that a failure
between two of them (a crash, a master going down) only ever leaves an
index entry whose session is missing or is no longer the user's, never a
session of the user that the index misses, which "end all sessions" would
miss too:

* A session is filed in its user's index before it is written under that
  user, and unfiled from its old user's index only after it is gone or
  filed under another user.
* The index must outlive its sessions: filing extends its TTL past the
  session's expiry, with slack (as long again), and records in the session
  how long the index is known to live (its *cover*). A write or touch that
  would make the session outlive its cover is refused by the script, and
  the store files the session again first; so most writes are still one
  round trip.
* Whoever meets an entry whose session is missing (listing, ending, the
  per-user cap) first *claims* the key, with a placeholder that refuses
  every write, then drops the entry: a session filed but not yet written
  can then never be written unindexed. The claim expires after a day.

Entries whose session changed user are dropped when met, after the checks
above: only a session moved away and back at once, by two concurrent
writes, could then slip out of its index (RivoSessions gives a session a
new ID when its user changes, so it never moves a key).
"""

from __future__ import annotations

import logging
import typing as t

from ..exceptions import StoreError
from . import redis_lua as lua

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

    from redis.cluster import RedisCluster

    from .base import Record

logger = logging.getLogger("flask_rivo")

#: How long a claim on a missing session's key lasts, in ms: longer than any
#: write may lag behind its filing in the user's index.
CLAIM_MS = 86_400_000

#: The least slack, in seconds, that filing gives the index past a session's
#: expiry; otherwise as long again as the session has left.
MIN_SLACK = 3600.0


class Owner(t.Protocol):
    """What :class:`Shards` uses of its :class:`~.redis.RedisStore` (named
    here, not imported: that module imports this one)."""

    client: t.Any
    clock: Callable[[], float]
    _sessions: str
    _users: str
    _save: lua.Script
    _touch: lua.Script
    _delete: lua.Script

    def _ttl_ms(self, expires_at: float, now: float) -> int: ...

    @staticmethod
    def _call(
        command: Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> t.Any: ...

    def _run(self, script: lua.Script, key: str, *args: object) -> t.Any: ...

    def load(self, key: str) -> Record | None: ...


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Shards:
    """The sharded steps of a :class:`RedisStore`, which delegates to it.

    :param store: the store, whose session scripts are the sharded ones.
    :param script: makes a script with the store's constants.
    """

    def __init__(self, store: Owner, script: Callable[[str], lua.Script]) -> None:
        self.store = store
        self._file = script(lua.FILE)
        self._end = script(lua.END)

    def _filed(
        self, key: str, user_id: str, created_at: float, expires_at: float, now: float
    ) -> str:
        """File the session in the user's index, which is to outlive it;
        returns the index's cover, for the session's write."""
        cover = expires_at + max(expires_at - now, MIN_SLACK)
        store = self.store
        ttl = store._ttl_ms(cover, now)
        store._run(self._file, store._users + user_id, key, repr(created_at), ttl)
        return repr(cover)

    def _unfile(self, user_id: bytes | str, keys: Sequence[str]) -> None:
        """Drop ``keys`` from a user's index. A failure is only logged: the
        entries left lead nowhere, and are dropped when next met."""
        store = self.store
        try:
            store._call(store.client.zrem, store._users + _text(user_id), *keys)
        except StoreError as error:
            logger.warning("Could not update a user's session index: %s", error)

    def save(
        self, key: str, record: Record, now: float, args: tuple[t.Any, ...]
    ) -> bool:
        store = self.store
        session = store._sessions + key
        result = store._run(store._save, session, *args, "")
        if result == 2:
            assert record.user_id is not None  # only a user's session waits
            cover = self._filed(
                key, record.user_id, record.created_at, record.expires_at, now
            )
            result = store._run(store._save, session, *args, cover)
        if result == 0:
            return False
        if result == 2:
            raise StoreError("Redis refused a session's index")  # pragma: no cover
        if len(result) > 1:  # it left a user's index
            self._unfile(result[1], [key])
        return True

    def touch(
        self, key: str, expires_at: float, now: float, args: tuple[t.Any, ...]
    ) -> None:
        store = self.store
        session = store._sessions + key
        result = store._run(store._touch, session, *args, "")
        if isinstance(result, list):  # the index must be made to outlive it
            _, user_id, created_at = result
            cover = self._filed(key, _text(user_id), float(created_at), expires_at, now)
            store._run(store._touch, session, *args, cover)

    def delete(self, key: str) -> None:
        store = self.store
        user_id = store._run(store._delete, store._sessions + key)
        if user_id:
            self._unfile(user_id, [key])

    def _members(self, user_id: str) -> list[str]:
        store = self.store
        found = store._call(store.client.zrange, store._users + user_id, 0, -1)
        return [_text(member) for member in found]

    def _claim(self, key: str) -> bool:
        """Make sure no write ever lands under a missing ``key``; ``False``
        if it exists after all (it was written meanwhile)."""
        store = self.store
        session = store._sessions + key
        claimed = store._call(store.client.set, session, "-", nx=True, px=CLAIM_MS)
        return bool(claimed) or store.load(key) is None

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        store = self.store
        members = self._members(user_id)
        if not members:
            return []
        keys = [store._sessions + member for member in members]
        client = t.cast("RedisCluster", store.client)
        values = store._call(client.mget_nonatomic, keys)
        now = store.clock()
        found, dropped = [], []
        for member, value in zip(members, values, strict=True):
            record = None if value is None else lua.unpack(value)
            if record is None:
                if value is not None or self._claim(member):
                    dropped.append(member)
            elif record.user_id != user_id:
                dropped.append(member)
            elif record.expires_at > now:
                found.append((member, record))
        if dropped:
            self._unfile(user_id, dropped)
        return found

    def _end_each(self, user_id: str, members: list[str]) -> list[int]:
        """End each of ``members`` that is the user's, claim each missing
        one, then drop them all from the index (see :data:`.redis_lua.END`)."""
        store = self.store
        now = repr(store.clock())
        outcomes = [
            store._run(self._end, store._sessions + member, user_id, now)
            for member in members
        ]
        if members:
            store._call(store.client.zrem, store._users + user_id, *members)
        return outcomes

    def delete_user_sessions(self, user_id: str, keep: str | None) -> int:
        members = [member for member in self._members(user_id) if member != keep]
        return sum(outcome >= 2 for outcome in self._end_each(user_id, members))

    def limit_user_sessions(self, user_id: str, keep: int, spare: str | None) -> int:
        store = self.store
        index = store._users + user_id
        excess = store._call(store.client.zcard, index) - keep
        if excess <= 0:
            return 0
        oldest = store._call(store.client.zrange, index, 0, excess)
        doomed = [m for m in map(_text, oldest) if m != spare][:excess]
        return sum(outcome == 3 for outcome in self._end_each(user_id, doomed))
