"""What ``flask users purge`` removes, as tasks it counts and runs in batches.

Every task works a batch at a time, each batch a short statement (or two)
and a commit of its own, so a backlog of millions of rows takes constant
memory and never holds many locks for long:

* expired sessions and stale throttle counters, from a SQL session store
  (Redis and the memory store drop them by themselves);
* never-verified accounts older than ``RIVO_UNVERIFIED_TTL``;
* verification links past ``RIVO_VERIFICATION_TTL``, and the hashes that
  used ones keep to say "already confirmed", once the confirmation is that
  old;
* password-reset links past ``RIVO_RESET_TTL``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing as t
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import sqlalchemy as sa

from ..stores.sqlalchemy import SQLAlchemyStore
from .models import UserState

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from ..stores.base import SessionStore
    from .models import SQLAlchemyUserStore
    from .settings import UsersSettings

#: Users deleted or updated per statement.
BATCH = 1000


@dataclasses.dataclass(frozen=True)
class Task:
    """One kind of thing to purge."""

    #: What is removed, in words: ``"expired sessions"``.
    what: str
    #: How many there are now.
    count: t.Callable[[], int]
    #: Removes them, yielding how many each batch removed.
    run: t.Callable[[], Iterator[int]]


def session_tasks(store: SessionStore, now: float) -> list[Task] | None:
    """The tasks for the session store, or ``None`` for a store that drops
    expired records by itself (Redis by its key expiry; the memory store
    lives in one process, and the ``flask`` command is another)."""
    if not isinstance(store, SQLAlchemyStore):
        return None
    return [
        Task(
            what,
            functools.partial(store.count_expired, now, counters=counters),
            functools.partial(store.purge_batches, now, counters=counters),
        )
        for what, counters in (
            ("expired sessions", False),
            ("stale throttle counters", True),
        )
    ]


def account_tasks(
    users: SQLAlchemyUserStore, settings: UsersSettings, now: float
) -> list[Task]:
    """The tasks for the users table.

    Never-verified accounts go by a bulk ``DELETE``, which skips the ORM's
    events, and so :mod:`~flask_rivo.users.binding`'s ending of sessions:
    such an account cannot log in, so it has none, except one an
    application logged in with ``login_user(force=True)``, which ends at
    its next request, when its user is not found.
    """
    model = users.model

    def moment(ttl: float) -> datetime:
        return datetime.fromtimestamp(now, tz=timezone.utc) - timedelta(seconds=ttl)

    unverified = moment(settings.unverified_ttl)
    verification = moment(settings.verification_ttl)
    reset = moment(settings.reset_ttl)
    token = model.verification_token_hash.is_not(None)
    reset_token = model.reset_token_hash.is_not(None)
    plans: list[tuple[str, sa.ColumnElement[bool], dict[str, None] | None]] = [
        (
            "never-verified accounts",
            sa.and_(model.state == UserState.CREATED, model.created_at < unverified),
            None,
        ),
        (
            "expired verification links",
            sa.and_(token, model.verification_created_at < verification),
            {"verification_token_hash": None, "verification_created_at": None},
        ),
        (
            "used verification links",
            sa.and_(
                token,
                model.verification_created_at.is_(None),
                sa.or_(model.verified_at.is_(None), model.verified_at < verification),
            ),
            {"verification_token_hash": None},
        ),
        (
            "expired password-reset links",
            sa.and_(reset_token, model.reset_created_at < reset),
            {"reset_token_hash": None, "reset_created_at": None},
        ),
    ]
    return [
        Task(
            what,
            functools.partial(_count, users, where),
            functools.partial(_batches, users, where, values),
        )
        for what, where, values in plans
    ]


def _count(users: SQLAlchemyUserStore, where: sa.ColumnElement[bool]) -> int:
    query = sa.select(sa.func.count()).select_from(users.model).where(where)
    found = users.session.scalar(query)
    users.session.rollback()  # end the read's transaction: no lock held
    return int(found or 0)


def _batches(
    users: SQLAlchemyUserStore,
    where: sa.ColumnElement[bool],
    values: dict[str, None] | None,
) -> Iterator[int]:
    """Delete (``values`` ``None``) or update the rows matching ``where``,
    :data:`BATCH` primary keys at a time, each batch committed.

    The keys are selected first and the change names them (with ``where``
    again, for rows changed meanwhile): MySQL allows no ``LIMIT`` in a
    subquery, and so this works the same on every database.
    """
    model, session = users.model, users.session
    key = sa.inspect(model).primary_key[0]
    while True:
        keys = session.scalars(sa.select(key).where(where).limit(BATCH)).all()
        if not keys:
            session.rollback()
            return
        change = sa.delete(model) if values is None else sa.update(model).values(values)
        change = change.where(key.in_(keys), where)
        done = session.execute(change, execution_options={"synchronize_session": False})
        session.commit()
        yield int(done.rowcount)
        if len(keys) < BATCH:
            return
