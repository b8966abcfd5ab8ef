"""Column types the user table needs to behave alike on every database.

SQLite, PostgreSQL, MySQL and MariaDB differ in time zones and in how they
compare text; these types make the differences disappear, once.
"""

from __future__ import annotations

import typing as t
from datetime import datetime
from datetime import timezone

import sqlalchemy as sa
from sqlalchemy.dialects import mysql


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime column on every database.

    ``DateTime(timezone=True)`` comes back naive from SQLite and MySQL;
    comparing that with an aware time raises, so values are made aware (and
    stored in UTC) here, once.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: t.Any
    ) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(
        self, value: datetime | None, dialect: t.Any
    ) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


#: An email address column that compares exactly on every database. MySQL
#: and MariaDB compare text by a collation, and their default ones treat
#: ``ann@exámple.com`` as ``ann@example.com``: one row would answer to many
#: spellings, each with throttle counters of its own. The binary collation
#: makes equality there what it is on PostgreSQL and SQLite.
EmailAddress = sa.String(254).with_variant(
    mysql.VARCHAR(254, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)


#: A base64url value (a passkey user handle): letter case matters, so MySQL
#: and MariaDB compare it in binary, as the other databases do.
Base64Url = sa.String(64).with_variant(
    mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
