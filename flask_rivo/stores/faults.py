"""Driver errors turned into store errors that say why, and nothing more.

A driver's error text quotes what it was given: SQLAlchemy's shows the
statement and its parameters (the session's data), PostgreSQL's details name
the value of an offending key, MySQL's quote a duplicate entry. Whatever logs
or reports a :class:`~flask_rivo.exceptions.StoreError` must never see
session data, session IDs or store keys, so the error carries a fixed
description of the kind of failure (picked by reading that text, never
copying it) and the cause's class; the driver's exception is not chained.
"""

from __future__ import annotations

from ..exceptions import StoreError

#: Kinds of failure: a fixed description, the error codes that signal it
#: (PostgreSQL SQLSTATEs, MySQL error numbers, SQLite error names), and
#: phrases of drivers' messages and exception class names. The first kind
#: that matches wins, so narrow kinds come before broad ones.
KINDS: tuple[tuple[str, frozenset[str], tuple[str, ...]], ...] = (
    ("deadlock", frozenset({"40p01", "1213"}), ("deadlock",)),
    ("serialization failure", frozenset({"40001"}), ("could not serialize",)),
    (
        "lock timeout",
        frozenset({"55p03", "1205"}),
        ("lock timeout", "lock wait timeout", "locknotavailable"),
    ),
    (
        "database locked",
        frozenset({"sqlite_busy", "sqlite_locked"}),
        ("database is locked", "database table is locked"),
    ),
    (
        "statement timeout",
        frozenset({"57014", "3024"}),
        ("statement timeout", "querycanceled", "max_statement_time"),
    ),
    ("connection pool exhausted", frozenset(), ("queuepool limit",)),
    ("timeout", frozenset(), ("timeout", "timed out")),
    ("connection refused", frozenset({"2003"}), ("refused",)),
    (
        "host not found",
        frozenset({"2005"}),
        ("could not translate host name", "name or service not known"),
    ),
    (
        "authentication failed",
        frozenset({"28p01", "28000", "1045"}),
        ("authentication", "access denied", "noauth", "wrongpass"),
    ),
    (
        "too many connections",
        frozenset({"53300", "1040"}),
        ("too many connections", "max number of clients"),
    ),
    (
        "connection lost",
        frozenset({"2006", "2013", "57p01"}),
        (
            "server closed the connection",
            "connection reset",
            "lost connection",
            "gone away",
            "broken pipe",
            "closed by server",
            "connection is closed",
            "terminating connection",
        ),
    ),
    ("server loading its data", frozenset(), ("loading",)),
    ("read-only", frozenset({"25006", "sqlite_readonly"}), ("readonly", "read only")),
    ("out of memory", frozenset({"53200"}), ("oom ", "out of memory")),
    ("disk full", frozenset({"53100", "sqlite_full"}), ("disk full", "no space")),
    ("cluster down", frozenset(), ("clusterdown", "cluster cannot be connected")),
    (
        "database missing",
        frozenset({"3d000", "1049", "sqlite_cantopen"}),
        ("unknown database", "unable to open database"),
    ),
    ("table missing", frozenset({"42p01", "1146"}), ("no such table",)),
)


def _qualified(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return (
        kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    )


def describe(error: BaseException) -> str:
    """What kind of failure ``error`` is, in words that quote nothing of it.

    SQLAlchemy's wrapped driver error (``error.orig``) is read too: its code
    and class say more than the wrapper.

    :returns: one of the descriptions in :data:`KINDS`, followed by the
        driver's exception class, e.g. ``"database locked
        (sqlite3.OperationalError)"``; only the class if no kind fits.
    """
    original = getattr(error, "orig", None)
    errors = [e for e in (original, error) if isinstance(e, BaseException)]
    codes: set[str] = set()
    text = []
    for each in errors:
        for attribute in ("sqlstate", "sqlite_errorname"):
            code = getattr(each, attribute, None)
            if code is not None:
                codes.add(str(code).lower())
        args = getattr(each, "args", ())
        if args and isinstance(args[0], int):
            codes.add(str(args[0]))
        text += [str(each).lower(), *(c.__name__.lower() for c in type(each).__mro__)]
    haystack = " ".join(text)
    cause = _qualified(errors[0])
    for description, signals, phrases in KINDS:
        if codes & signals or any(phrase in haystack for phrase in phrases):
            return f"{description} ({cause})"
    return cause


def unavailable(service: str, error: BaseException) -> StoreError:
    """The :class:`~flask_rivo.StoreError` to raise, ``from None``, for a
    driver's error.

    :param service: what could not be reached, to start the message.
    """
    return StoreError(f"{service} unavailable: {describe(error)}", cause=error)
