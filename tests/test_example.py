"""The example application, driven as a browser would drive it.

CSRF protection stays on: every POST carries the token read from the form on
the page, so these tests also show that Flask-WTF and flask_rivo's sessions
work together. Emails go to a real SMTP server on loopback, and every app
keeps its users in a SQLite file under ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import logging
import os
import re
import sqlite3
import typing as t
from datetime import datetime
from datetime import timezone
from pathlib import Path

import flask
import pytest
from flask.testing import FlaskClient
from support import CSRF
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import Mailbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from werkzeug.test import TestResponse

#: The repository root, which holds the ``example`` package.
ROOT = Path(__file__).resolve().parents[1]

#: Environment variables the example reads; cleared so a developer's own
#: settings cannot change what these tests see.
ENV_PREFIX = "RIVO_"
ENV_NAMES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT")

_CART_ROW = re.compile(
    r'<tr id="cart-(?P<id>[\w-]+)">.*?'
    r'<td class="number quantity">(?P<quantity>\d+)</td>',
    re.DOTALL,
)
_TOTAL = re.compile(r'<td class="number" id="cart-total">([^<]*)</td>')
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_WHO = re.compile(r'<p class="shop-who" id="who">(.*?)</p>', re.DOTALL)
_ACCOUNT = re.compile(r'<dd id="account-(?P<name>[\w-]+)">(?P<value>[^<]*)</dd>')
_LOGGED_LINK = re.compile(r"http://127\.0\.0\.1:5100(/verify\?token=\S+)")

CreateApp = t.Callable[..., "Flask"]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, smtp_server: tuple[int, Mailbox]) -> dict[str, t.Any]:
    """The config the tests pass: a SQLite file in ``tmp_path``, mail to the
    loopback server, links to :data:`SITE`, and cheap password hashes."""
    return {
        "TESTING": True,
        "DATABASE_URL": sqlite_url(tmp_path / "shop.sqlite3"),
        "RIVO_EXTERNAL_URL": SITE,
        "RIVO_BCRYPT_ROUNDS": 4,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server[0],
        "MAIL_SUPPRESS_SEND": False,
    }


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    """Where the apps of a test keep their instance folder (never the real one)."""
    return tmp_path / "instance"


@pytest.fixture
def create_app(
    monkeypatch: pytest.MonkeyPatch, instance_path: Path
) -> Iterator[CreateApp]:
    """The example's ``create_app``, in a clean environment.

    The example is not an installed package, so its directory is put on
    ``sys.path`` for the test (``monkeypatch`` takes it off again). Its
    instance folder moves to ``tmp_path``, so even an app given no
    ``DATABASE_URL`` leaves the repository alone, and the database engines
    of the apps made are closed at the end.
    """
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in ENV_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setattr(
        flask.Flask, "auto_find_instance_path", lambda self: str(instance_path)
    )
    module = importlib.import_module("example.app")
    made: list[Flask] = []

    def create(config: dict[str, t.Any] | None = None) -> Flask:
        app = t.cast("Flask", module.create_app(config))
        made.append(app)
        return app

    yield create
    for app in made:
        app.extensions["example_db"].engine.dispose()
        with app.app_context():
            app.extensions["rivo_sessions"].store.close()


@pytest.fixture
def app(create_app: CreateApp, settings: dict[str, t.Any]) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page_text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def csrf_token(client: FlaskClient) -> str:
    """Load the shop page and read the CSRF token from its first form."""
    response = client.get("/")
    assert response.status_code == 200
    found = CSRF.search(page_text(response))
    assert found is not None, "the page has no form with a csrf_token field"
    return html.unescape(found.group(1))


def cart(page: str) -> dict[str, int]:
    """The cart as the page shows it: product ID to quantity."""
    return {m["id"]: int(m["quantity"]) for m in _CART_ROW.finditer(page)}


def total(page: str) -> str | None:
    found = _TOTAL.search(page)
    return None if found is None else html.unescape(found.group(1))


def add(client: FlaskClient, product: str, token: str) -> TestResponse:
    return client.post("/cart/add", data={"product": product, "csrf_token": token})


def test_index_lists_products_and_an_empty_cart(client: FlaskClient) -> None:
    page = page_text(client.get("/"))
    assert '<html lang="en">' in page
    assert '<main class="rivo-main">' in page
    assert "Rivo Shop" in page
    assert "Green tea, 100 g" in page
    assert "$4.50" in page
    assert "Your cart is empty." in page
    assert cart(page) == {}
    assert total(page) is None


def test_add_shows_product_quantity_and_total(client: FlaskClient) -> None:
    token = csrf_token(client)
    response = add(client, "tea", token)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"

    page = page_text(client.get("/"))
    assert "Added Green tea, 100 g to your cart." in page
    assert cart(page) == {"tea": 1}
    assert total(page) == "$4.50"

    add(client, "mug", token)
    page = page_text(client.get("/"))
    assert cart(page) == {"tea": 1, "mug": 1}
    assert total(page) == "$16.50"


def test_adding_twice_gives_quantity_two(client: FlaskClient) -> None:
    token = csrf_token(client)
    add(client, "honey", token)
    add(client, "honey", token)
    page = page_text(client.get("/"))
    assert cart(page) == {"honey": 2}
    assert total(page) == "$15.60"


def test_flash_message_is_shown_once(client: FlaskClient) -> None:
    token = csrf_token(client)
    add(client, "tea", token)
    assert "Added Green tea" in page_text(client.get("/"))
    assert "Added Green tea" not in page_text(client.get("/"))


def test_quantity_is_capped_at_99(client: FlaskClient) -> None:
    token = csrf_token(client)
    for _ in range(99):
        assert add(client, "biscuits", token).status_code == 302
    page = page_text(client.get("/"))
    assert cart(page) == {"biscuits": 99}

    response = add(client, "biscuits", token)
    assert response.status_code == 302
    page = page_text(client.get("/"))
    assert cart(page) == {"biscuits": 99}
    assert total(page) == "$321.75"
    assert "already holds 99 of Oat biscuits" in page

    # The cap is per product: others can still be added.
    add(client, "tea", token)
    assert cart(page_text(client.get("/"))) == {"tea": 1, "biscuits": 99}


@pytest.mark.parametrize(
    "data",
    [
        {"product": "caviar"},
        {"product": ""},
        {"product": "__class__"},
        {},
    ],
    ids=["unknown", "empty", "attribute-name", "missing"],
)
def test_bad_product_is_a_bad_request(
    client: FlaskClient, data: dict[str, str]
) -> None:
    token = csrf_token(client)
    response = client.post("/cart/add", data={**data, "csrf_token": token})
    assert response.status_code == 400
    assert cart(page_text(client.get("/"))) == {}


def test_post_without_csrf_token_is_refused(client: FlaskClient) -> None:
    csrf_token(client)  # a session with a token exists; the form omits it
    response = client.post("/cart/add", data={"product": "tea"})
    assert response.status_code == 400
    response = client.post("/cart/add", data={"product": "tea", "csrf_token": "x"})
    assert response.status_code == 400
    response = client.post("/cart/clear")
    assert response.status_code == 400
    assert cart(page_text(client.get("/"))) == {}


def test_csrf_token_of_another_session_is_refused(app: Flask) -> None:
    token = csrf_token(app.test_client())
    other = app.test_client()
    csrf_token(other)
    assert add(other, "tea", token).status_code == 400


def test_clear_empties_the_cart(client: FlaskClient) -> None:
    token = csrf_token(client)
    add(client, "tea", token)
    add(client, "mug", token)
    assert cart(page_text(client.get("/"))) == {"tea": 1, "mug": 1}

    response = client.post("/cart/clear", data={"csrf_token": token})
    assert response.status_code == 302
    page = page_text(client.get("/"))
    assert "Your cart is empty now." in page
    assert cart(page) == {}
    assert total(page) is None

    # The session outlives its cart: adding again starts from one.
    add(client, "tea", token)
    assert cart(page_text(client.get("/"))) == {"tea": 1}


def test_cart_is_kept_per_visitor(app: Flask) -> None:
    alice, bob = app.test_client(), app.test_client()
    add(alice, "tea", csrf_token(alice))
    add(bob, "mug", csrf_token(bob))
    assert cart(page_text(alice.get("/"))) == {"tea": 1}
    assert cart(page_text(bob.get("/"))) == {"mug": 1}


def test_cookie_holds_only_a_random_http_only_id(client: FlaskClient) -> None:
    # The shop page has forms, and Flask-WTF keeps its CSRF secret in the
    # session, so even a first look at it starts a session.
    response = client.get("/")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    name, _, rest = cookies[0].partition("=")
    value, *attributes = (part.strip() for part in rest.split(";"))
    assert name == "session"
    assert _SESSION_ID.fullmatch(value)
    assert "HttpOnly" in attributes
    assert "Cookie" in response.headers.get("Vary", "")

    # Filling the cart changes the server's record, not the cookie's value.
    token = csrf_token(client)
    add(client, "tea", token)
    add(client, "honey", token)
    stored = client.get_cookie("session")
    assert stored is not None
    assert stored.value == value
    assert stored.http_only
    assert "tea" not in stored.value
    assert "cart" not in stored.value


def test_page_without_forms_sets_no_cookie(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("session") is None


def test_environment_values_are_converted(
    create_app: CreateApp,
    settings: dict[str, t.Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    database = sqlite_url(tmp_path / "from-env.sqlite3")
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    monkeypatch.setenv("RIVO_SESSION_ID_GRACE", "2.5")
    monkeypatch.setenv("RIVO_SESSION_UA_MATCH", "False")
    monkeypatch.setenv("RIVO_SESSION_ABSOLUTE_TIMEOUT", "none")
    monkeypatch.setenv("RIVO_SITE_NAME", "Tea & Co")
    monkeypatch.setenv("RIVO_EXTERNAL_URL", "https://tea.example.org")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    app = create_app({"TESTING": True})

    idle = app.config["RIVO_SESSION_IDLE_TIMEOUT"]
    assert idle == 120
    assert type(idle) is int
    assert app.config["RIVO_SESSION_ID_GRACE"] == 2.5
    assert app.config["RIVO_SESSION_UA_MATCH"] is False
    assert app.config["RIVO_SESSION_ABSOLUTE_TIMEOUT"] is None
    assert app.config["RIVO_SITE_NAME"] == "Tea & Co"
    assert app.config["RIVO_EXTERNAL_URL"] == "https://tea.example.org"
    assert app.config["MAIL_SERVER"] == "smtp.example.org"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["DATABASE_URL"] == database
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert app.config["SECRET_KEY"] == "from the environment"

    # flask_rivo took the converted values, and the page escapes the name.
    with app.app_context():
        session_settings = app.extensions["rivo_sessions"].configure(app.config)[0]
    assert session_settings.idle_timeout == 120
    assert session_settings.absolute_timeout is None
    assert session_settings.ua_match is False
    page = page_text(app.test_client().get("/"))
    assert "Tea &amp; Co" in page
    assert "Tea & Co" not in page


def test_config_overrides_environment(
    create_app: CreateApp, settings: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    monkeypatch.setenv("RIVO_SITE_NAME", "From the environment")
    monkeypatch.setenv("RIVO_EXTERNAL_URL", "https://env.example.org")
    app = create_app({**settings, "RIVO_SESSION_IDLE_TIMEOUT": 600})
    assert app.config["RIVO_SESSION_IDLE_TIMEOUT"] == 600
    assert app.config["RIVO_EXTERNAL_URL"] == SITE
    assert app.config["RIVO_SITE_NAME"] == "From the environment"


def test_defaults_need_no_environment(
    create_app: CreateApp, instance_path: Path
) -> None:
    first = create_app({"TESTING": True, "RIVO_EXTERNAL_URL": SITE})
    second = create_app({"TESTING": True, "RIVO_EXTERNAL_URL": SITE})
    assert first.config["RIVO_SITE_NAME"] == "Rivo Shop"
    # A key is made up at start, different for every app, when none is set.
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    for name in ("REDIS_URL", "MAIL_SERVER", "MAIL_PORT"):
        assert name not in first.config
    # Users go to a SQLite file in the instance folder, made if need be.
    database = instance_path / "example.sqlite3"
    assert first.config["DATABASE_URL"] == sqlite_url(database)
    assert tables(database) == {"users"}


def test_sessions_live_in_the_database_and_survive_a_restart(
    create_app: CreateApp, settings: dict[str, t.Any], tmp_path: Path
) -> None:
    client = create_app(settings).test_client()
    add(client, "tea", csrf_token(client))
    restarted = create_app(settings)  # a new process, as after a reload
    restarted_client = restarted.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    restarted_client.set_cookie("session", cookie.value)
    assert cart(page_text(restarted_client.get("/"))) == {"tea": 1}
    assert "rivo_sessions" in tables(tmp_path / "shop.sqlite3")


def test_a_relative_sqlite_url_puts_users_and_sessions_in_one_file(
    create_app: CreateApp, settings: dict[str, t.Any], instance_path: Path
) -> None:
    client = create_app(
        {**settings, "DATABASE_URL": "sqlite:///shop.sqlite3"}
    ).test_client()
    add(client, "tea", csrf_token(client))
    assert tables(instance_path / "shop.sqlite3") == {"users", "rivo_sessions"}


def test_redis_url_moves_sessions_to_redis(
    create_app: CreateApp,
    settings: dict[str, t.Any],
    monkeypatch: pytest.MonkeyPatch,
    backends: dict[str, t.Any],
) -> None:
    from backends import REDIS_URL
    from backends import use

    use(backends["redis"])
    monkeypatch.setenv("REDIS_URL", REDIS_URL.rsplit("/", 1)[0] + "/13")
    app = create_app(settings)
    client = app.test_client()
    add(client, "tea", csrf_token(client))
    with app.app_context():
        store = app.extensions["rivo_sessions"].store
    try:
        assert type(store).__name__ == "RedisStore"
        assert len(store.client.keys("rivo:s:*")) == 1
        assert cart(page_text(client.get("/"))) == {"tea": 1}
    finally:
        for key in store.client.scan_iter(match="rivo:*"):
            store.client.delete(key)


def test_without_site_address_outside_debug_starts_but_sends_no_links(
    create_app: CreateApp, tmp_path: Path, smtp_server: tuple[int, Mailbox]
) -> None:
    """Links in emails need the site's address: guessing it from requests
    would let a forged Host header point them elsewhere. Without it the app
    starts, and its ``flask`` commands work, but a page that would email a
    link answers 503."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url(tmp_path / "shop.sqlite3"),
            "RIVO_BCRYPT_ROUNDS": 4,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server[0],
        }
    )
    # Flask's own ``flask`` group, as the command line runs it.
    routes = app.test_cli_runner().invoke(flask.cli.cli, ["routes"])
    assert routes.exit_code == 0, routes.output
    assert "rivo_users.signup" in routes.output
    response = Browser(app.test_client()).sign_up("bob@example.com")
    assert response.status_code == 503
    assert "cannot send emails yet" in response.text

    # SERVER_NAME is enough, and debug mode needs neither.
    create_app(
        {"DATABASE_URL": sqlite_url(tmp_path / "a.db"), "SERVER_NAME": "shop.test"}
    )
    create_app({"DATABASE_URL": sqlite_url(tmp_path / "b.db"), "DEBUG": True})


def test_bad_environment_value_fails_at_start(
    create_app: CreateApp, monkeypatch: pytest.MonkeyPatch, instance_path: Path
) -> None:
    from flask_rivo import ConfigError

    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "two weeks")
    with pytest.raises(ConfigError, match="RIVO_SESSION_IDLE_TIMEOUT"):
        create_app()
    assert not instance_path.exists()


def test_session_expires_after_idle_timeout(
    create_app: CreateApp, settings: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    app = create_app(settings)
    interface = app.extensions["rivo_sessions"]
    now = [1_000_000.0]
    interface.clock = lambda: now[0]
    client = app.test_client()
    add(client, "tea", csrf_token(client))

    now[0] += 100
    assert cart(page_text(client.get("/"))) == {"tea": 1}
    now[0] += 119  # idle for 119 s since the last request: still there
    assert cart(page_text(client.get("/"))) == {"tea": 1}
    now[0] += 121
    assert cart(page_text(client.get("/"))) == {}


def test_cart_and_form_survive_id_rotation(
    create_app: CreateApp, settings: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_ID_LIFETIME", "60")
    app = create_app(settings)
    now = [1_000_000.0]
    app.extensions["rivo_sessions"].clock = lambda: now[0]
    client = app.test_client()
    token = csrf_token(client)
    add(client, "mug", token)
    before = client.get_cookie("session")
    assert before is not None

    now[0] += 61
    assert cart(page_text(client.get("/"))) == {"mug": 1}
    after = client.get_cookie("session")
    assert after is not None
    assert _SESSION_ID.fullmatch(after.value)
    assert after.value != before.value
    # The form the visitor loaded before the rotation still works.
    assert add(client, "mug", token).status_code == 302
    assert cart(page_text(client.get("/"))) == {"mug": 2}


# Accounts: flask_rivo's pages inside the shop.


def tables(database: Path) -> set[str]:
    """The names of the tables in a SQLite file."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


def user_rows(database: Path) -> list[tuple[str, str, str]]:
    """(id, email, state) of every user in a SQLite file."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return list(connection.execute("SELECT id, email, state FROM users"))


def who(page: str) -> str:
    """The text of the "who is logged in" paragraph of the shop page."""
    found = _WHO.search(page)
    assert found is not None, "the shop page does not say who is logged in"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


def account(page: str) -> dict[str, str]:
    return {m["name"]: html.unescape(m["value"]) for m in _ACCOUNT.finditer(page)}


@pytest.fixture
def customer(client: FlaskClient, mailbox: Mailbox) -> str:
    """The address of a confirmed account (password ``PASSWORD``), not logged in."""
    address = "cleo@example.com"
    browser = Browser(client)
    assert browser.sign_up(address).status_code == 200
    assert (
        browser.submit(mailbox.last_link(address), {"password": PASSWORD}).status_code
        == 302
    )
    browser.log_out()  # confirming logged in; the tests start logged out
    browser.client.delete_cookie("rivo_device")  # ... from an unknown browser
    mailbox.clear()
    return address


def log_in(client: FlaskClient, address: str, path: str = "/login") -> TestResponse:
    return Browser(client).submit(path, {"email": address, "password": PASSWORD})


def test_newcomer_signs_up_confirms_and_sees_the_account(
    client: FlaskClient, mailbox: Mailbox, tmp_path: Path
) -> None:
    address = "newcomer@example.com"
    # The shop page offers an account to whoever is not logged in.
    page = page_text(client.get("/"))
    assert who(page).startswith("You are not logged in.")
    assert 'href="/signup"' in page
    assert 'href="/login"' in page

    # Sign up: flask_rivo's page, in the shop's layout.
    response = Browser(client).sign_up(address)
    assert response.status_code == 200
    assert "Check your email" in response.text
    assert "shop-footer" in response.text
    [(user_id, email, state)] = user_rows(tmp_path / "shop.sqlite3")
    assert (email, state) == (address, "created")
    assert len(user_id) > 20  # a CUID, not 1

    # The verification email, through the SMTP server.
    [message] = mailbox.to(address)
    assert message["Subject"] == "Confirm your email address for Rivo Shop"
    assert "Rivo Shop" in str(message["From"])
    [link] = mailbox.links(message)
    assert link.startswith(f"{SITE}/verify?token=")

    # Opening the link shows a form; only its POST confirms the address.
    path = mailbox.last_link(address)
    page = page_text(client.get(path))
    assert "Confirm your email address" in page
    assert user_rows(tmp_path / "shop.sqlite3")[0][2] == "created"
    response = Browser(client).submit(path, {"password": PASSWORD})
    assert response.status_code == 302
    # Confirming logs in, and lands on the shop page, which says who it is.
    assert response.headers["Location"] == "/"
    assert user_rows(tmp_path / "shop.sqlite3")[0][2] == "verified"
    page = page_text(client.get("/"))
    assert "Your email address is confirmed" in page
    assert who(page) == f"Logged in as {address}. Your account"

    # The account page shows the address and when the account was made.
    response = client.get("/account")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    shown = account(response.text)
    assert shown["email"] == address
    signed_up = datetime.strptime(shown["created"], "%d %B %Y, %H:%M UTC")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs((now - signed_up).total_seconds()) < 120
    assert shown["verified"] != "never"
    assert "<title>Your account · Rivo Shop</title>" in response.text


def test_account_page_sends_strangers_to_log_in(
    client: FlaskClient, customer: str
) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"
    assert response.headers["Cache-Control"] == "no-store"

    # Logging in from there leads back to the account page.
    response = log_in(client, customer, response.headers["Location"])
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert account(page_text(client.get("/account")))["email"] == customer


def test_shop_page_shows_who_is_logged_in(client: FlaskClient, customer: str) -> None:
    log_in(client, customer)
    page = page_text(client.get("/"))
    assert who(page) == f"Logged in as {customer}. Your account"
    # The nav of the shared layout too, with its log-out form.
    assert f'<a class="rivo-who" href="/account">{customer}</a>' in page
    assert 'action="/logout"' in page
    assert 'href="/signup"' not in page


def test_log_out_from_the_shop_page(client: FlaskClient, customer: str) -> None:
    log_in(client, customer)
    # The first form on the page is the nav's log-out form.
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are logged out." in page_text(client.get("/login"))
    assert who(page_text(client.get("/"))).startswith("You are not logged in.")
    assert client.get("/account").status_code == 302


def test_cart_is_kept_when_logging_in(client: FlaskClient, customer: str) -> None:
    add(client, "honey", csrf_token(client))
    before = client.get_cookie("session")
    assert before is not None
    log_in(client, customer)
    after = client.get_cookie("session")
    assert after is not None
    # A new session ID at log-in (no session fixation), the same cart.
    assert after.value != before.value
    assert cart(page_text(client.get("/"))) == {"honey": 1}


def test_database_url_from_environment(
    create_app: CreateApp,
    settings: dict[str, t.Any],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    instance_path: Path,
) -> None:
    database = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("DATABASE_URL", sqlite_url(database))
    config = {k: v for k, v in settings.items() if k != "DATABASE_URL"}
    app = create_app(config)
    assert Browser(app.test_client()).sign_up("env@example.com").status_code == 200
    [(_, email, state)] = user_rows(database)
    assert (email, state) == ("env@example.com", "created")
    assert not (tmp_path / "shop.sqlite3").exists()
    assert not instance_path.exists()


def test_database_url_of_config_overrides_environment(
    create_app: CreateApp,
    settings: dict[str, t.Any],
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from_env = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("DATABASE_URL", sqlite_url(from_env))
    app = create_app(settings)
    assert Browser(app.test_client()).sign_up("cfg@example.com").status_code == 200
    assert [row[1] for row in user_rows(tmp_path / "shop.sqlite3")] == [
        "cfg@example.com"
    ]
    assert not from_env.exists()


class ClientOnPort5100(FlaskClient):
    """A test client whose requests all go to ``http://127.0.0.1:5100``."""

    def open(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        kwargs.setdefault("base_url", "http://127.0.0.1:5100")
        return super().open(*args, **kwargs)


def test_debug_mode_writes_the_email_to_the_log(
    create_app: CreateApp,
    tmp_path: Path,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What ``make demo`` gives a newcomer: no mail server, no site address,
    and yet a link to follow, in the terminal, to the port the server runs
    on (here ``flask run --debug --port 5100``)."""
    app = create_app(
        {
            "DEBUG": True,
            "DATABASE_URL": sqlite_url(tmp_path / "demo.sqlite3"),
            "RIVO_BCRYPT_ROUNDS": 4,
        }
    )
    app.test_client_class = ClientOnPort5100
    client = app.test_client()
    address = "demo@example.com"
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        assert Browser(client).sign_up(address).status_code == 200
    [record] = [r for r in caplog.records if address in r.getMessage()]
    assert "was not sent" in record.getMessage()
    found = _LOGGED_LINK.search(record.getMessage())
    assert found is not None, record.getMessage()
    assert mailbox.messages == []

    assert (
        Browser(client).submit(found.group(1), {"password": PASSWORD}).status_code
        == 302
    )
    assert log_in(client, address).status_code == 302
    assert account(page_text(client.get("/account")))["email"] == address


def test_account_pages_share_the_shop_layout(client: FlaskClient) -> None:
    """example/templates/rivo/base.html replaces flask_rivo's own layout."""
    for path in ("/", "/login", "/signup"):
        page = page_text(client.get(path))
        assert '<a class="rivo-site" href="/">Rivo Shop</a>' in page, path
        assert "/static/shop.css" in page, path
        assert 'class="shop-footer"' in page, path
    assert "<title>Log in · Rivo Shop</title>" in page_text(client.get("/login"))
    assert "<title>Rivo Shop</title>" in page_text(client.get("/"))


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2025, 5, 3, 14, 5), "3 May 2025, 14:05 UTC"),
        (datetime(2025, 5, 3, 14, 5, tzinfo=timezone.utc), "3 May 2025, 14:05 UTC"),
        (None, "never"),
    ],
)
def test_times_are_shown_in_utc(
    create_app: CreateApp, moment: datetime | None, shown: str
) -> None:
    # ``create_app`` puts the example on sys.path; SQLite returns naive times.
    module = importlib.import_module("example.app")
    assert module.when(moment) == shown
