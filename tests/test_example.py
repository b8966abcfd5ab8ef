"""The example application, driven as a browser would drive it.

CSRF protection stays on: every POST carries the token read from the form on
the page, so these tests also show that Flask-WTF and flask_rivo's sessions
work together.
"""

from __future__ import annotations

import html
import importlib
import os
import re
import typing as t
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

#: The repository root, which holds the ``example`` package.
ROOT = Path(__file__).resolve().parents[1]

#: Environment variables the example reads; cleared so a developer's own
#: settings cannot change what these tests see.
ENV_PREFIX = "RIVO_"
ENV_NAMES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT")

_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
_CART_ROW = re.compile(
    r'<tr id="cart-(?P<id>[\w-]+)">.*?'
    r'<td class="number quantity">(?P<quantity>\d+)</td>',
    re.DOTALL,
)
_TOTAL = re.compile(r'<td class="number" id="cart-total">([^<]*)</td>')
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture
def create_app(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., Flask]:
    """The example's ``create_app``, in a clean environment.

    The example is not an installed package, so its directory is put on
    ``sys.path`` for the test (``monkeypatch`` takes it off again).
    """
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in ENV_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module("example.app")
    return t.cast("t.Callable[..., Flask]", module.create_app)


@pytest.fixture
def app(create_app: t.Callable[..., Flask]) -> Flask:
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page_text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def csrf_token(client: FlaskClient) -> str:
    """Load the shop page and read the CSRF token from its first form."""
    response = client.get("/")
    assert response.status_code == 200
    found = _CSRF.search(page_text(response))
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
    assert "<main>" in page
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
    create_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    monkeypatch.setenv("RIVO_SESSION_ID_GRACE", "2.5")
    monkeypatch.setenv("RIVO_SESSION_UA_MATCH", "False")
    monkeypatch.setenv("RIVO_SESSION_ABSOLUTE_TIMEOUT", "none")
    monkeypatch.setenv("RIVO_SITE_NAME", "Tea & Co")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///shop.db")
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    app = create_app({"TESTING": True})

    idle = app.config["RIVO_SESSION_IDLE_TIMEOUT"]
    assert idle == 120
    assert type(idle) is int
    assert app.config["RIVO_SESSION_ID_GRACE"] == 2.5
    assert app.config["RIVO_SESSION_UA_MATCH"] is False
    assert app.config["RIVO_SESSION_ABSOLUTE_TIMEOUT"] is None
    assert app.config["RIVO_SITE_NAME"] == "Tea & Co"
    assert app.config["MAIL_SERVER"] == "smtp.example.org"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["DATABASE_URL"] == "sqlite:///shop.db"
    assert app.config["SECRET_KEY"] == "from the environment"

    # flask_rivo took the converted values, and the page escapes the name.
    with app.app_context():
        settings = app.extensions["rivo_sessions"].configure(app.config)[0]
    assert settings.idle_timeout == 120
    assert settings.absolute_timeout is None
    assert settings.ua_match is False
    page = page_text(app.test_client().get("/"))
    assert "Tea &amp; Co" in page
    assert "Tea & Co" not in page


def test_config_overrides_environment(
    create_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    monkeypatch.setenv("RIVO_SITE_NAME", "From the environment")
    app = create_app({"TESTING": True, "RIVO_SESSION_IDLE_TIMEOUT": 600})
    assert app.config["RIVO_SESSION_IDLE_TIMEOUT"] == 600
    assert app.config["RIVO_SITE_NAME"] == "From the environment"


def test_defaults_need_no_environment(create_app: t.Callable[..., Flask]) -> None:
    first, second = create_app(), create_app()
    assert first.config["RIVO_SITE_NAME"] == "Rivo Shop"
    # A key is made up at start, different for every app, when none is set.
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    for name in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT"):
        assert name not in first.config


def test_bad_environment_value_fails_at_start(
    create_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_rivo import ConfigError

    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "two weeks")
    with pytest.raises(ConfigError, match="RIVO_SESSION_IDLE_TIMEOUT"):
        create_app()


def test_session_expires_after_idle_timeout(
    create_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_IDLE_TIMEOUT", "120")
    app = create_app({"TESTING": True})
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
    create_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIVO_SESSION_ID_LIFETIME", "60")
    app = create_app({"TESTING": True})
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
