"""A log-in racing the other requests of the same browser.

While a log-in regenerates the session's ID, the browser's other requests
(a page's fetches, a second tab) still carry the old cookie. Whichever
order their responses arrive in, none may replace or delete the new cookie:
that would log the person out right after logging in. The old ID leaves a
tombstone for ``RIVO_SESSION_ID_GRACE``, which leads nowhere: its holder
(the browser's late request, or whoever planted the ID) gets an empty
session that stores nothing and leaves the cookie alone.
"""

from __future__ import annotations

import typing as t

import flask
import pytest
from support import CountingStore
from support import FakeClock
from support import cookie_value
from support import open_session
from support import save_session

from flask_rivo.ids import is_replaced
from flask_rivo.ids import session_key

# Every test here runs on every store.
pytestmark = pytest.mark.every_store

GRACE = 300


class Jar:
    """The browser's cookie: each response's Set-Cookie applied in turn."""

    def __init__(self, value: str) -> None:
        self.value = value

    def receive(self, response: t.Any) -> None:
        value = cookie_value(response)
        if value is not None:
            self.value = value  # "" when the response deleted the cookie


def anonymous(app: flask.Flask) -> str:
    """A browser's session before log-in, holding a form's CSRF token."""
    browser = app.test_client()
    browser.get("/set/csrf/t0")
    cookie = browser.get_cookie("session")
    assert cookie is not None
    return cookie.value


def log_in(session: t.Any, user_id: str = "u1") -> None:
    session.regenerate()
    session.user_id = user_id
    session["user"] = user_id


def parallel(session: t.Any, op: str) -> None:
    """What the browser's other request does with its session."""
    if op == "read":
        session.get("csrf")
    else:  # a page with a form stores a new CSRF token
        session["csrf"] = "t1"


def user_of(app: flask.Flask, cookie: str) -> str | None:
    return open_session(app, cookie).user_id if cookie else None


def live_sessions(store: CountingStore, now: float) -> list[str]:
    return [
        key
        for key, record in store.records().items()
        if record.expires_at > now and not is_replaced(record.successor)
    ]


@pytest.mark.parametrize("op", ["read", "set"])
@pytest.mark.parametrize("loads", ["before the retire", "after the retire"])
@pytest.mark.parametrize("rotate", [False, True], ids=["fresh ID", "rotation due"])
def test_a_parallel_request_never_undoes_a_log_in(
    app: flask.Flask,
    store: CountingStore,
    clock: FakeClock,
    op: str,
    loads: str,
    rotate: bool,
) -> None:
    old = anonymous(app)
    if rotate:
        clock.advance(3601)  # past the ID lifetime: a write would rotate
    login = open_session(app, old)
    other = open_session(app, old) if loads == "before the retire" else None
    log_in(login)
    logged_in = save_session(app, login)
    assert cookie_value(logged_in) not in (None, "", old)
    if other is None:
        other = open_session(app, old)
        assert other.get("csrf") is None  # nothing of the session it left
    parallel(other, op)
    late = save_session(app, other)

    assert cookie_value(late) is None  # neither set nor deleted
    for arrival in ([logged_in, late], [late, logged_in]):  # either order
        jar = Jar(old)
        for response in arrival:
            jar.receive(response)
        assert user_of(app, jar.value) == "u1"
        assert dict(open_session(app, jar.value)) == {"csrf": "t0", "user": "u1"}
    # The late request stored nothing: one session, the logged-in one.
    assert live_sessions(store, clock()) == [session_key(cookie_value(logged_in))]


def test_late_requests_over_http_leave_the_cookie_alone(app: flask.Flask) -> None:
    browser = app.test_client()
    browser.get("/set/csrf/t0")
    old = browser.get_cookie("session")
    assert old is not None
    assert browser.get("/login/u1").text == "in"
    for path in ("/get/csrf", "/set/csrf/t1", "/nothing", "/destroy"):
        late = app.test_client()
        late.set_cookie("session", old.value)
        response = late.get(path)
        assert response.status_code == 200
        assert cookie_value(response) is None, path
    assert browser.get("/get/user").text == "'u1'"
    assert browser.get("/get/csrf").text == "'t0'"


def test_a_planted_id_gives_the_attacker_nothing_after_the_log_in(
    app: flask.Flask, store: CountingStore, clock: FakeClock, backend: str
) -> None:
    attacker = app.test_client()
    attacker.get("/set/lang/en")
    planted = attacker.get_cookie("session")
    assert planted is not None
    victim = app.test_client()
    victim.set_cookie("session", planted.value)
    victim.get("/login/42")
    victim.get("/set/secret/s3")
    assert victim.get_cookie("session").value != planted.value  # type: ignore[union-attr]

    # Within the grace period: an empty session, and no write lands anywhere.
    assert attacker.get("/get/secret").text == "None"
    assert attacker.get("/get/user").text == "None"
    assert attacker.get("/get/lang").text == "None"
    written = attacker.get("/set/secret/evil")
    assert cookie_value(written) is None
    assert attacker.get("/get/secret").text == "None"
    assert victim.get("/get/secret").text == "'s3'"
    assert victim.get("/get/user").text == "'42'"
    assert attacker.get_cookie("session").value == planted.value  # type: ignore[union-attr]
    assert len(live_sessions(store, clock())) == 1  # the victim's

    # After it: the old ID is simply unknown, as any other.
    clock.advance(GRACE + 1)
    store.purge_expired(clock())
    left = store.records().get(session_key(planted.value))
    if backend == "redis":  # expires by its TTL, in Redis's own time
        assert left is not None and left.expires_at <= clock()
    else:
        assert left is None  # purged as any other expired record
    assert attacker.get("/get/user").text == "None"
    started = attacker.get("/set/lang/de")
    assert cookie_value(started) not in (None, "", planted.value)
    assert victim.get("/get/secret").text == "'s3'"


def test_a_tombstone_is_nobody_s_session(
    app: flask.Flask, store: CountingStore, clock: FakeClock
) -> None:
    app.config["RIVO_SESSION_MAX_PER_USER"] = 1
    browser = app.test_client()
    browser.get("/set/csrf/t0")
    old = browser.get_cookie("session")
    assert old is not None
    browser.get("/login/u1")
    new = browser.get_cookie("session")
    assert new is not None
    tombstone = store.records()[session_key(old.value)]
    assert is_replaced(tombstone.successor)
    assert (dict(tombstone.data), tombstone.user_id) == ({}, None)
    assert tombstone.expires_at == pytest.approx(clock() + GRACE, abs=0.01)
    assert [key for key, _ in store.user_sessions("u1")] == [session_key(new.value)]
    with app.test_request_context():
        listed = app.extensions["rivo_sessions"]
        from flask_rivo import RivoSessions

        assert listed is RivoSessions.interface()
        assert [s.key for s in RivoSessions().user_sessions("u1")] == [
            session_key(new.value)
        ]
    # A second log-in at the cap of one: the tombstone does not count, the
    # old session ends, as the cap asks.
    other = app.test_client()
    other.get("/login/u1")
    assert browser.get("/get/user").text == "None"
    # Logging out everywhere ends the one session; the tombstone stays
    # nobody's, and leads nowhere.
    assert store.delete_user_sessions("u1") == 1
    assert session_key(old.value) in store.records()
    late = app.test_client()
    late.set_cookie("session", old.value)
    assert late.get("/get/user").text == "None"


def test_a_second_log_in_that_loads_the_tombstone_still_wins(
    app: flask.Flask,
) -> None:
    """A log-in form submitted twice: the later response wins, as when both
    load the old session (see test_interleavings); nothing of the old
    session comes along."""
    old = anonymous(app)
    first = open_session(app, old)
    log_in(first, "u1")
    jar = Jar(old)
    jar.receive(save_session(app, first))
    second = open_session(app, old)
    log_in(second, "u2")
    jar.receive(save_session(app, second))
    assert user_of(app, jar.value) == "u2"
    assert "csrf" not in open_session(app, jar.value)


def test_a_rotated_out_id_leads_to_the_tombstone(
    app: flask.Flask, clock: FakeClock
) -> None:
    """An ID rotated out, whose successor a log-in then replaced, leads
    nowhere either: its request leaves the cookie alone."""
    browser = app.test_client()
    browser.get("/set/csrf/t0")
    first = browser.get_cookie("session")
    assert first is not None
    clock.advance(3601)
    browser.get("/get/csrf")  # rotates
    browser.get("/login/u1")
    late = app.test_client()
    late.set_cookie("session", first.value)
    response = late.get("/set/csrf/t1")
    assert cookie_value(response) is None
    assert late.get("/get/csrf").text == "None"
    assert browser.get("/get/csrf").text == "'t0'"
    assert browser.get("/get/user").text == "'u1'"


def test_a_live_cookie_wins_over_a_tombstone(app: flask.Flask) -> None:
    """Of several cookies of one name, the one that leads to a live session
    is used, wherever the tombstone's is."""
    old = anonymous(app)
    browser = app.test_client()
    browser.set_cookie("session", old)
    browser.get("/login/u1")
    new = browser.get_cookie("session")
    assert new is not None
    with app.test_request_context(
        headers={"Cookie": f"session={old}; session={new.value}"},
        environ_base=app.test_client().environ_base,
    ):
        session = app.session_interface.open_session(app, flask.request)
        assert session is not None
        assert session.user_id == "u1"


def test_without_a_grace_period_the_old_id_is_gone_at_once(
    app: flask.Flask, store: CountingStore
) -> None:
    app.config["RIVO_SESSION_ID_GRACE"] = 0
    old = anonymous(app)
    browser = app.test_client()
    browser.set_cookie("session", old)
    browser.get("/login/u1")
    assert session_key(old) not in store.records()
    late = app.test_client()
    late.set_cookie("session", old)
    assert cookie_value(late.get("/get/user")) == ""  # unknown: deleted, as ever


@pytest.mark.parametrize("loads", [True, False], ids=["loaded", "never used"])
def test_a_permanent_session_is_safe_without_refreshing_each_request(
    app: flask.Flask, loads: bool
) -> None:
    """A permanent session's cookie is sent again by every response while
    ``SESSION_REFRESH_EACH_REQUEST`` is on (as Flask does), which would bring
    the old ID back (see docs/sessions.rst); with it off, nothing does."""
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False

    @app.get("/remember")
    def remember() -> str:
        flask.session.permanent = True
        flask.session["csrf"] = "t0"
        return "ok"

    browser = app.test_client()
    browser.get("/remember")
    cookie = browser.get_cookie("session")
    assert cookie is not None and cookie.value.endswith(".p")
    old = cookie.value
    other = open_session(app, old, load=loads)
    if loads:
        other.get("csrf")
    login = open_session(app, old)
    log_in(login)
    logged_in = save_session(app, login)
    late = save_session(app, other)
    assert cookie_value(late) is None
    for arrival in ([logged_in, late], [late, logged_in]):
        jar = Jar(old)
        for response in arrival:
            jar.receive(response)
        assert user_of(app, jar.value.removesuffix(".p")) == "u1"
