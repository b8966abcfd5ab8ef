"""A store that cannot be reached: HTTP 503, never an empty session."""

from __future__ import annotations

import logging
import typing as t

import flask
import pytest
from flask_wtf import CSRFProtect
from support import CountingStore

from flask_rivo import StoreUnavailable

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient


def test_load_failure_answers_503_to_views_that_use_the_session(
    app: flask.Flask,
    client: FlaskClient,
    store: CountingStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client.get("/set/cart/apples")
    store.down = True
    with caplog.at_level(logging.ERROR, logger="flask_rivo"):
        response = client.get("/set/cart/nothing")
    assert response.status_code == 503
    assert "session store cannot be reached" in response.text
    assert "Set-Cookie" not in response.headers
    assert "Session store unavailable: connection refused" in caplog.text
    # A view that never touches the session is served: it depends on nothing
    # the store holds (the session is loaded when first used).
    response = client.get("/nothing")
    assert (response.status_code, response.text) == (200, "nothing")
    assert "Set-Cookie" not in response.headers
    store.down = False
    assert client.get("/get/cart").text == "'apples'"


def test_save_failure_answers_503_and_loses_nothing(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/fail-mid-request")
    def fail_mid_request() -> str:
        flask.session["cart"] = "pears"
        store.down = True  # the store goes away while the view runs
        return "ok"

    client.get("/set/cart/apples")
    response = client.get("/fail-mid-request")
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers
    # The page replaced the view's, headers included; it still depends on
    # the cookie, so no cache may hand it to a visitor with another one.
    assert response.headers["Vary"] == "Cookie"
    store.down = False
    assert client.get("/get/cart").text == "'apples'"


def test_first_visit_with_the_store_down(
    client: FlaskClient, store: CountingStore
) -> None:
    store.down = True
    assert client.get("/nothing").status_code == 200  # no cookie, no store call
    response = client.get("/set/a/1")
    assert response.status_code == 503
    assert "Set-Cookie" not in response.headers


def test_apps_own_503_page_is_used(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.errorhandler(StoreUnavailable)
    def unavailable(error: StoreUnavailable) -> tuple[str, int, dict[str, str]]:
        # The page may read the session: it is empty, and never saved.
        return f"Back soon ({flask.session.get('cart')!r})", 503, {"Retry-After": "30"}

    client.get("/set/cart/apples")
    store.down = True
    for path in ("/get/cart", "/set/cart/x"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.text == "Back soon (None)"
        assert response.headers["Retry-After"] == "30"


def test_save_failure_uses_the_apps_503_page(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.errorhandler(503)
    def unavailable(error: Exception) -> tuple[str, int]:
        return "Custom 503", 503

    @app.get("/fail-mid-request")
    def fail_mid_request() -> str:
        flask.session["cart"] = "pears"
        store.down = True
        return "ok"

    response = client.get("/fail-mid-request")
    assert (response.status_code, response.text) == (503, "Custom 503")


def test_extension_that_reads_the_session_first_still_gets_503(
    store: CountingStore,
) -> None:
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="k", RIVO_SESSION_STORE=store)
    CSRFProtect(app)  # its before_request hook runs before ours and reads the session
    from flask_rivo import RivoSessions

    RivoSessions(app)

    @app.post("/buy")
    def buy() -> str:
        return "bought"

    @app.get("/form")
    def form() -> str:
        from flask_wtf.csrf import generate_csrf

        return generate_csrf()

    client = app.test_client()
    token = client.get("/form").text
    store.down = True
    response = client.post("/buy", data={"csrf_token": token})
    assert response.status_code == 503


def test_failing_503_handler_falls_back_to_the_plain_page(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.errorhandler(503)
    def broken(error: Exception) -> str:
        raise RuntimeError("the error page itself is broken")

    @app.get("/fail-mid-request")
    def fail_mid_request() -> str:
        flask.session["cart"] = "pears"
        store.down = True
        return "ok"

    response = client.get("/fail-mid-request")
    assert response.status_code == 503
    assert "session store cannot be reached" in response.text


def test_store_failure_inside_a_view_is_a_503(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    from flask_rivo import RivoSessions

    @app.get("/list")
    def list_sessions() -> str:
        store.down = True  # loaded fine; fails on the next call
        return str(RivoSessions().user_sessions("u"))

    client.get("/set/a/1")
    response = client.get("/list")
    assert response.status_code == 503
    assert "session store cannot be reached" in response.text
