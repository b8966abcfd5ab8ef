"""Throttles: log-in attempts, account emails, and costly anonymous requests.

Log-in attempts follow OWASP's device-cookie scheme and NIST SP 800-63B
section 5.2.2:

* A browser that logged in to an account before carries a device cookie for
  it (:mod:`.devices`) and gets a bucket of its own for that account. Its
  failures, and only its, slow it down: strangers guessing at the account
  can never lock the owner out of a known browser.
* Attempts from unknown browsers share the account's bucket, and each
  client address (an IPv6 client by its /64) has one too. After a number of
  free failures, each further attempt must wait twice as long as the one
  before (1 s, 2 s, 4 s ... up to ``RIVO_LOGIN_MAX_DELAY``); a waiting
  attempt is refused at once (HTTP 429), never answered by sleeping a
  worker. After :data:`HARD_LIMIT` consecutive failures from unknown
  browsers the account takes no more attempts from them at all: only a
  known browser, or a password reset, gets in.

The counters live in the session store under :func:`~flask_rivo.ids.counter_key`
keys, so every app server sees the same ones and the memory store keeps them
out of reach of anonymous traffic. An account's counters are keyed by the
account (see :func:`~flask_rivo.users.shared.account_key`), so no spelling
of an address escapes them; an address's by ``request.remote_addr`` (a forged
``X-Forwarded-For`` does not escape it; trusting a proxy's header is the
application's choice, through ``ProxyFix``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math

from ..ids import counter_key
from ..stores.base import Record
from ..stores.base import SessionStore

#: Failure counters are forgotten after this long without a failure.
MEMORY = 24 * 3600.0
#: Consecutive failures from unknown browsers after which an account takes
#: no more attempts from them (NIST SP 800-63B 5.2.2: at most 100).
HARD_LIMIT = 100
#: How long an account locked by :data:`HARD_LIMIT` stays locked to unknown
#: browsers, unless a password reset ends it sooner (browsers that logged in
#: before are never locked out).
LOCKED_FOR = 30 * 24 * 3600.0
#: Account emails (verification, notices) one address may get in an hour.
MAIL_PER_HOUR = 3
#: The wait :meth:`Throttle.claim` returns for an account locked by
#: :data:`HARD_LIMIT`.
LOCKED = math.inf
_ATTEMPTS = 50


def client_network(address: str) -> str:
    """What the per-address counters count: an IPv4 address, an IPv6 /64.

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


def delay(failures: int, free: int, longest: float) -> float:
    """Seconds the attempt after ``failures`` failed ones must wait."""
    if failures < free:
        return 0.0
    return float(min(2.0 ** min(failures - free, 40), longest))


def _count(record: Record | None, now: float) -> tuple[int, float]:
    """Failures and the time of the last one, from a live counter record.

    The time is the stamp as written, even one ahead of ``now`` (by a server
    whose clock runs ahead): an attempt is refused until ``last + delay``
    whatever is reported, so the wait reported (``Retry-After``) must count
    from the same stamp, or a client that waits it is refused again.
    """
    if record is None or record.expires_at <= now:
        return 0, 0.0
    return int(record.data.get("count", "0")), float(record.data.get("last", "0"))


def _wait(record: Record | None, now: float, free: int, longest: float) -> float:
    """Seconds an attempt against this counter must still wait."""
    count, last = _count(record, now)
    pause = delay(count, free, longest)
    if pause == 0:
        return 0.0  # within the free allowance: never a wait, whatever the clocks
    return max(0.0, last + pause - now)


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
class _Bucket:
    """One counter an attempt is checked against."""

    key: str
    free: int
    #: Counts toward :data:`HARD_LIMIT` (the unknown browsers' bucket).
    hard: bool = False


@dataclasses.dataclass(frozen=True)
class Throttle:
    """The throttle of one log-in attempt.

    :meth:`claim` counts the attempt as failed before the password is
    checked, in one compare-and-swap per counter, so parallel attempts
    cannot all slip through the same gap; :meth:`succeeded` takes the count
    back when the password was right.

    :param store: where the counters live (the application's session store).
    :param now: the time of the attempt.
    :param free: failures per account (or per known browser) before delays
        begin.
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

    def _buckets(
        self, account: str | None, address: str, device: str | None
    ) -> list[_Bucket]:
        address_bucket = _Bucket(
            counter_key("address", client_network(address)), self.address_free
        )
        if account is None:
            # An attempt that names no account (a passkey assertion): only
            # the client's address is counted.
            return [address_bucket]
        if device is not None:
            # A browser that logged in to this account before: its own bucket.
            return [_Bucket(counter_key("device", account, device), self.free)]
        return [
            _Bucket(counter_key("account", account), self.free, hard=True),
            address_bucket,
        ]

    def _bucket_wait(self, bucket: _Bucket, record: Record | None) -> float:
        if bucket.hard and _count(record, self.now)[0] >= HARD_LIMIT:
            return LOCKED
        return _wait(record, self.now, bucket.free, self.longest)

    def wait(
        self, account: str | None, address: str, device: str | None = None
    ) -> float:
        """Seconds until an attempt on ``account`` may be made; :data:`LOCKED`
        for an account that takes no attempts from unknown browsers."""
        waits = [0.0]
        for bucket in self._buckets(account, address, device):
            waits.append(self._bucket_wait(bucket, self.store.load(bucket.key)))
        return max(waits)

    def claim(
        self, account: str | None, address: str, device: str | None = None
    ) -> float:
        """Take an attempt: 0 if it may go ahead (counted as failed), else the wait.

        :param account: what identifies the account (``account_key``), or
            ``None`` for an attempt that names none (only the address counts).
        :param address: the client's address.
        :param device: the nonce of this browser's device cookie for the
            account, if it has one.

        A refused attempt is not counted: it never reached the password.
        """
        wait = self.wait(account, address, device)
        if wait > 0:
            return wait
        for bucket in self._buckets(account, address, device):
            wait = self._take(bucket)
            if wait > 0:
                for taken in list(self._taken):
                    self._give_back(taken)  # refused: not counted after all
                return wait
        return 0.0

    def _take(self, bucket: _Bucket) -> float:
        for _ in range(_ATTEMPTS):
            record = self.store.load(bucket.key)
            wait = self._bucket_wait(bucket, record)
            if wait > 0:
                return wait
            count = _count(record, self.now)[0] + 1
            keep_for = max(MEMORY, self.longest)
            if bucket.hard and count >= HARD_LIMIT:
                keep_for = LOCKED_FOR
            updated = _counter(record, self.now, count, keep_for)
            if self.store.save(bucket.key, updated, _version(record, self.now)):
                live = record if _version(record, self.now) is not None else None
                self._taken[bucket.key] = (updated.version, live)
                return 0.0
        return self.longest  # hopelessly contended: refuse rather than allow

    def succeeded(
        self, account: str | None, address: str, device: str | None = None
    ) -> None:
        """Take back a claimed attempt whose password was right.

        The failures of the bucket the attempt was made in are forgotten
        (the account's, or this browser's); the address only loses this
        attempt, so logging in to an account of one's own does not clear the
        failures made against other accounts. A known browser's success
        leaves the unknown browsers' count of the account alone.
        """
        buckets = self._buckets(account, address, device)
        if account is None:
            self._give_back(buckets[0].key)
            return
        self.store.delete(buckets[0].key)
        self._taken.pop(buckets[0].key, None)
        for bucket in buckets[1:]:
            self._give_back(bucket.key)

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


def unlock(store: SessionStore, account: str) -> None:
    """Forget the unknown browsers' failures on ``account`` (a password reset)."""
    store.delete(counter_key("account", account))


def _take_within(
    store: SessionStore, key: str, now: float, limit: int, window: float
) -> float:
    """Count one event in a window that starts with the first; 0 if within
    ``limit``, else the seconds until the window ends."""
    for _ in range(_ATTEMPTS):
        record = store.load(key)
        count = _count(record, now)[0]
        kept = record if record is not None and record.expires_at > now else None
        if count >= limit and kept is not None:
            return max(1.0, kept.expires_at - now)
        updated = _counter(kept, now, count + 1, window)
        if kept is not None:  # the window counts from the first event
            updated = dataclasses.replace(updated, expires_at=kept.expires_at)
        if store.save(key, updated, _version(record, now)):
            return 0.0
    return window  # hopelessly contended: refuse rather than allow


def take_mail_quota(store: SessionStore, address: str, now: float) -> bool:
    """Count one account email to ``address``; ``False`` once the hour's quota
    is used.

    Sign-up sends an email to whatever address is typed in; without a quota
    anyone could make the site flood an inbox.
    """
    key = counter_key("mail", address)
    return _take_within(store, key, now, MAIL_PER_HOUR, 3600.0) == 0


def take_client_budget(
    store: SessionStore, address: str, now: float, per_hour: int
) -> float:
    """Count one costly anonymous request (a password hash, an email) from a
    client; 0 if within ``per_hour``, else the seconds to wait.

    Checked before any work is done, so a dropped request costs nothing.
    """
    key = counter_key("costly", client_network(address))
    return _take_within(store, key, now, per_hour, 3600.0)
