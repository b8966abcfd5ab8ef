"""Loading a session: the cookie's ID to a live record, and every check on it.

Expiry, fingerprints, rotated-out IDs and several cookies of one name are
all decided here, when the view first uses the session (see
:class:`~flask_rivo.RivoSession`), so a request that never uses it costs no
store call.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from . import fingerprint
from .ids import is_replaced
from .ids import is_session_id
from .ids import session_key
from .ids import split_cookie
from .ids import unseal_successor

if t.TYPE_CHECKING:
    from .settings import SessionSettings
    from .stores.base import Record
    from .stores.base import SessionStore

logger = logging.getLogger("flask_rivo")

#: The most values of the session cookie one request may send that are
#: looked up (see :meth:`Loader.first_live`).
MAX_COOKIES = 3


class Loaded(t.NamedTuple):
    """What loading found: the session's data, ID and record, if any."""

    data: dict[str, t.Any]
    session_id: str | None = None
    record: Record | None = None
    #: A cookie came with the request that leads nowhere (or elsewhere) now.
    stale_cookie: bool = False
    #: The cookie's ID was regenerated out moments ago (a tombstone): the
    #: browser holds a newer cookie already, or the holder planted the ID.
    #: The session is empty, stores nothing, and leaves the cookie alone.
    replaced: bool = False


#: Nothing found: the cookie leads to no live session.
STALE = Loaded({}, stale_cookie=True)
#: The cookie leads to a tombstone (see :func:`flask_rivo.commit.retire`).
REPLACED = Loaded({}, replaced=True)


class _Tombstone:
    """What :meth:`Loader.live` finds for an ID that a regenerate replaced."""


#: The one :class:`_Tombstone`.
TOMBSTONE: t.Final = _Tombstone()


@dataclasses.dataclass(slots=True)
class Loader:
    """Loads the session one request's cookies name, when it is first used.

    Made when the request opens, from what is known then; called at most
    once, perhaps after the request context is gone (tests open sessions and
    use them later), so it holds everything it needs. (A plain class with
    slots, not a frozen dataclass: one is made per request.)
    """

    store: SessionStore
    settings: SessionSettings
    #: Reads a stored value (see :mod:`flask_rivo.codec`).
    loads: t.Callable[[str], t.Any]
    #: The values of the session cookie, in the browser's order.
    cookies: list[str]
    #: The User-Agent (shortened as stored) and the address of the request.
    client: tuple[str, str]
    #: Reads the time when the session is loaded.
    clock: t.Callable[[], float]

    def __call__(self) -> Loaded:
        """Find the session and decode its data.

        :raises StoreError: if the store cannot be reached.
        """
        found = self.first_live()
        if found is None:
            return STALE
        if isinstance(found, _Tombstone):
            return REPLACED
        cookie, (session_id, record) = found
        loads = self.loads
        try:
            data = {k: loads(v) for k, v in record.data.items()}
        except Exception as error:
            # Flask's tagged JSON raises what its tags' decoders raise
            # (AttributeError, TypeError, ValueError...): a record it cannot
            # read is unreadable, whatever the error. Its text may quote the
            # stored value: only its class is logged.
            logger.error("Dropping unreadable session record: %s", type(error).__name__)
            self.store.delete(session_key(session_id))
            return STALE
        return Loaded(data, session_id, record, session_id != cookie)

    def first_live(self) -> tuple[str, tuple[str, Record]] | _Tombstone | None:
        """The first cookie value that leads to a live session, and that session.

        A browser sends several cookies of one name when a sibling subdomain,
        or a script on a plain-HTTP page of the host, set one for a parent
        domain or another path. An unknown value must not win over the
        user's live session (which would log them out on every request), so
        each value is tried, in the browser's order; none is ever adopted.
        At most :data:`MAX_COOKIES` are tried, so a request costs boundedly
        many reads. If none leads to a live session but one leads to a
        tombstone, that is what was found: the browser's live cookie is
        probably on its way (see :func:`flask_rivo.commit.retire`).
        """
        candidates: list[str] = []
        for value in self.cookies:
            cookie = split_cookie(value)[0]
            if cookie not in candidates and is_session_id(cookie):
                candidates.append(cookie)
                if len(candidates) == MAX_COOKIES:
                    break
        tombstone = None
        for cookie in candidates:
            found = self.live(cookie)
            if isinstance(found, _Tombstone):
                tombstone = found
            elif found is not None:
                return cookie, found
        return tombstone

    def live(self, session_id: str) -> tuple[str, Record] | _Tombstone | None:
        """The live session ``session_id`` leads to, following rotated-out IDs.

        An expired session, or one used from another client, is deleted:
        never revived. An ID that a regenerate replaced less than
        ``RIVO_SESSION_ID_GRACE`` ago leads to :data:`TOMBSTONE`, never to
        the new session.
        """
        now, store, settings = self.clock(), self.store, self.settings
        for _ in range(settings.id_hops):
            key = session_key(session_id)
            record = store.load(key)
            if record is None:
                return None
            if record.successor is not None:
                # A rotated-out ID in its grace period leads to its successor.
                if record.expires_at <= now:
                    return None
                if is_replaced(record.successor):
                    return TOMBSTONE
                successor = unseal_successor(record.successor, session_id)
                if successor is None:
                    return None
                session_id = successor
                continue
            ends = settings.expires_at(
                record.created_at, record.accessed_at, record.data, record.user_id
            )
            if min(ends, record.expires_at) <= now:
                store.delete(key)
                return None
            if not self.same_client(record):
                logger.warning(
                    "Ending a session used from another client (%s, %r)",
                    self.client[1],
                    self.client[0],
                )
                store.delete(key)
                return None
            return session_id, record
        return None

    def same_client(self, record: Record) -> bool:
        """Whether the request comes from the client the session began with."""
        settings, (user_agent, address) = self.settings, self.client
        if settings.ua_match and not fingerprint.same_user_agent(
            record.user_agent, user_agent
        ):
            return False
        return fingerprint.same_network(
            record.address, address, settings.ip_octets, settings.ipv6_prefix
        )
