"""UserMixin on Flask-SQLAlchemy's db.Model and on a plain DeclarativeBase."""

from __future__ import annotations

import re
import typing as t

import flask
import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo.users import AnonymousUser
from flask_rivo.users import UserState


class PeopleBase(DeclarativeBase):
    pass


class Person(UserMixin, PeopleBase):
    """A second model with the mixin, on its own plain DeclarativeBase."""

    __tablename__ = "people"
    id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)


@pytest.fixture
def engine() -> t.Iterator[sa.Engine]:
    """A fresh in-memory SQLite database with the ``people`` table."""
    engine = sa.create_engine("sqlite://")
    PeopleBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_mixin_columns_on_a_plain_declarative_base() -> None:
    columns = {c.name: c for c in User.__table__.columns}  # type: ignore[attr-defined]
    for name in (
        "email",
        "password_hash",
        "state",
        "verification_token_hash",
        "verification_created_at",
        "reset_token_hash",
        "reset_created_at",
        "pending_email",
        "created_at",
        "verified_at",
        "last_login_at",
    ):
        assert name in columns, name
    assert columns["email"].unique
    assert columns["id"].primary_key


def test_state_is_stored_as_its_name_and_email_is_unique(
    engine: sa.Engine,
) -> None:
    with sa.orm.Session(engine) as session:
        session.add(Person(email="a@example.com", password_hash="x"))
        session.commit()
        raw = session.execute(sa.text("SELECT state FROM people")).scalar_one()
        assert raw == "created"
        person = session.scalars(sa.select(Person)).one()
        assert person.state is UserState.CREATED
        assert not person.is_active
        assert re.fullmatch(r"c[0-9A-Za-z]{24}", person.get_id())
        session.add(Person(email="a@example.com", password_hash="y"))
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()


def test_get_id_needs_a_primary_key() -> None:
    with pytest.raises(ValueError, match="no primary key"):
        User(email="b@example.com", password_hash="x").get_id()


def test_anonymous_user() -> None:
    anonymous = AnonymousUser()
    assert not anonymous
    assert anonymous.is_authenticated is False
    assert anonymous.is_anonymous is True
    assert anonymous.get_id() is None


def test_flask_sqlalchemy_model_works_end_to_end(
    smtp_server: tuple[int, Mailbox], tmp_path: object
) -> None:
    db = SQLAlchemy()

    class Member(UserMixin, db.Model):  # type: ignore[name-defined,misc]
        id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)

    app = flask.Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        RIVO_EXTERNAL_URL="https://rivo.test",
        RIVO_BCRYPT_ROUNDS=4,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server[0],
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="noreply@rivo.test",
    )
    db.init_app(app)
    RivoUsers(app, user_model=Member, db_session=db.session)

    @app.get("/me")
    @login_required
    def me() -> str:
        return str(current_user.email)

    with app.app_context():
        db.create_all()
    mailbox = smtp_server[1]
    mailbox.clear()
    browser = Browser(app.test_client())
    browser.sign_up("dana@example.com")
    browser.submit(mailbox.last_link("dana@example.com"), {"password": PASSWORD})
    assert browser.log_in("dana@example.com", PASSWORD).status_code == 302
    assert browser.get("/me").text == "dana@example.com"
    with app.app_context():
        member = db.session.scalars(sa.select(Member)).one()
        assert member.state is UserState.VERIFIED
        assert member.last_login_at is not None


def test_times_come_back_aware_in_utc_from_sqlite(engine: sa.Engine) -> None:
    from datetime import datetime
    from datetime import timedelta
    from datetime import timezone

    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 26, 12, 0, tzinfo=paris)
    with sa.orm.Session(engine) as session:
        session.add(
            Person(email="t@example.com", password_hash="x", verified_at=moment)
        )
        session.commit()
        session.expire_all()
        person = session.scalars(sa.select(Person)).one()
        assert person.verified_at == moment
        assert person.verified_at is not None
        assert person.verified_at.utcoffset() == timedelta(0)
        assert person.created_at.tzinfo is not None
