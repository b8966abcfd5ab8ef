"""Two requests racing for one account."""

from __future__ import annotations

import threading
import typing as t
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CSRF
from users_support import PASSWORD
from users_support import SITE
from users_support import Base
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import RivoUsers
from flask_rivo.users import accounts

# Every test here that uses a store runs on every store.
pytestmark = pytest.mark.every_store


def test_parallel_sign_ups_of_one_address_make_one_account(
    smtp_server: tuple[int, Mailbox],
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: t.Any,
) -> None:
    # A database file, so that each request has a connection of its own.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    Base.metadata.create_all(engine)
    db = scoped_session(sessionmaker(engine))
    app = flask.Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        RIVO_EXTERNAL_URL=SITE,
        RIVO_BCRYPT_ROUNDS=4,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server[0],
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="noreply@rivo.test",
    )
    RivoUsers(app, user_model=User, db_session=db)
    app.teardown_appcontext(lambda error: db.remove())

    barrier = threading.Barrier(2, timeout=10)
    real_sign_up = accounts.sign_up

    def sign_up_then_wait(email: str, password: str) -> None:
        real_sign_up(email, password)
        barrier.wait()  # both requests made the account; neither committed

    browsers = [Browser(app.test_client()) for _ in range(2)]
    tokens = []
    for browser in browsers:
        found = CSRF.search(browser.get("/signup").text)
        assert found is not None
        tokens.append(found.group(1))
    monkeypatch.setattr(accounts, "sign_up", sign_up_then_wait)
    statuses: list[int] = []

    def submit(browser: Browser, token: str) -> None:
        data = {
            "csrf_token": token,
            "email": "race@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        statuses.append(browser.client.post("/signup", data=data).status_code)

    threads = [
        threading.Thread(target=submit, args=pair)
        for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200, 200]
    with engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count())
            .select_from(User)
            .where(User.email == "race@example.com")
        ).scalar_one()
    assert count == 1
    assert len(mailbox.to("race@example.com")) == 2
    engine.dispose()
