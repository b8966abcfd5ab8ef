"""``flask users`` with bad input: a name that is no ID of the model's key
type, and a page number past any database's integers.

An unknown user is a clear error (status 1), never a traceback, and never
another user: MariaDB turns the string ``'1abc'`` into the number 1 when it
compares it with an integer key, so ``flask users delete 1abc --yes`` would
delete user 1.
"""

from __future__ import annotations

import typing as t
import uuid

import flask
import pytest
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import require
from users_support import PASSWORD

from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo.users import UserState
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Iterator

URLS = {"sqlite": "sqlite://", "postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}


class Numbered(t.NamedTuple):
    app: flask.Flask
    model: type[t.Any]
    session: scoped_session[t.Any]


@pytest.fixture(params=list(URLS))
def numbered(request: pytest.FixtureRequest) -> Iterator[Numbered]:
    """An app whose users have an integer key, with user 1 in it."""

    class Base(DeclarativeBase):
        pass

    class Account(UserMixin, Base):
        __tablename__ = f"rivo_attack_cli_{uuid.uuid4().hex[:10]}"
        id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)

    if request.param == "sqlite":
        engine = sa.create_engine(
            "sqlite://",
            connect_args={"check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )
    else:
        engine = sa.create_engine(URLS[request.param])
        try:
            engine.connect().close()
        except sa.exc.OperationalError as error:
            require(False, f"{request.param}: {error}")
    Base.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    session.add(
        Account(
            id=1,
            email="ann@example.com",
            password_hash=hash_password(PASSWORD, 4),
            state=UserState.VERIFIED,
        )
    )
    session.commit()
    session.remove()
    app = flask.Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="test secret")
    RivoUsers(app, user_model=Account, db_session=session)

    @app.teardown_appcontext
    def remove(error: BaseException | None) -> None:
        session.remove()

    yield Numbered(app, Account, session)
    session.remove()
    Base.metadata.drop_all(engine)
    engine.dispose()


def run(app: flask.Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(args=["users", *args])


@pytest.mark.parametrize(
    "who",
    ["nobody", "1abc", " 1", "01", "1.0", "x@y", "99999999999999999999", "1e3"],
)
@pytest.mark.parametrize(
    "command", [["show"], ["set-state", "expired"], ["logout"], ["delete", "--yes"]]
)
def test_a_name_that_is_no_key_is_an_unknown_user(
    numbered: Numbered, who: str, command: list[str]
) -> None:
    result = run(numbered.app, command[0], who, *command[1:])
    assert result.exit_code == 1, result.output
    assert f"No user has the email address or ID {who!r}" in result.output
    numbered.session.remove()
    user = numbered.session.get(numbered.model, 1)
    assert user is not None
    assert user.state is UserState.VERIFIED


def test_the_key_itself_still_names_the_user(numbered: Numbered) -> None:
    result = run(numbered.app, "show", "1")
    assert result.exit_code == 0, result.output
    assert "Email: ann@example.com" in result.output


@pytest.mark.parametrize("page", [str(2**62), str(10**19), str(10**40)])
def test_a_page_past_the_end_is_empty_whatever_its_number(
    numbered: Numbered, page: str
) -> None:
    result = run(numbered.app, "list", "--page", page)
    assert result.exit_code == 0, result.output
    assert "ann@example.com" not in result.output
    assert f"Page {page} of 1 (1 accounts)." in result.output
