"""Identifiers: user IDs, random tokens, session IDs and their at-rest form.

Session IDs follow the OWASP Session Management Cheat Sheet: 256 bits from
:mod:`secrets` (twice its 128-bit minimum), opaque, and never stored as they
are. The store keys each record by the SHA-256 of the ID, so a leaked copy of
the store (a backup, a replica, a SQL injection elsewhere) holds no ID that
could be replayed as a cookie.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

#: Base62 in ASCII order, so that fixed-width Base62 numbers sort as text.
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: Random bytes in a session ID (256 bits).
SESSION_ID_BYTES = 32

#: Starts every counter key (see :func:`counter_key`). Session keys are 64
#: lowercase hex digits, so no session key ever starts with it.
COUNTER_PREFIX = "c-"

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_ROTATION_PERSON = b"rivo-rotation"
_COUNTER_NAMESPACE = "rivo-counter"


def random_id(length: int = 22) -> str:
    """Return a random Base62 string, ``length`` characters long.

    The default of 22 characters carries 130 bits, enough for a token that
    must not be guessed.

    :param length: how many characters, at least 1.
    :raises ValueError: if ``length`` is less than 1.
    """
    if length < 1:
        raise ValueError("random_id length must be at least 1")
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def cuid() -> str:
    """Return a compact, unique ID that sorts roughly by creation time.

    25 characters: ``c``, the time in milliseconds as 8 Base62 digits (good
    until the year 8888), then 16 random Base62 characters (95 bits), so IDs
    made on many machines at once do not collide and still sort by time,
    which keeps database indexes on them compact.
    """
    return "c" + _base62(time.time_ns() // 1_000_000, 8) + random_id(16)


def new_session_id() -> str:
    """Return a fresh session ID: 256 random bits, URL-safe Base64."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def is_session_id(value: str) -> bool:
    """Tell whether ``value`` has the shape of a session ID.

    Checked before any store lookup, so a garbage cookie costs nothing.
    """
    return _SESSION_ID.fullmatch(value) is not None


#: Ends the cookie of a permanent session. Flask re-sends a permanent
#: session's cookie on every request (``SESSION_REFRESH_EACH_REQUEST``);
#: marked, the cookie itself says so, and a request that never uses its
#: session can refresh it without reading the store.
PERMANENT_MARK = ".p"


def cookie_value(session_id: str, permanent: bool) -> str:
    """The session cookie's value: the ID, marked when the session is permanent."""
    return session_id + PERMANENT_MARK if permanent else session_id


def split_cookie(value: str) -> tuple[str, bool]:
    """The ID a session cookie's value carries, and whether it is marked
    permanent (see :func:`cookie_value`)."""
    if value.endswith(PERMANENT_MARK):
        return value[: -len(PERMANENT_MARK)], True
    return value, False


def session_key(session_id: str) -> str:
    """Return the store key of ``session_id``: its SHA-256, in hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def counter_key(*parts: str) -> str:
    """Return the store key of a counter (a log-in throttle, a mail quota).

    Counters live in the session store beside sessions, so their keys have
    the same length (64 characters) but a prefix that no session key has:
    a store can then tell them apart, and the memory store keeps them out of
    reach of a flood of anonymous sessions. The parts are hashed, so an
    email address or a client address never lies in the store as it is;
    each part is length-prefixed, so no two lists of parts share a key.
    """
    text = _COUNTER_NAMESPACE + "".join(f":{len(part)}:{part}" for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return COUNTER_PREFIX + digest[: 64 - len(COUNTER_PREFIX)]


def is_counter_key(key: str) -> bool:
    """Tell whether ``key`` was made by :func:`counter_key`."""
    return key.startswith(COUNTER_PREFIX)


#: Starts the successor of a regenerated-out ID: a tombstone, which leads
#: nowhere. Not hex, so :func:`unseal_successor` never reads an ID out of
#: it. A request that still carries the old ID (a parallel request of the
#: same browser, or whoever planted the ID) must learn that the ID was
#: replaced, not that it is unknown: see :mod:`flask_rivo.loading`.
REPLACED = "replaced-"


def replaced_mark() -> str:
    """The successor of a new tombstone: :data:`REPLACED` and 64 random bits.

    Each tombstone differs from any other, so that a store that takes a
    value equal to the stored one for its own write, resent after a lost
    reply (the Redis store does), never takes a second request's
    tombstone, made from the same record at the same moment, for one it
    wrote itself: only one request may retire an ID.
    """
    return REPLACED + secrets.token_hex(8)


def is_replaced(successor: str | None) -> bool:
    """Tell whether a record's successor marks a tombstone (see :data:`REPLACED`)."""
    return successor is not None and successor.startswith(REPLACED)


def _rotation_pad(old_id: str) -> bytes:
    return hashlib.blake2b(
        old_id.encode("ascii"), digest_size=43, person=_ROTATION_PERSON
    ).digest()


def seal_successor(new_id: str, old_id: str) -> str:
    """Encrypt ``new_id`` under a key derived from ``old_id``.

    A rotated-out record must lead a client that still holds the old ID to
    the new one, yet the store must not hold the new ID in the clear. Only
    the holder of the old ID (which the store never sees) can unseal it. The
    pad is used once: every old ID is rotated out at most once.
    """
    pad = _rotation_pad(old_id)
    return bytes(a ^ b for a, b in zip(new_id.encode("ascii"), pad, strict=True)).hex()


def unseal_successor(sealed: str, old_id: str) -> str | None:
    """Undo :func:`seal_successor`; ``None`` if the result is no session ID."""
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        return None
    pad = _rotation_pad(old_id)
    if len(raw) != len(pad):
        return None
    candidate = bytes(a ^ b for a, b in zip(raw, pad, strict=True)).decode("latin-1")
    return candidate if is_session_id(candidate) else None
