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

from .base import Record
from .base import SessionStore


class MemoryStore(SessionStore):
    """Keeps sessions in a dictionary, thread-safe and bounded.

    Once ``maxsize`` sessions are held, the least recently used one is
    dropped for each new one, so a flood of new visitors costs bounded
    memory (the flood's victims are the longest-idle sessions).

    :param maxsize: the most sessions kept at once.
    :param clock: where the store reads the time to skip expired records.
    """

    def __init__(
        self, maxsize: int = 100_000, clock: t.Callable[[], float] = time.time
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        #: The most sessions kept at once.
        self.maxsize = maxsize
        self._clock = clock
        self._records: collections.OrderedDict[str, Record] = collections.OrderedDict()
        self._users: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def _live(self, key: str) -> Record | None:
        record = self._records.get(key)
        if record is not None and record.expires_at <= self._clock():
            self._remove(key)
            return None
        return record

    def _remove(self, key: str) -> None:
        record = self._records.pop(key, None)
        if record is not None and record.user_id is not None:
            keys = self._users.get(record.user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._users[record.user_id]

    def load(self, key: str) -> Record | None:
        with self._lock:
            record = self._live(key)
            if record is not None:
                self._records.move_to_end(key)
            return record

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        with self._lock:
            current = self._live(key)
            found = None if current is None else current.version
            if found != expected_version:
                return False
            self._remove(key)
            self._records[key] = dataclasses.replace(
                record, data=MappingProxyType(dict(record.data))
            )
            if record.user_id is not None:
                self._users.setdefault(record.user_id, set()).add(key)
            while len(self._records) > self.maxsize:
                self._remove(next(iter(self._records)))
            return True

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        with self._lock:
            record = self._live(key)
            if record is not None and record.version == expected_version:
                self._records[key] = dataclasses.replace(
                    record, accessed_at=accessed_at, expires_at=expires_at
                )
                self._records.move_to_end(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self._remove(key)

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        with self._lock:
            keys = list(self._users.get(user_id, ()))
            live = ((key, self._live(key)) for key in keys)
            return [(key, record) for key, record in live if record is not None]

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        with self._lock:
            doomed = [key for key in self._users.get(user_id, ()) if key != keep]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def purge_expired(self, now: float) -> int:
        with self._lock:
            doomed = [k for k, r in self._records.items() if r.expires_at <= now]
            for key in doomed:
                self._remove(key)
            return len(doomed)
