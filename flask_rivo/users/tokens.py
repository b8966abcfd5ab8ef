"""Single-use tokens for emailed links: issue, look up, check, consume.

The link carries the raw token; the database keeps only its SHA-256, so a
leaked copy of the users table cannot verify addresses or reset passwords.
A token is random (about 190 bits), so a plain hash is enough: there is
nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from datetime import timezone

from ..ids import random_id

#: Characters in a token.
TOKEN_LENGTH = 32
_TOKEN = re.compile(rf"[0-9A-Za-z]{{{TOKEN_LENGTH}}}")


def new_token() -> tuple[str, str]:
    """Return a fresh token and its hash: ``(raw, hashed)``.

    The raw token goes into the emailed link and nowhere else.
    """
    raw = random_id(TOKEN_LENGTH)
    return raw, token_hash(raw)


def token_hash(raw: str) -> str:
    """The at-rest form of a token: its SHA-256 in hex."""
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def is_token(value: str | None) -> bool:
    """Tell whether ``value`` has the shape of a token (checked before lookup)."""
    return value is not None and _TOKEN.fullmatch(value) is not None


def aware(moment: datetime) -> datetime:
    """Read a stored time as UTC; SQLite hands back naive datetimes."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


#: How far in the future a token's creation time may seem: clocks of app
#: servers differ, and datetimes round to the microsecond.
CLOCK_SKEW = 60.0


def is_fresh(created_at: datetime | None, ttl: float, now: float) -> bool:
    """Tell whether a token issued at ``created_at`` is still within ``ttl``."""
    if created_at is None:
        return False
    age = now - aware(created_at).timestamp()
    return -CLOCK_SKEW <= age < ttl
