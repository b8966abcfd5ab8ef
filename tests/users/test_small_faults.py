"""Small faults of the accounts half, each one of a kind: ``next`` built from
the requested URL, SameSite by default, https links, a missing SECRET_KEY,
``login_user`` on an account that may not log in."""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

import flask
import pytest
import sqlalchemy as sa
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import User

from flask_rivo import ConfigError
from flask_rivo import RivoUsers
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo import login_user
from flask_rivo.users import UserState

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import scoped_session


@pytest.fixture
def files_app(users_app: flask.Flask, db: scoped_session[t.Any]) -> flask.Flask:
    @users_app.get("/files/<path:name>")
    @login_required
    def files(name: str) -> str:
        return f"file {name}"

    @users_app.get("/force/<address>/<int:force>")
    def force(address: str, force: int) -> str:
        user = db.scalars(sa.select(User).where(User.email == address)).one()
        done = login_user(user, force=bool(force))
        db.commit()
        return f"{done} {current_user.is_authenticated}"

    return users_app


@pytest.mark.parametrize(
    "requested",
    [
        "/files/report%3Fdraft.txt",
        "/files/report%3Fdraft.txt?v=2&x=%2F",
        "/files/a%20b%23c.txt",
        "/files/%C3%A4rger.txt",
    ],
)
def test_next_is_exactly_the_url_requested(
    files_app: flask.Flask, browser: Browser, verified: str, requested: str
) -> None:
    response = browser.get(requested)
    location = urlsplit(response.headers["Location"])
    assert parse_qs(location.query)["next"] == [requested]
    back = browser.submit(
        response.headers["Location"], {"email": verified, "password": PASSWORD}
    )
    assert back.headers["Location"] == requested
    name = requested.split("?")[0][len("/files/") :]
    assert browser.get(back.headers["Location"]).text == f"file {unquote(name)}"


def test_the_session_cookie_is_same_site_lax_by_default(
    browser: Browser, verified: str
) -> None:
    response = browser.log_in(verified)
    assert "SameSite=Lax" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("explicit", ["Strict", "None"])
def test_an_explicit_same_site_is_kept(
    make_users_app: Callable[..., flask.Flask], explicit: str
) -> None:
    app = make_users_app(SESSION_COOKIE_SAMESITE=explicit, SESSION_COOKIE_SECURE=True)
    assert app.config["SESSION_COOKIE_SAMESITE"] == explicit
    response = app.test_client().get("/login")
    assert f"SameSite={explicit}" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("debug", "scheme", "expected"),
    [
        (False, "http", "https://shop.test/verify?token="),
        (False, "https", "https://shop.test/verify?token="),
        (True, "http", "http://shop.test/verify?token="),
    ],
)
def test_links_from_server_name_are_https_outside_debug(
    make_users_app: Callable[..., flask.Flask],
    mailbox: Mailbox,
    debug: bool,
    scheme: str,
    expected: str,
) -> None:
    app = make_users_app(
        debug=debug,
        drop=("RIVO_EXTERNAL_URL",),
        SERVER_NAME="shop.test",
        PREFERRED_URL_SCHEME=scheme,
    )
    Browser(app.test_client()).sign_up("bob@example.com")
    [link] = mailbox.links(mailbox.to("bob@example.com")[-1])
    assert link.startswith(expected)


def test_an_explicit_http_external_url_is_kept(
    make_users_app: Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    app = make_users_app(RIVO_EXTERNAL_URL="http://intranet.test")
    Browser(app.test_client()).sign_up("bob@example.com")
    [link] = mailbox.links(mailbox.to("bob@example.com")[-1])
    assert link.startswith("http://intranet.test/verify?token=")


@pytest.mark.parametrize("secret", [None, ""])
def test_no_secret_key_fails_in_init_app(
    db: scoped_session[t.Any], secret: str | None
) -> None:
    app = flask.Flask(__name__)
    app.config.update(RIVO_EXTERNAL_URL="https://rivo.test", SECRET_KEY=secret)
    with pytest.raises(ConfigError, match="SECRET_KEY") as raised:
        RivoUsers(app, user_model=User, db_session=db)
    assert raised.value.key == "SECRET_KEY"
    assert "rivo_users" not in app.blueprints


def test_login_user_refuses_an_unverified_account_unless_forced(
    files_app: flask.Flask, browser: Browser, mailbox: Mailbox
) -> None:
    browser.sign_up("bob@example.com")
    assert browser.get("/force/bob@example.com/0").text == "False False"
    assert browser.get("/files/x").status_code == 302
    assert browser.get("/force/bob@example.com/1").text == "True True"
    # Forced, it lasts beyond the request that logged in.
    assert browser.get("/files/x").text == "file x"


def test_login_user_refuses_a_closed_account_even_forced(
    files_app: flask.Flask,
    browser: Browser,
    verified: str,
    db: scoped_session[t.Any],
) -> None:
    with files_app.app_context():
        user = db.scalars(sa.select(User).where(User.email == verified)).one()
        user.state = UserState.EXPIRED
        db.commit()
    for force in (0, 1):
        assert browser.get(f"/force/{verified}/{force}").text == "False False"
    assert browser.get("/files/x").status_code == 302
