"""Faults found by replaying peers' bug reports, each pinned on every store.

Anonymous form visits that would fill the store, Flask's ``_permanent``
counted as content, and several cookies of the session's name.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

import flask
import pytest
from flask_wtf.csrf import CSRFProtect
from flask_wtf.csrf import generate_csrf
from support import CountingStore
from support import FakeClock
from support import session_app

from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient

pytestmark = pytest.mark.every_store

HOUR = 3600.0
IDLE = timedelta(days=14).total_seconds()


def form_app(store: CountingStore, clock: FakeClock, **config: t.Any) -> flask.Flask:
    """The session app plus a form page (a CSRF secret) and a form POST."""
    app = t.cast(
        "flask.Flask",
        session_app(RIVO_SESSION_STORE=store, SECRET_KEY="form secret", **config),
    )
    app.extensions["rivo_sessions"].clock = clock
    CSRFProtect(app)

    @app.get("/form")
    def form() -> str:
        return generate_csrf()

    @app.post("/form")
    def post() -> str:
        return "accepted"

    return app


def only_record(store: CountingStore) -> t.Any:
    records = list(store.records().values())
    assert len(records) == 1
    return records[0]


# -- 1. anonymous visitors of form pages ----------------------------------


def test_a_form_visit_stores_a_record_that_lives_the_csrf_time_limit(
    store: CountingStore, clock: FakeClock
) -> None:
    client = form_app(store, clock).test_client()
    token = client.get("/form").text
    assert only_record(store).expires_at == pytest.approx(clock.now + HOUR)
    # Within the hour the form posts; after it the record is dead.
    assert client.post("/form", data={"csrf_token": token}).status_code == 200
    clock.advance(HOUR + 1)
    assert client.post("/form", data={"csrf_token": token}).status_code == 400


def test_a_transient_session_in_use_keeps_living(
    store: CountingStore, clock: FakeClock
) -> None:
    client = form_app(store, clock).test_client()
    client.get("/form")
    clock.advance(HOUR - 60)
    token = client.get("/form").text  # past the touch interval: a touch
    assert only_record(store).expires_at == pytest.approx(clock.now + HOUR)
    clock.advance(HOUR - 60)
    assert client.post("/form", data={"csrf_token": token}).status_code == 200


def test_content_or_a_user_gives_the_full_idle_timeout(
    store: CountingStore, clock: FakeClock
) -> None:
    app = form_app(store, clock)
    shopper = app.test_client()
    shopper.get("/form")
    shopper.get("/set/cart/apples")
    assert only_record(store).expires_at == pytest.approx(clock.now + IDLE)
    member = app.test_client()
    member.get("/form")
    member.get("/login/ann")
    ann = [r for r in store.records().values() if r.user_id == "ann"]
    assert len(ann) == 1
    assert ann[0].expires_at == pytest.approx(clock.now + IDLE)


def test_removing_the_content_makes_a_session_transient_again(
    store: CountingStore, clock: FakeClock
) -> None:
    app = form_app(store, clock)

    @app.get("/drop/<key>")
    def drop(key: str) -> str:
        flask.session.pop(key, None)
        return "dropped"

    client = app.test_client()
    client.get("/form")
    client.get("/set/cart/apples")
    client.get("/drop/cart")
    assert only_record(store).expires_at == pytest.approx(clock.now + HOUR)


def test_without_a_csrf_time_limit_the_idle_timeout_applies(
    store: CountingStore, clock: FakeClock
) -> None:
    client = form_app(store, clock, WTF_CSRF_TIME_LIMIT=None).test_client()
    client.get("/form")
    assert only_record(store).expires_at == pytest.approx(clock.now + IDLE)


def test_a_renamed_csrf_field_is_transient_too(
    store: CountingStore, clock: FakeClock
) -> None:
    client = form_app(
        store, clock, WTF_CSRF_FIELD_NAME="xsrf", WTF_CSRF_TIME_LIMIT=600
    ).test_client()
    client.get("/form")
    record = only_record(store)
    assert set(record.data) == {"xsrf"}
    assert record.expires_at == pytest.approx(clock.now + 600)


def test_a_flood_of_form_visits_leaves_nothing_after_the_hour(
    store: CountingStore, clock: FakeClock
) -> None:
    app = form_app(store, clock)
    member = app.test_client()
    member.get("/login/ann")
    member.get("/set/cart/apples")
    for _ in range(200):
        app.test_client().get("/form")
    clock.advance(HOUR + 1)
    store.purge_expired(clock.now)
    live = [r for r in store.records().values() if r.expires_at > clock.now]
    assert [r.user_id for r in live] == ["ann"]
    assert member.get("/get/cart").text == "'apples'"


def test_redis_expires_a_form_visit_by_its_own_ttl(
    store: CountingStore, clock: FakeClock, backend: str
) -> None:
    if backend != "redis":
        pytest.skip("Redis's own TTL")
    client = form_app(store, clock).test_client()
    client.get("/form")
    inner = t.cast("t.Any", store.inner)
    (key,) = store.records()
    ttl = inner.client.pttl(f"{inner.prefix}s:{key}")
    assert 0 < ttl <= HOUR * 1000


# -- 2. Flask's bookkeeping is not content -----------------------------------


@pytest.fixture
def permanent_app(app: flask.Flask) -> flask.Flask:
    @app.before_request
    def make_permanent() -> None:
        flask.session.permanent = True

    @app.get("/drop/<key>")
    def drop(key: str) -> str:
        flask.session.pop(key, None)
        return "dropped"

    return app


def test_a_permanent_flag_alone_stores_nothing_and_sets_no_cookie(
    permanent_app: flask.Flask, store: CountingStore
) -> None:
    client = permanent_app.test_client()
    for path in ["/nothing"] * 10 + ["/get/cart"] * 10:
        response = client.get(path)
        assert "Set-Cookie" not in response.headers
    assert store.records() == {}
    assert client.get_cookie("session") is None


def test_a_permanent_session_with_content_keeps_its_flag(
    permanent_app: flask.Flask, store: CountingStore
) -> None:
    client = permanent_app.test_client()
    response = client.get("/set/cart/apples")
    assert "Expires=" in response.headers["Set-Cookie"]
    assert set(only_record(store).data) == {"cart", "_permanent"}
    # Once the content goes, the session ends, the flag notwithstanding.
    response = client.get("/drop/cart")
    assert client.get_cookie("session") is None
    assert client.get("/get/cart").text == "None"
    live = [r for r in store.records().values() if r.data.get("cart")]
    assert live == []


# -- 3. several cookies of the session's name --------------------------------


def cookie_header(*values: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"session={v}" for v in values)}


@pytest.fixture
def real_id(client: FlaskClient) -> str:
    client.get("/login/ann")
    client.get("/set/cart/apples")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


@pytest.mark.parametrize("unknown_first", [True, False])
def test_the_live_session_wins_over_an_unknown_cookie(
    app: flask.Flask, real_id: str, unknown_first: bool
) -> None:
    bare = app.test_client(use_cookies=False)
    unknown = new_session_id()
    values = (unknown, real_id) if unknown_first else (real_id, unknown)
    for _ in range(3):  # and it keeps winning: nothing was deleted
        response = bare.get("/get/cart", headers=cookie_header(*values))
        assert response.text == "'apples'"
        assert "Set-Cookie" not in response.headers


def test_malformed_and_empty_values_do_not_hide_the_live_one(
    app: flask.Flask, real_id: str
) -> None:
    bare = app.test_client(use_cookies=False)
    headers = cookie_header("", "garbage", real_id)
    assert bare.get("/get/cart", headers=headers).text == "'apples'"


def test_an_unknown_value_is_never_adopted(
    app: flask.Flask, store: CountingStore
) -> None:
    bare = app.test_client(use_cookies=False)
    unknown = new_session_id()
    response = bare.get("/set/cart/pears", headers=cookie_header(unknown))
    assert unknown not in response.headers["Set-Cookie"]
    assert session_key(unknown) not in store.records()


def test_many_cookies_cost_a_bounded_number_of_reads(
    app: flask.Flask, store: CountingStore, real_id: str
) -> None:
    bare = app.test_client(use_cookies=False)
    store.calls.clear()
    values = [new_session_id() for _ in range(20)]
    bare.get("/get/cart", headers=cookie_header(*values, real_id))
    assert store.reads() <= 3


def test_a_rotated_out_id_beside_an_unknown_one_follows_its_successor(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, real_id: str
) -> None:
    clock.advance(3601)  # past the ID lifetime: the next write rotates
    client.get("/set/cart/pears")
    bare = app.test_client(use_cookies=False)
    response = bare.get("/get/cart", headers=cookie_header(new_session_id(), real_id))
    assert response.text == "'pears'"
    assert real_id not in response.headers["Set-Cookie"]  # the new ID comes back


# -- user IDs every store can keep --------------------------------------------


@pytest.mark.parametrize("user_id", ["x" * 256, "ann\0admin"])
def test_a_user_id_no_store_can_keep_is_refused_where_it_is_set(
    app: flask.Flask, store: CountingStore, user_id: str
) -> None:
    with app.test_request_context():
        session = app.session_interface.open_session(app, flask.request)
        with pytest.raises(ValueError, match="at most 255 characters"):
            session.user_id = user_id
        assert session.user_id is None


def test_the_longest_user_id_is_kept_by_every_store(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    longest = "u" * 255
    client.get(f"/login/{longest}")
    assert [r.user_id for r in store.records().values() if r.user_id] == [longest]
    assert client.get("/get/user").text == repr(longest)
