"""Who is logged in: log-out, login_required, current_user, safe_next, and
installing RivoUsers."""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

import flask
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support import CSRF
from support import FakeClock
from support import cookie_value
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import User
from users_support import add_user

from flask_rivo import RivoSessionInterface
from flask_rivo import RivoSessions
from flask_rivo import RivoUsers
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo.ids import session_key
from flask_rivo.users import UserState
from flask_rivo.users import safe_next
from flask_rivo.users.models import SQLAlchemyUserStore
from flask_rivo.users.signals import user_logged_out

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse


# -- helpers ------------------------------------------------------------------


def log_in(browser: Browser, address: str, path: str = "/login") -> TestResponse:
    response = browser.submit(path, {"email": address, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return response


def csrf_token(browser: Browser, path: str = "/signup") -> str:
    found = CSRF.search(browser.get(path).text)
    assert found is not None
    return found.group(1)


def cookie_of(browser: Browser) -> str | None:
    cookie = browser.client.get_cookie("session")
    return None if cookie is None else cookie.value


def session_store(app: flask.Flask) -> t.Any:
    return app.extensions["rivo_sessions"].configure(app.config)[1]


def user_id_of(db: scoped_session[t.Any], email: str) -> str:
    found = db.scalars(sa.select(User.id).where(User.email == email)).one()
    db.remove()
    return str(found)


def user_agent(browser: Browser) -> str:
    return str(browser.client.environ_base["HTTP_USER_AGENT"])


# -- log-out -----------------------------------------------------------------


def test_log_out_is_post_only(browser: Browser, verified: str) -> None:
    log_in(browser, verified)
    response = browser.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert browser.get("/").text == f"Hello {verified}"


@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}])
def test_log_out_needs_the_csrf_token(
    browser: Browser, verified: str, data: dict[str, str]
) -> None:
    log_in(browser, verified)
    response = browser.client.post("/logout", data=data)
    assert response.status_code == 400
    assert browser.get("/").text == f"Hello {verified}"
    assert browser.get("/account").status_code == 200


def test_log_out_ends_the_session_on_the_server(
    browser: Browser,
    verified: str,
    users_app: flask.Flask,
    db: scoped_session[t.Any],
) -> None:
    log_in(browser, verified)
    old = cookie_of(browser)
    assert old
    store = session_store(users_app)
    assert store.load(session_key(old)) is not None

    response = browser.log_out()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    # The cookie no longer holds the old ID: it is expired, or replaced by a
    # new anonymous session (one that carries the "logged out" message).
    assert cookie_value(response) not in (None, old)
    assert store.load(session_key(old)) is None
    assert browser.get("/").text == "Hello stranger"
    assert browser.get("/account").status_code == 302

    replay = users_app.test_client()
    replay.set_cookie("session", old)
    assert replay.get("/").text == "Hello stranger"
    assert replay.get("/account").status_code == 302
    with users_app.test_request_context():
        assert RivoSessions().user_sessions(user_id_of(db, verified)) == []


def test_log_out_redirect_setting(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    users_app.config["RIVO_LOGOUT_REDIRECT"] = "/goodbye"
    log_in(browser, verified)
    response = browser.log_out()
    assert response.status_code == 302
    assert response.headers["Location"] == "/goodbye"
    assert browser.get("/").text == "Hello stranger"


def test_log_out_signal(
    browser: Browser, verified: str, users_app: flask.Flask
) -> None:
    seen: list[tuple[flask.Flask, str]] = []

    def receive(sender: flask.Flask, user: t.Any, **extra: t.Any) -> None:
        seen.append((sender, user.email))

    with user_logged_out.connected_to(receive, users_app):
        assert browser.log_out().status_code == 302  # nobody logged in: no signal
        assert seen == []
        log_in(browser, verified)
        assert browser.log_out().status_code == 302
    assert seen == [(users_app, verified)]


# -- login_required -------------------------------------------------------------


def test_anonymous_page_request_goes_to_log_in(browser: Browser, verified: str) -> None:
    target = "/account?tab=2&x=%2F"
    response = browser.get(target)
    assert response.status_code == 302
    assert "no-store" in response.headers["Cache-Control"]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert not location.netloc
    assert parse_qs(location.query)["next"] == [target]
    # And logging in there comes back.
    back = browser.submit(
        response.headers["Location"], {"email": verified, "password": PASSWORD}
    )
    assert back.headers["Location"] == target
    page = browser.get(target)
    assert page.text == f"Account of {verified}"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"Accept": "application/json"}},
        {"json": {"any": "thing"}},
        {"headers": {"Accept": "text/html;q=0.5, application/json"}},
    ],
)
def test_anonymous_json_request_gets_401(
    browser: Browser, kwargs: dict[str, t.Any]
) -> None:
    response = browser.get("/account", **kwargs)
    assert response.status_code == 401
    assert response.is_json
    assert response.get_json()["error"]
    assert "Location" not in response.headers
    assert "no-store" in response.headers["Cache-Control"]


def test_browser_accept_header_gets_the_redirect(browser: Browser) -> None:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = browser.get("/account", headers={"Accept": accept})
    assert response.status_code == 302


def test_logged_in_user_sees_the_page_not_cached(
    browser: Browser, verified: str
) -> None:
    log_in(browser, verified)
    response = browser.get("/account")
    assert response.status_code == 200
    assert response.text == f"Account of {verified}"
    assert "no-store" in response.headers["Cache-Control"]
    json = browser.get("/account", headers={"Accept": "application/json"})
    assert json.status_code == 200


# -- current_user -----------------------------------------------------------------


def test_current_user_when_anonymous(users_app: flask.Flask, browser: Browser) -> None:
    with users_app.test_request_context("/"):
        assert current_user.is_authenticated is False
        assert current_user.is_anonymous is True
        assert not current_user
        assert current_user.get_id() is None
        text = flask.render_template_string("{{ current_user.is_authenticated }}")
        assert text == "False"
    assert browser.get("/").text == "Hello stranger"


def test_current_user_when_logged_in(
    users_app: flask.Flask,
    browser: Browser,
    verified: str,
    db: scoped_session[t.Any],
) -> None:
    log_in(browser, verified)
    assert browser.get("/").text == f"Hello {verified}"
    headers = {
        "Cookie": f"session={cookie_of(browser)}",
        "User-Agent": user_agent(browser),
    }
    with users_app.test_request_context("/", headers=headers):
        assert current_user.is_authenticated is True
        assert current_user
        assert current_user.email == verified
        assert current_user.get_id() == user_id_of(db, verified)
        text = flask.render_template_string(
            "{{ current_user.is_authenticated }} {{ current_user.email }}"
        )
        assert text == f"True {verified}"


def test_user_closed_meanwhile_is_anonymous(
    browser: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    log_in(browser, verified)
    assert browser.get("/").text == f"Hello {verified}"
    db.execute(
        sa.update(User).where(User.email == verified).values(state=UserState.EXPIRED)
    )
    db.commit()
    db.remove()
    assert browser.get("/").text == "Hello stranger"
    assert browser.get("/account").status_code == 302


def test_deleted_user_is_anonymous(
    browser: Browser, verified: str, db: scoped_session[t.Any]
) -> None:
    log_in(browser, verified)
    db.execute(sa.delete(User).where(User.email == verified))
    db.commit()
    db.remove()
    assert browser.get("/").text == "Hello stranger"
    assert browser.get("/account").status_code == 302


# -- safe_next ------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/account",
        "/account?tab=2",
        "/account?tab=2&x=%2F",
        "/a/b/c#section",
        "/caf%C3%A9",
        "/search?q=a%20b",
        "/path:with:colons",
        "/users/@ann",
    ],
)
def test_safe_next_keeps_paths_on_this_site(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.com",
        "///evil.com",
        "////evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "\\/evil.com",
        "https://evil.com",
        "https://evil.com/account",
        "HTTP://evil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,x",
        "http:/evil.com",
        "http:evil.com",
        "evil.com",
        "/%2F%2Fevil.com",
        "%2F%2Fevil.com",
        "/%2f/evil.com",
        "/%5Cevil.com",
        "/%5cevil.com",
        "/%252F%252Fevil.com",
        "/%25252F%25252Fevil.com",
        "/%25252525252F%25252525252Fevil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\r/evil.com",
        "/%09/evil.com",
        "/%0A/evil.com",
        "/%0D/evil.com",
        "/\x00/evil.com",
        "/%00/evil.com",
        "/\x7f/evil.com",
        " //evil.com",
        "\t//evil.com",
        "/" + "a" * 3000,
    ],
)
def test_safe_next_refuses_other_sites(target: str | None) -> None:
    assert safe_next(target) is None


_PIECES = [
    *"/\\%:.@?#&=; \t\n\x00\x7fabcehlmoptvjsx0123456789ACDF",
    *("%2F", "%2f", "%5C", "%09", "%0A", "%25", "//", "http:", "javascript:"),
    "evil.com",
]
#: Strings made of the pieces of tricky URLs, more likely to find a gap than
#: arbitrary text.
_URLISH = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)
_PATHISH = _URLISH.map(lambda rest: "/" + rest)


def _check_safe(text: str) -> None:
    assert text.startswith("/"), text
    assert not text.startswith("//"), text
    assert "\\" not in text, text
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text), text
    parts = urlsplit(text)
    assert not parts.scheme, text
    assert not parts.netloc, text


@settings(max_examples=500)
@given(target=st.one_of(_PATHISH, _URLISH, st.text(max_size=60)))
def test_safe_next_property(target: str) -> None:
    result = safe_next(target)
    if result is None:
        return
    assert result == target
    text = result
    for _ in range(10):
        _check_safe(text)
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    else:
        pytest.fail(f"still decoding after 10 rounds: {result!r}")


# -- installing RivoUsers ---------------------------------------------------------


def small_app(**config: t.Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(
        {
            "TESTING": True,
            "SECRET_KEY": "test secret",
            "RIVO_EXTERNAL_URL": SITE,
            "RIVO_BCRYPT_ROUNDS": 4,
            **config,
        }
    )
    return app


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"user_model": User}, {"db_session": "set below"}],
)
def test_rivo_users_needs_a_user_store(
    kwargs: dict[str, t.Any], db: scoped_session[t.Any]
) -> None:
    if "db_session" in kwargs:
        kwargs = {"db_session": db}
    app = small_app()
    with pytest.raises(TypeError, match="user_model and db_session"):
        RivoUsers(app, **kwargs)
    assert "rivo_users" not in app.extensions
    assert "rivo_users" not in app.blueprints


def test_rivo_users_with_a_user_store(db: scoped_session[t.Any]) -> None:
    app = small_app()
    RivoUsers(app, user_store=SQLAlchemyUserStore(User, db))
    assert "rivo_users" in app.blueprints
    assert app.test_client().get("/login").status_code == 200


def test_rivo_users_installs_rivo_sessions(db: scoped_session[t.Any]) -> None:
    app = small_app()
    assert not isinstance(app.session_interface, RivoSessionInterface)
    RivoUsers(app, user_model=User, db_session=db)
    assert isinstance(app.session_interface, RivoSessionInterface)
    assert app.extensions["rivo_sessions"] is app.session_interface


def test_rivo_users_keeps_installed_rivo_sessions(db: scoped_session[t.Any]) -> None:
    app = small_app()
    RivoSessions(app)
    installed = app.session_interface
    RivoUsers(app, user_model=User, db_session=db)
    assert app.session_interface is installed
    assert app.extensions["rivo_sessions"] is installed


def test_url_prefix_moves_the_routes(
    db: scoped_session[t.Any], clock: FakeClock
) -> None:
    app = small_app(RIVO_USERS_URL_PREFIX="/account")
    RivoUsers(app, user_model=User, db_session=db)
    app.extensions["rivo_sessions"].clock = clock

    @app.teardown_appcontext
    def remove_session(error: BaseException | None) -> None:
        db.remove()

    @app.get("/private")
    @login_required
    def private() -> str:
        return f"Private page of {current_user.email}"

    add_user(db, "ann@example.com")
    browser = Browser(app.test_client())
    assert browser.get("/login").status_code == 404
    assert browser.get("/account/login").status_code == 200
    assert browser.get("/account/signup").status_code == 200

    redirect = browser.get("/private")
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/account/login"
    assert parse_qs(location.query)["next"] == ["/private"]

    back = browser.submit(
        redirect.headers["Location"],
        {"email": "ann@example.com", "password": PASSWORD},
    )
    assert back.headers["Location"] == "/private"
    assert browser.get("/private").text == "Private page of ann@example.com"

    assert browser.client.post("/logout").status_code == 404
    token = csrf_token(browser, "/account/signup")
    out = browser.client.post("/account/logout", data={"csrf_token": token})
    assert out.status_code == 302
    assert out.headers["Location"] == "/account/login"
    assert browser.get("/private").status_code == 302
