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
import ipaddress

from ..stores.base import Record
from ..stores.base import SessionStore

#: Failure counters are forgotten after this long without a failure.
MEMORY = 24 * 3600.0
#: Account emails (verification, notices) one address may get in an hour.
MAIL_PER_HOUR = 3
_ATTEMPTS = 50


def client_network(address: str) -> str:
    """What the per-address counter counts: an IPv4 address, an IPv6 /64.

    One IPv6 client usually holds a whole /64; counting single addresses
    would give it 2**64 counters.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"rivo-throttle:{kind}:{value}".encode()).hexdigest()


def delay(failures: int, free: int, longest: float) -> float:
    """Seconds the attempt after ``failures`` failed ones must wait."""
    if failures < free:
        return 0.0
    return float(min(2.0 ** min(failures - free, 40), longest))


def _count(record: Record | None, now: float) -> tuple[int, float]:
    """Failures and the time of the last one, from a live counter record."""
    if record is None or record.expires_at <= now:
        return 0, 0.0
    return int(record.data.get("count", "0")), float(record.data.get("last", "0"))


def _counter(record: Record | None, now: float, count: int, keep_for: float) -> Record:
    fresh = record is None or record.expires_at <= now
    return Record(
        data={"count": str(count), "last": repr(now)},
        version=1 if record is None else record.version + 1,
        created_at=now if fresh or record is None else record.created_at,
        accessed_at=now,
        id_issued_at=now,
        expires_at=now + keep_for,
    )


def _version(record: Record | None, now: float) -> int | None:
    """What a compare-and-swap expects: ``None`` where no live record is."""
    if record is None or record.expires_at <= now:
        return None
    return record.version


@dataclasses.dataclass(frozen=True)
class Throttle:
    """The throttle of one log-in attempt.

    :meth:`claim` counts the attempt as failed before the password is
    checked, in one compare-and-swap per counter, so parallel attempts
    cannot all slip through the same gap; :meth:`succeeded` takes the count
    back when the password was right.

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
    #: Per counter this attempt took: the version it wrote and the live
    #: record it replaced, so the attempt can be taken back exactly.
    _taken: dict[str, tuple[int, Record | None]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def _counters(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (_key("account", email), self.free),
            (_key("address", client_network(address)), self.address_free),
        ]

    def wait(self, email: str, address: str) -> float:
        """Seconds until an attempt for ``email`` from ``address`` may be made."""
        waits = [0.0]
        for key, free in self._counters(email, address):
            count, last = _count(self.store.load(key), self.now)
            waits.append(last + delay(count, free, self.longest) - self.now)
        return max(waits)

    def claim(self, email: str, address: str) -> float:
        """Take an attempt: 0 if it may go ahead (counted as failed), else the wait.

        A refused attempt is not counted: it never reached the password.
        """
        wait = self.wait(email, address)
        if wait > 0:
            return wait
        for key, free in self._counters(email, address):
            wait = self._take(key, free)
            if wait > 0:
                for taken in list(self._taken):
                    self._give_back(taken)  # refused: not counted after all
                return wait
        return 0.0

    def _take(self, key: str, free: int) -> float:
        keep_for = max(MEMORY, self.longest)
        for _ in range(_ATTEMPTS):
            record = self.store.load(key)
            count, last = _count(record, self.now)
            wait = last + delay(count, free, self.longest) - self.now
            if wait > 0:
                return wait
            updated = _counter(record, self.now, count + 1, keep_for)
            if self.store.save(key, updated, _version(record, self.now)):
                live = record if _version(record, self.now) is not None else None
                self._taken[key] = (updated.version, live)
                return 0.0
        return self.longest  # hopelessly contended: refuse rather than allow

    def succeeded(self, email: str, address: str) -> None:
        """Take back a claimed attempt whose password was right.

        The account's failures are forgotten; the address only loses this
        attempt, so logging in to an account of one's own does not clear the
        failures made against other accounts.
        """
        self.store.delete(_key("account", email))
        self._give_back(_key("address", client_network(address)))

    def _give_back(self, key: str) -> None:
        """Undo this attempt's claim on one counter.

        If no attempt was made since, the counter is put back exactly as it
        was (its count, the time of its last failure and its expiry), so
        successes do not keep a shared address's old failures alive.
        Otherwise only the count goes down.
        """
        taken = self._taken.pop(key, None)
        if taken is None:
            return
        version, before = taken
        for _ in range(_ATTEMPTS):
            record = self.store.load(key)
            count, _last = _count(record, self.now)
            if record is None or count == 0:
                return
            if record.version == version:
                if before is None:  # the claim made the counter: end it
                    updated = dataclasses.replace(
                        record, version=record.version + 1, expires_at=self.now
                    )
                else:
                    updated = dataclasses.replace(before, version=record.version + 1)
            else:
                updated = dataclasses.replace(
                    record,
                    data={**record.data, "count": str(count - 1)},
                    version=record.version + 1,
                )
            if self.store.save(key, updated, record.version):
                return


def take_mail_quota(store: SessionStore, email: str, now: float) -> bool:
    """Count one account email to ``email``; ``False`` once the hour's quota is used.

    Sign-up sends an email to whatever address is typed in; without a quota
    anyone could make the site flood an inbox.
    """
    key = _key("mail", email)
    for _ in range(_ATTEMPTS):
        record = store.load(key)
        count, _last = _count(record, now)
        if count >= MAIL_PER_HOUR:
            return False
        kept = record if record is not None and record.expires_at > now else None
        updated = _counter(kept, now, count + 1, 3600.0)
        if kept is not None:  # the hour counts from the first email
            updated = dataclasses.replace(updated, expires_at=kept.expires_at)
        if store.save(key, updated, _version(record, now)):
            return True
    return False
