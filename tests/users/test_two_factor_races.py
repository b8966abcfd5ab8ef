"""One code, two requests at the same moment, on real databases: the
compare-and-swap of the user store (``UserStore.swap``) lets one through.

The second request's UPDATE waits for the first one's row lock, then finds
the row changed and swaps nothing: the code is not accepted twice."""

from __future__ import annotations

import threading
import typing as t

import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from sqlalchemy.orm import sessionmaker
from users_support import own_user_model
from users_support import tables_on

from flask_rivo.users import UserState
from flask_rivo.users.models import SQLAlchemyUserStore

if t.TYPE_CHECKING:
    from collections.abc import Iterator


Account = own_user_model("rivo_2fa_race")


@pytest.fixture(params=[POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    with tables_on(request.param, Account.metadata) as engine:
        yield engine


@pytest.mark.parametrize(
    ("column", "before", "after"),
    [("totp_last_step", 100, 101), ("recovery_codes", '["a", "b"]', '["b"]')],
)
def test_two_requests_with_one_code_let_one_through(
    engine: sa.Engine, column: str, before: object, after: object
) -> None:
    make = sessionmaker(engine)
    with make() as setup:
        account = Account(
            email="ann@example.com", password_hash="x", state=UserState.VERIFIED
        )
        setattr(account, column, before)
        setup.add(account)
        setup.commit()
        user_id = account.id
    first, second = make(), make()
    try:
        mine = first.get(Account, user_id)
        theirs = second.get(Account, user_id)  # read before either swapped
        assert SQLAlchemyUserStore(Account, first).swap(mine, column, before, after)
        results: list[bool] = []
        twin = threading.Thread(
            target=lambda: results.append(
                SQLAlchemyUserStore(Account, second).swap(theirs, column, before, after)
            )
        )
        twin.start()
        twin.join(0.5)
        assert twin.is_alive()  # waiting for the first request's row lock
        first.commit()
        twin.join(10)
        assert results == [False]
        second.rollback()
    finally:
        first.close()
        second.close()
    with make() as check:
        assert getattr(check.get(Account, user_id), column) == after
