"""A closed (locked) account answers the right password as it answers a
wrong one: "closed" to the right password only would tell a guesser that
the password is right, one they may try on other sites."""

from __future__ import annotations

import typing as t

import flask
import pytest
import sqlalchemy as sa
from support import without_csrf
from users_support import PASSWORD
from users_support import Browser
from users_support import User

from flask_rivo.users import UserState

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

pytestmark = pytest.mark.every_store


def page(response: TestResponse) -> str:
    return without_csrf(response.text)


def test_the_right_password_of_a_closed_account_looks_wrong(
    users_app: flask.Flask, verified: str, db: scoped_session[t.Any]
) -> None:
    with users_app.app_context():
        user = db.scalars(sa.select(User).where(User.email == verified)).one()
        user.state = UserState.EXPIRED
        db.commit()
    wrong = Browser(users_app.test_client()).log_in(verified, "not it at all")
    right = Browser(users_app.test_client()).log_in(verified, PASSWORD)
    assert right.status_code == wrong.status_code == 400
    assert page(right) == page(wrong)
    assert "closed" not in right.text
    # Counted as a failure too: the right password does not clear the count.
    free = users_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    guesser = Browser(users_app.test_client())
    for _ in range(free - 2):
        guesser.log_in(verified, PASSWORD)
    assert guesser.log_in(verified, PASSWORD).status_code == 429
