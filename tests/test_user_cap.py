"""RIVO_SESSION_MAX_PER_USER: a log-in past the cap ends the user's oldest
session, on every store, and only a log-in pays for keeping the cap."""

from __future__ import annotations

import logging
import typing as t

import flask
import pytest
from support import session_app

from flask_rivo import StoreError
from flask_rivo.stores import MemoryStore

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient
    from support import CountingStore
    from support import FakeClock

pytestmark = pytest.mark.every_store


def logged_in_as(browser: FlaskClient) -> str:
    return browser.get("/get/user").text


def log_in(app: flask.Flask, clock: FakeClock, user: str) -> FlaskClient:
    """A fresh browser, logged in a second after the last one."""
    clock.advance(1)
    browser = app.test_client()
    assert browser.get(f"/login/{user}").status_code == 200
    return browser


def test_logging_in_past_the_cap_ends_the_oldest_session(
    app: flask.Flask, clock: FakeClock, store: CountingStore
) -> None:
    app.config["RIVO_SESSION_MAX_PER_USER"] = 3
    browsers = [log_in(app, clock, "ann") for _ in range(4)]
    other = log_in(app, clock, "bob")
    assert logged_in_as(browsers[0]) == "None"
    assert [logged_in_as(b) for b in browsers[1:]] == ["'ann'"] * 3
    assert logged_in_as(other) == "'bob'"
    assert len(store.user_sessions("ann")) == 3
    newest = log_in(app, clock, "ann")
    assert logged_in_as(newest) == "'ann'"
    assert logged_in_as(browsers[1]) == "None"
    assert len(store.user_sessions("ann")) == 3


def test_a_rotated_id_keeps_its_sessions_place(
    app: flask.Flask, clock: FakeClock
) -> None:
    app.config["RIVO_SESSION_MAX_PER_USER"] = 2
    first = log_in(app, clock, "ann")
    second = log_in(app, clock, "ann")
    cookie = first.get_cookie("session")
    assert cookie is not None
    clock.advance(3600)  # RIVO_SESSION_ID_LIFETIME: the next request rotates
    first.get("/set/a/1")
    rotated = first.get_cookie("session")
    assert rotated is not None and rotated.value != cookie.value
    third = log_in(app, clock, "ann")
    assert logged_in_as(first) == "None"  # began first, though rotated last
    assert logged_in_as(second) == logged_in_as(third) == "'ann'"


def test_filing_an_old_session_under_a_user_spares_it(
    app: flask.Flask, clock: FakeClock
) -> None:
    """Setting ``session.user_id`` without a new ID logs a session in that
    began before the user's others: it must not be the one that ends."""

    @app.get("/file/<user>")
    def file(user: str) -> str:
        flask.session.user_id = user
        flask.session["user"] = user
        return "filed"

    app.config["RIVO_SESSION_MAX_PER_USER"] = 2
    early = app.test_client()
    early.get("/set/cart/apples")
    first, second = log_in(app, clock, "ann"), log_in(app, clock, "ann")
    assert early.get("/file/ann").text == "filed"
    assert logged_in_as(early) == "'ann'"
    assert logged_in_as(first) == "None"
    assert logged_in_as(second) == "'ann'"


def test_only_a_log_in_keeps_the_cap(
    app: flask.Flask, clock: FakeClock, store: CountingStore
) -> None:
    browser = log_in(app, clock, "ann")
    assert store.calls.count("limit_user_sessions") == 1
    browser.get("/set/a/1")
    clock.advance(3600)
    browser.get("/set/a/2")  # a write that rotates the ID
    browser.get("/login/ann")  # a new ID for the same user
    anonymous = app.test_client()
    anonymous.get("/set/a/1")
    assert store.calls.count("limit_user_sessions") == 1
    browser.get("/login/bob")  # the session changes hands: a log-in
    assert store.calls.count("limit_user_sessions") == 2


class CapOutOfReach(MemoryStore):
    """A store whose server fails just when the cap is kept."""

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        raise StoreError("connection refused")


def test_a_store_failure_while_keeping_the_cap_keeps_the_log_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = session_app(RIVO_SESSION_STORE=CapOutOfReach())
    browser = app.test_client()
    with caplog.at_level(logging.WARNING, "flask_rivo"):
        assert browser.get("/login/ann").status_code == 200
    assert logged_in_as(browser) == "'ann'"
    assert "oldest sessions" in caplog.text
