"""Log-in throttling per account and per client address, with growing delays.

After a number of free failed attempts, each further attempt must wait twice
as long as the one before (1 s, 2 s, 4 s ... up to ``RIVO_LOGIN_MAX_DELAY``),
as NIST SP 800-63B section 5.2.2 asks. A waiting attempt is refused at once
(HTTP 429), never answered by sleeping a worker.

The counters live in the session store, so every app server sees the same
ones. They are keyed by the hash of the normalized address (a change of
letter case does not escape them) and of ``request.remote_addr`` (a forged
``X-Forwarded-For`` does not either; trusting a proxy's header is the
application's choice, through ``ProxyFix``).
"""

from __future__ import annotations

import dataclasses
import hashlib

from ..stores.base import Record
from ..stores.base import SessionStore

#: Failure counters are forgotten after this long without a failure.
MEMORY = 24 * 3600.0
_ATTEMPTS = 50


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"rivo-throttle:{kind}:{value}".encode()).hexdigest()


def delay(failures: int, free: int, longest: float) -> float:
    """Seconds the attempt after ``failures`` failed ones must wait."""
    if failures < free:
        return 0.0
    return float(min(2.0 ** min(failures - free, 40), longest))


@dataclasses.dataclass(frozen=True)
class Throttle:
    """The throttle of one log-in attempt.

    :param store: where the counters live (the application's session store).
    :param now: the time of the attempt.
    :param free: failures per account before delays begin.
    :param address_free: failures per client address before delays begin.
    :param longest: the longest delay, in seconds.
    """

    store: SessionStore
    now: float
    free: int
    address_free: int
    longest: float

    def _counters(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (_key("account", email), self.free),
            (_key("address", address), self.address_free),
        ]

    def wait(self, email: str, address: str) -> float:
        """Seconds until an attempt for ``email`` from ``address`` may be made."""
        longest_wait = 0.0
        for key, free in self._counters(email, address):
            record = self.store.load(key)
            if record is None or record.expires_at <= self.now:
                continue
            failures = int(record.data.get("failures", "0"))
            ready = float(record.data.get("last", "0")) + delay(
                failures, free, self.longest
            )
            longest_wait = max(longest_wait, ready - self.now)
        return longest_wait

    def failed(self, email: str, address: str) -> None:
        """Count a failed attempt against the account and the address."""
        for key, _ in self._counters(email, address):
            self._bump(key)

    def succeeded(self, email: str) -> None:
        """Forget the account's failures (the address keeps its count)."""
        self.store.delete(_key("account", email))

    def _bump(self, key: str) -> None:
        for _ in range(_ATTEMPTS):
            record = self.store.load(key)
            if record is not None and record.expires_at <= self.now:
                record = None
            failures = 0 if record is None else int(record.data.get("failures", "0"))
            updated = Record(
                data={"failures": str(failures + 1), "last": repr(self.now)},
                version=1 if record is None else record.version + 1,
                created_at=self.now if record is None else record.created_at,
                accessed_at=self.now,
                id_issued_at=self.now,
                expires_at=self.now + max(MEMORY, self.longest),
            )
            expected = None if record is None else record.version
            if self.store.save(key, updated, expected):
                return
