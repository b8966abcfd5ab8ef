"""Clock skew between app servers (issue 9, item 6).

The issue: "after one failure stamped 50 ms later than the next attempt's
clock (a second app server a little behind), that attempt gets 429
Retry-After: 1, and so does a colleague behind the same address with the
right password. Expected: below the free allowance never wait; tolerate clock
skew between servers." Two apps share one session store (so one set of
counters), their clocks 50 ms apart; on every store.
"""

from __future__ import annotations

import typing as t

import flask
import pytest
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import User

from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from sqlalchemy.orm import scoped_session
    from werkzeug.test import TestResponse

pytestmark = pytest.mark.every_store

WRONG = "wrong horse battery"
ANN = "ann@example.com"
BOB = "bob@example.com"
OFFICE = "192.0.2.50"
SKEW = 0.05


def add_user(db: scoped_session[t.Any], email: str) -> None:
    db.add(
        User(email=email, password_hash=hash_password(PASSWORD, 4), state="verified")
    )
    db.commit()
    db.remove()


def attempt(
    app: flask.Flask, address: str, password: str, remote: str = OFFICE
) -> TestResponse:
    """A log-in from a fresh browser (no device cookie) at ``remote``."""
    browser = Browser(app.test_client())
    fields = {"email": address, "password": password}
    return browser.submit("/login", fields, environ_overrides={"REMOTE_ADDR": remote})


@pytest.fixture
def servers(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    clock: FakeClock,
) -> tuple[flask.Flask, flask.Flask, FakeClock]:
    """Two app servers on one store: ``ahead``'s clock runs 50 ms ahead of
    ``behind``'s (the ``clock`` fixture, which the store reads too)."""
    ahead_clock = FakeClock()
    ahead_clock.now = clock.now + SKEW
    ahead = make_users_app()
    ahead.extensions["rivo_sessions"].clock = ahead_clock
    behind = make_users_app()
    add_user(db, ANN)
    add_user(db, BOB)
    return ahead, behind, ahead_clock


def test_one_failure_from_a_server_ahead_makes_nobody_wait(
    servers: tuple[flask.Flask, flask.Flask, FakeClock],
) -> None:
    ahead, behind, _ = servers
    assert attempt(ahead, ANN, WRONG).status_code == 400
    # The two victims, on the server behind:
    again = attempt(behind, ANN, WRONG)
    assert again.status_code == 400, again.headers.get("Retry-After")
    colleague = attempt(behind, BOB, PASSWORD)
    assert colleague.status_code == 302
    assert attempt(behind, ANN, PASSWORD).status_code == 302


def test_within_the_free_allowance_no_attempt_waits_whatever_the_clocks(
    servers: tuple[flask.Flask, flask.Flask, FakeClock],
) -> None:
    ahead, behind, _ = servers
    free = ahead.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for index in range(free - 1):
        server = ahead if index % 2 == 0 else behind
        answer = attempt(server, ANN, WRONG)
        assert answer.status_code == 400, (index, answer.headers.get("Retry-After"))
    assert attempt(behind, BOB, PASSWORD).status_code == 302
    assert attempt(behind, ANN, PASSWORD).status_code == 302


def test_a_clock_moved_back_makes_nobody_wait(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    clock: FakeClock,
) -> None:
    app = make_users_app()
    add_user(db, ANN)
    add_user(db, BOB)
    for _ in range(2):
        assert attempt(app, ANN, WRONG).status_code == 400
    clock.advance(-SKEW)
    assert attempt(app, ANN, WRONG).status_code == 400
    assert attempt(app, BOB, PASSWORD).status_code == 302
    clock.advance(-SKEW)
    assert attempt(app, ANN, PASSWORD).status_code == 302


def test_past_the_free_allowance_the_delay_holds_across_servers(
    servers: tuple[flask.Flask, flask.Flask, FakeClock],
    clock: FakeClock,
) -> None:
    """Tolerating skew does not undo the throttle, and the wait a server
    behind reports is one that works: waiting the Retry-After it was given,
    a client gets in, and is not refused again."""
    ahead, behind, ahead_clock = servers
    free = ahead.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for index in range(free):
        answer = attempt(ahead, ANN, WRONG, remote=f"198.51.100.{index + 1}")
        assert answer.status_code == 400
    refused = attempt(behind, ANN, PASSWORD, remote="198.51.100.99")
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 2  # the delay of 1 s, and at most the skew more
    clock.advance(wait - 1)
    ahead_clock.advance(wait - 1)
    assert attempt(behind, ANN, PASSWORD, remote="198.51.100.99").status_code == 429
    clock.advance(1)
    ahead_clock.advance(1)
    assert attempt(behind, ANN, PASSWORD, remote="198.51.100.99").status_code == 302


@pytest.mark.parametrize("skew", [SKEW, 0.999, 90.0])
def test_a_client_that_waits_the_retry_after_it_was_given_gets_in(
    make_users_app: t.Callable[..., flask.Flask],
    db: scoped_session[t.Any],
    clock: FakeClock,
    skew: float,
) -> None:
    """Past the free allowance, after failures stamped by a server ``skew``
    seconds ahead: each Retry-After from the server behind is honest."""
    ahead_clock = FakeClock()
    ahead_clock.now = clock.now + skew
    ahead = make_users_app()
    ahead.extensions["rivo_sessions"].clock = ahead_clock
    behind = make_users_app()
    add_user(db, ANN)
    free = ahead.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for index in range(free):
        answer = attempt(ahead, ANN, WRONG, remote=f"198.51.100.{index + 1}")
        assert answer.status_code == 400
    refusals = 0
    answer = attempt(behind, ANN, PASSWORD, remote="198.51.100.99")
    while answer.status_code == 429 and refusals < 5:
        refusals += 1
        clock.advance(int(answer.headers["Retry-After"]))
        answer = attempt(behind, ANN, PASSWORD, remote="198.51.100.99")
    assert answer.status_code == 302
    assert refusals == 1
