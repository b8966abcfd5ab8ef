"""The interface between the session logic and where sessions are kept.

A store is deliberately dumb: it keeps :class:`Record` objects under string
keys and offers one atomic primitive, compare-and-swap on a record's
version. Expiry rules, rotation, fingerprints and merging live in the
session interface, so a new store only has to get storage right.
"""

from __future__ import annotations

import abc
import dataclasses
import typing as t


@dataclasses.dataclass(frozen=True)
class Record:
    """One session as a store keeps it.

    Times are POSIX timestamps in seconds. Stores treat every field but
    :attr:`version`, :attr:`expires_at` and :attr:`user_id` as opaque.
    """

    #: Session keys mapped to their values in Flask's tagged JSON.
    data: t.Mapping[str, str]
    #: Bumped on every change; the basis of compare-and-swap.
    version: int
    #: When the session began (the absolute timeout counts from here).
    created_at: float
    #: When the session was last used (the idle timeout counts from here).
    accessed_at: float
    #: When the current session ID was issued (rotation counts from here).
    id_issued_at: float
    #: After this the record is dead; a store may drop it at any time.
    expires_at: float
    #: The logged-in user, for listing and ending a user's sessions.
    user_id: str | None = None
    #: The User-Agent the session began with.
    user_agent: str = ""
    #: The client address the session began with.
    address: str = ""
    #: Set on a rotated-out ID: the new ID, sealed with the old one.
    successor: str | None = None


def oldest_excess(
    sessions: t.Iterable[tuple[str, float]], keep: int, spare: str | None
) -> list[str]:
    """The keys of the oldest ``sessions`` past ``keep``, never ``spare``.

    :param sessions: each session's key and :attr:`~Record.created_at`;
        sessions begun at the same moment are taken in key order.
    """
    found = sorted(sessions, key=lambda session: (session[1], session[0]))
    excess = len(found) - keep
    return [key for key, _ in found if key != spare][: max(excess, 0)]


class SessionStore(abc.ABC):
    """Where sessions live. Subclass it to keep sessions anywhere.

    Keys are the hex SHA-256 of session IDs, never the IDs themselves. Every
    method may raise :class:`~flask_rivo.exceptions.StoreError` when the
    backing service cannot be reached; the session interface answers such
    requests with HTTP 503. Methods must be safe to call from many threads
    (and, for shared stores, many processes) at once.

    .. versionadded:: 0.1
    """

    @abc.abstractmethod
    def load(self, key: str) -> Record | None:
        """Return the record stored under ``key``, or ``None``.

        A record whose :attr:`~Record.expires_at` has passed may be returned
        or not; the caller checks.
        """

    @abc.abstractmethod
    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        """Store ``record`` under ``key`` if nobody changed it meanwhile.

        The write happens only if the stored record's version equals
        ``expected_version``, or, when ``expected_version`` is ``None``, if no
        live record exists under ``key``. Check and write are one atomic step.

        :returns: ``True`` if written, ``False`` on a version conflict.
        """

    @abc.abstractmethod
    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        """Record that the session was used, without changing its version.

        Does nothing unless a live record with ``expected_version`` is under
        ``key``: a touch decided on an older record must not stretch the
        life of what replaced it (such as a rotated-out ID's short pointer).
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the record under ``key``; no error if there is none."""

    @abc.abstractmethod
    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        """Return the live sessions of a user as ``(key, record)`` pairs."""

    @abc.abstractmethod
    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        """Remove every session of a user, except the one under ``keep``.

        :returns: how many sessions were removed.
        """

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        """End a user's oldest sessions until at most ``keep`` remain.

        The session interface calls it after each log-in, with
        ``RIVO_SESSION_MAX_PER_USER``, so nobody can pile up sessions (and
        the work of keeping them) without end. Oldest means the earliest
        :attr:`~Record.created_at`: a rotated ID keeps its session's place.
        The session under ``spare`` (the one just logged in) is never ended,
        even if it is the oldest.

        This default lists the user's sessions and deletes the excess, so
        that a store of your own keeps the cap without more code; it is not
        atomic (two log-ins of one user at once may each end the other's
        session), and the shipped stores override it with one atomic step
        per user, and cheaper. A store may count
        sessions that expired but are still in its index (and so end more
        of the oldest live ones than strictly needed), as long as it drops
        the dead ones it meets, so that the index never outgrows the cap.

        .. versionadded:: 0.1

        :returns: how many live sessions were ended.
        """
        sessions = self.user_sessions(user_id)
        doomed = oldest_excess(
            ((key, record.created_at) for key, record in sessions), keep, spare
        )
        for key in doomed:
            self.delete(key)
        return len(doomed)

    @abc.abstractmethod
    def purge_expired(self, now: float) -> int:
        """Remove the records that expired before ``now``.

        Stores that expire records by themselves may return 0.

        :returns: how many records were removed.
        """

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release connections; the default has nothing to release."""
