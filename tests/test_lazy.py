"""The session is loaded when the view first uses it, not when the request
opens: a view that never touches it costs no store call, on every store."""

from __future__ import annotations

import typing as t

import flask
import pytest
from support import CountingStore
from support import FakeClock
from support import cookie_value
from support import open_session
from support import save_session

from flask_rivo import RivoSessions
from flask_rivo import StoreUnavailable
from flask_rivo.ids import is_session_id
from flask_rivo.ids import session_key

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient

pytestmark = pytest.mark.every_store


def test_a_view_that_never_uses_the_session_makes_no_store_call(
    client: FlaskClient, store: CountingStore, clock: FakeClock
) -> None:
    client.get("/set/a/1")
    store.calls.clear()
    clock.advance(3601)  # past the touch interval and the ID's lifetime
    response = client.get("/nothing")
    assert response.text == "nothing"
    assert store.calls == []
    assert "Set-Cookie" not in response.headers
    assert response.headers.get("Vary") is None  # Flask's rule: not accessed
    assert client.get("/get/a").text == "'1'"  # the next use loads, rotates


def test_vary_cookie_follows_flasks_rules(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/flag")
    def flag() -> str:
        # Through the proxy: Flask >= 3.1 counts that as access, as it does
        # for its own session. The flag alone loads nothing.
        flask.session.permanent = True
        return "flagged"

    client.get("/set/a/1")
    store.calls.clear()
    assert client.get("/get/a").headers["Vary"] == "Cookie"
    assert client.get("/nothing").headers.get("Vary") is None
    response = client.get("/flag")
    assert response.headers["Vary"] == "Cookie"
    assert "Set-Cookie" not in response.headers
    assert store.calls == ["load"]  # the /get/a above; /flag loaded nothing


def test_untouched_requests_do_not_extend_the_idle_time(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    """(Requests that use it do: test_touch_keeps_a_read_only_session_alive.)"""
    app.config.update(RIVO_SESSION_IDLE_TIMEOUT=600, RIVO_SESSION_TOUCH_INTERVAL=60)
    client.get("/set/a/1")
    for _ in range(3):
        clock.advance(200)
        assert client.get("/nothing").status_code == 200
    clock.advance(1)  # 601 s since the last use: expired
    assert client.get("/get/a").text == "None"
    assert store.records() == {}


def test_permanent_set_before_every_request_loads_nothing_by_itself(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    app.permanent_session_lifetime = 3 * 86400

    @app.before_request
    def make_permanent() -> None:
        flask.session.permanent = True

    response = client.get("/set/a/1")
    assert "Expires=" in response.headers["Set-Cookie"]
    store.calls.clear()
    sent = client.get_cookie("session")
    assert sent is not None and sent.value.endswith(".p")  # marked permanent
    response = client.get("/nothing")
    assert store.calls == []
    # Flask's rule, kept without a store call: the cookie is sent again.
    assert "Expires=" in response.headers["Set-Cookie"]
    assert f"session={sent.value};" in response.headers["Set-Cookie"]
    assert response.headers["Vary"] == "Cookie"
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in client.get("/nothing").headers
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    response = client.get("/get/a")
    assert response.text == "'1'"
    # Used: Flask's rules refresh a permanent session's cookie.
    assert "Expires=" in response.headers["Set-Cookie"]
    assert store.calls == ["load"]
    [record] = store.records().values()
    assert record.data["_permanent"] == "true"


def raw_get(app: flask.Flask, path: str, cookie: str) -> flask.Response:
    """``path`` with this very ``Cookie`` header, as a browser holding
    several cookies of one name sends it (the test client's jar keeps one)."""
    return app.test_client(use_cookies=False).get(path, headers={"Cookie": cookie})


@pytest.mark.parametrize(
    "planted",
    [
        "attacker-chosen-value.p",  # no session ID at all
        "P" * 43 + ".p",  # shaped as one, leading nowhere
    ],
)
def test_a_planted_permanent_cookie_is_never_sent_back_as_the_hosts(
    app: flask.Flask, client: FlaskClient, store: CountingStore, planted: str
) -> None:
    """Another origin (a sibling subdomain, a plain-HTTP page) sets a cookie
    of the session's name, marked permanent, that the browser sends first.
    Refreshing it unread would replace the user's own cookie with it."""

    @app.before_request
    def make_permanent() -> None:
        flask.session.permanent = True

    client.get("/set/a/1")
    own = client.get_cookie("session")
    assert own is not None and own.value.endswith(".p")
    store.calls.clear()
    response = raw_get(app, "/nothing", f"session={planted}; session={own.value}")
    assert "Set-Cookie" not in response.headers
    if not is_session_id(planted[:-2]):  # nothing a session could be found by
        assert (
            "Set-Cookie" not in raw_get(app, "/nothing", f"session={planted}").headers
        )
    assert store.calls == []
    # Using the session finds the user's own, and refreshes that one.
    response = raw_get(app, "/get/a", f"session={planted}; session={own.value}")
    assert response.text == "'1'"
    assert cookie_value(response) == own.value
    # The user's cookie alone is refreshed unread, as Flask does.
    store.calls.clear()
    response = raw_get(app, "/nothing", f"session={own.value}")
    assert cookie_value(response) == own.value
    assert store.calls == []


def test_a_write_before_any_read_merges_with_the_stored_session(
    app: flask.Flask, client: FlaskClient
) -> None:
    @app.get("/merge")
    def merge() -> str:
        flask.session |= {"b": 2}
        return "ok"

    client.get("/set/a/1")
    client.get("/set/b/1")
    assert client.get("/merge").text == "ok"
    assert client.get("/get/a").text == "'1'"
    assert client.get("/get/b").text == "2"


@pytest.mark.parametrize("first", ["user_id", "regenerate", "destroy", "clear"])
def test_every_first_use_loads_the_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore, first: str
) -> None:
    seen: list[object] = []

    @app.get("/first")
    def first_use() -> str:
        session = flask.session
        if first == "user_id":
            seen.append(session.user_id)  # type: ignore[attr-defined]
        else:
            getattr(session, first)()
        return "ok"

    client.get("/login/ann")
    old = client.get_cookie("session")
    store.calls.clear()
    response = client.get("/first")
    assert store.calls[0] == "load"
    if first == "user_id":
        assert seen == ["ann"]
        assert "Set-Cookie" not in response.headers
    elif first == "regenerate":
        new = cookie_value(response)
        assert new and old is not None and new != old.value
        assert client.get("/get/user").text == "'ann'"
    else:
        assert cookie_value(response) == ""
        assert store.records() == {}


def test_the_test_clients_session_transaction_merges(
    client: FlaskClient,
) -> None:
    client.get("/set/a/1")
    # As the client's own requests: the same User-Agent (a fingerprint).
    with client.session_transaction(environ_base=client.environ_base) as session:
        session["b"] = "2"
    assert client.get("/get/a").text == "'1'"
    assert client.get("/get/b").text == "'2'"


def test_an_outage_refuses_only_views_that_use_the_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/late")
    def late() -> str:
        done = "work done; "
        return done + repr(flask.session.get("a"))

    client.get("/set/a/1")
    store.down = True
    assert client.get("/nothing").status_code == 200
    assert client.get("/late").status_code == 503
    assert client.get("/login/bob").status_code == 503
    store.down = False
    assert client.get("/late").text == "work done; '1'"


def test_keep_current_loads_an_unused_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/others-out")
    def others_out() -> str:
        ended = RivoSessions().end_user_sessions("ann", keep_current=True)
        return str(ended)

    client.get("/login/ann")
    app.test_client().get("/login/ann")  # another device
    assert client.get("/others-out").text == "1"
    assert client.get("/get/user").text == "'ann'"
    assert len(store.user_sessions("ann")) == 1


def test_the_current_session_is_marked_in_the_list(
    app: flask.Flask, client: FlaskClient
) -> None:
    @app.get("/list")
    def listing() -> str:
        infos = RivoSessions().user_sessions("ann")
        return ",".join(str(info.current) for info in infos)

    client.get("/login/ann")
    assert client.get("/list").text == "True"


def unused_session(app: flask.Flask, client: FlaskClient) -> tuple[t.Any, str]:
    """A stored session, opened by a request that has not used it yet."""
    client.get("/set/a/1")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return open_session(app, cookie.value, load=False), cookie.value


def test_an_unused_session_is_not_saved_and_shows_no_data(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    session, cookie = unused_session(app, client)
    assert not session.loaded
    assert repr(session) == "<RivoSession (not loaded yet)>"
    store.calls.clear()
    response = save_session(app, session)
    assert store.calls == []
    assert "Set-Cookie" not in response.headers
    assert session_key(cookie) in store.records()


def test_load_failure_is_raised_once(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    session, _ = unused_session(app, client)
    store.down = True
    with pytest.raises(StoreUnavailable):
        session.load()
    assert session.unavailable
    assert session.get("a") is None  # an error page may read it: empty
    store.down = False
    response = save_session(app, session)
    assert response.status_code == 503


def test_an_untouched_session_that_is_not_permanent_gets_no_cookie(
    client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/a/1")
    sent = client.get_cookie("session")
    assert sent is not None and not sent.value.endswith(".p")
    store.calls.clear()
    response = client.get("/nothing")
    assert "Set-Cookie" not in response.headers
    assert store.calls == []
