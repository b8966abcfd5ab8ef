"""A session store in the process's memory, for development and single servers.

Sessions vanish when the process ends and are not shared between worker
processes; use the SQLAlchemy or Redis store for anything else.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import typing as t
from types import MappingProxyType

from ..ids import is_counter_key
from .base import Record
from .base import SessionStore
from .base import oldest_excess

_Pool: t.TypeAlias = "collections.OrderedDict[str, Record]"


class MemoryStore(SessionStore):
    """Keeps sessions in dictionaries, thread-safe and bounded.

    Entries live in three pools, each holding at most ``maxsize``:
    RivoUsers' counters (log-in throttles, mail quotas), the sessions of
    logged-in users (with the pointers their rotated-out IDs leave behind),
    and everything else, mostly anonymous sessions. A full pool drops its
    least recently used entry for each new one, so a flood of new visitors
    costs bounded memory, and its victims are only other anonymous
    sessions: no amount of anonymous traffic can log a user out or reset a
    throttle.

    :param maxsize: the most entries kept in each pool.
    :param clock: where the store reads the time to skip expired records.
    """

    def __init__(
        self, maxsize: int = 100_000, clock: t.Callable[[], float] = time.time
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        #: The most entries kept in each of the three pools.
        self.maxsize = maxsize
        self._clock = clock
        self._counters: _Pool = collections.OrderedDict()
        self._logged_in: _Pool = collections.OrderedDict()
        self._anonymous: _Pool = collections.OrderedDict()
        self._pools = (self._counters, self._logged_in, self._anonymous)
        self._users: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(pool) for pool in self._pools)

    def _pool_of(self, key: str) -> _Pool | None:
        """The pool that holds ``key``, if any."""
        if is_counter_key(key):
            return self._counters
        for pool in (self._logged_in, self._anonymous):
            if key in pool:
                return pool
        return None

    def _pool_for(self, key: str, record: Record, held: _Pool | None) -> _Pool:
        """The pool where ``record`` belongs, if it replaces one in ``held``.

        A rotated-out ID's pointer stays with the logged-in session it
        replaces: evicting it would cut off that user's parallel requests.
        """
        if is_counter_key(key):
            return self._counters
        if record.user_id is not None:
            return self._logged_in
        if record.successor is not None and held is self._logged_in:
            return self._logged_in
        return self._anonymous

    def _live(self, key: str) -> tuple[_Pool, Record] | None:
        pool = self._pool_of(key)
        record = None if pool is None else pool.get(key)
        if pool is None or record is None:
            return None
        if record.expires_at <= self._clock():
            self._remove(key)
            return None
        return pool, record

    def _remove(self, key: str) -> None:
        pool = self._pool_of(key)
        record = None if pool is None else pool.pop(key, None)
        if record is not None and record.user_id is not None:
            keys = self._users.get(record.user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._users[record.user_id]

    def load(self, key: str) -> Record | None:
        with self._lock:
            found = self._live(key)
            if found is None:
                return None
            pool, record = found
            pool.move_to_end(key)
            return record

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        with self._lock:
            current = self._live(key)
            found = None if current is None else current[1].version
            if found != expected_version:
                return False
            pool = self._pool_for(key, record, None if current is None else current[0])
            self._remove(key)
            # A copy, read-only, that nobody can change in place; every field
            # spelt out, as dataclasses.replace costs more than the rest.
            pool[key] = Record(
                MappingProxyType(dict(record.data)),
                record.version,
                record.created_at,
                record.accessed_at,
                record.id_issued_at,
                record.expires_at,
                record.user_id,
                record.user_agent,
                record.address,
                record.successor,
            )
            if record.user_id is not None:
                self._users.setdefault(record.user_id, set()).add(key)
            while len(pool) > self.maxsize:
                self._remove(next(iter(pool)))
            return True

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        with self._lock:
            found = self._live(key)
            if found is not None and found[1].version == expected_version:
                pool, record = found
                pool[key] = dataclasses.replace(
                    record, accessed_at=accessed_at, expires_at=expires_at
                )
                pool.move_to_end(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self._remove(key)

    def _user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        found = [(key, self._live(key)) for key in list(self._users.get(user_id, ()))]
        return [(key, live[1]) for key, live in found if live is not None]

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        with self._lock:
            return self._user_sessions(user_id)

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        with self._lock:
            doomed = [key for key in self._users.get(user_id, ()) if key != keep]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        """End the user's oldest sessions past ``keep``.

        Free while the user has no more than ``keep`` sessions indexed; past
        that, one pass over them, which the cap keeps short.
        """
        with self._lock:
            if len(self._users.get(user_id, ())) <= keep:
                return 0
            sessions = self._user_sessions(user_id)
            doomed = oldest_excess(
                ((key, record.created_at) for key, record in sessions), keep, spare
            )
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def purge_expired(self, now: float) -> int:
        with self._lock:
            doomed = [
                key
                for pool in self._pools
                for key, record in pool.items()
                if record.expires_at <= now
            ]
            for key in doomed:
                self._remove(key)
            return len(doomed)
