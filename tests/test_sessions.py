"""RivoSessions through Flask's test client: the OWASP behaviours, one by one."""

from __future__ import annotations

import hashlib
import json
import typing as t
from datetime import timedelta

import flask
import pytest
from support import CountingStore
from support import FakeClock
from support import cookie_value
from support import open_session
from support import save_session

from flask_rivo import RivoSessions
from flask_rivo import fingerprint
from flask_rivo.ids import is_replaced
from flask_rivo.ids import session_key

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient

# Every test here runs on every store.
pytestmark = pytest.mark.every_store


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def test_visitor_who_stores_nothing_gets_no_cookie_and_no_store_call(
    client: FlaskClient, store: CountingStore
) -> None:
    response = client.get("/get/cart")
    assert response.text == "None"
    assert "Set-Cookie" not in response.headers
    assert response.headers["Vary"] == "Cookie"
    assert client.get("/nothing").headers.get("Vary") is None
    assert store.calls == []


def test_cookie_is_a_random_id_and_the_store_keys_by_its_hash(
    client: FlaskClient, store: CountingStore
) -> None:
    response = client.get("/set/cart/apples")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "apples" not in header
    session_id = session_cookie(client)
    assert session_id is not None
    assert len(session_id) == 43  # 32 random bytes, URL-safe Base64
    keys = list(store.records())
    assert keys == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert session_id not in json.dumps(
        [list(r.data.items()) for r in store.records().values()]
    )


def test_ids_differ_between_sessions(app: flask.Flask) -> None:
    ids = set()
    for _ in range(50):
        client = app.test_client()
        client.get("/set/a/1")
        ids.add(session_cookie(client))
    assert len(ids) == 50


def test_data_survives_between_requests(client: FlaskClient) -> None:
    client.get("/set/colour/blue")
    assert client.get("/get/colour").text == "'blue'"


def test_cookie_attributes_follow_flask_config(
    app: flask.Flask, client: FlaskClient
) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/shop",
        SESSION_COOKIE_DOMAIN="example.test",
        SESSION_COOKIE_PARTITIONED=True,
    )
    header = client.get("/set/a/1", base_url="https://example.test").headers[
        "Set-Cookie"
    ]
    assert header.startswith("sid=")
    for part in (
        "Secure",
        "SameSite=Strict",
        "Path=/shop",
        "Domain=example.test",
        "Partitioned",
        "HttpOnly",
    ):
        assert part in header


def test_unknown_id_is_never_adopted(client: FlaskClient, store: CountingStore) -> None:
    planted = "A" * 43
    client.set_cookie("session", planted)
    response = client.get("/set/a/1")
    issued = cookie_value(response)
    assert issued and issued != planted
    assert session_key(planted) not in store.records()


def test_unknown_id_cookie_is_removed_when_nothing_is_stored(
    client: FlaskClient,
) -> None:
    client.set_cookie("session", "B" * 43)
    response = client.get("/get/a")
    assert cookie_value(response) == ""
    assert session_cookie(client) is None


def test_malformed_cookie_costs_no_store_call(
    client: FlaskClient, store: CountingStore
) -> None:
    client.set_cookie("session", "not-an-id")
    assert client.get("/get/a").status_code == 200
    assert store.calls == []


def test_idle_timeout_destroys_the_session(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    app.config["RIVO_SESSION_IDLE_TIMEOUT"] = 600
    client.get("/set/a/1")
    clock.advance(599)
    assert client.get("/get/a").text == "'1'"
    clock.advance(599)  # used 599 s ago: still alive, and touched above
    assert client.get("/get/a").text == "'1'"
    clock.advance(601)
    assert client.get("/get/a").text == "None"
    assert store.records() == {}


def test_absolute_timeout_ends_even_a_busy_session(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config.update(
        RIVO_SESSION_IDLE_TIMEOUT=timedelta(hours=1),
        RIVO_SESSION_ABSOLUTE_TIMEOUT=timedelta(hours=3),
        RIVO_SESSION_ID_LIFETIME=timedelta(days=1),
    )
    client.get("/set/a/1")
    for _ in range(5):
        clock.advance(50 * 60)
        assert client.get("/incr/n").status_code == 200
    assert client.get("/get/a").text == "None"  # 250 min > 3 h


def test_expired_session_is_never_revived(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config["RIVO_SESSION_IDLE_TIMEOUT"] = 100
    client.get("/set/a/1")
    old = session_cookie(client)
    clock.advance(101)
    response = client.get("/set/b/2")
    assert cookie_value(response) != old
    client.set_cookie("session", old or "")
    assert client.get("/get/b").text == "None"


def test_no_absolute_timeout(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config["RIVO_SESSION_ABSOLUTE_TIMEOUT"] = None
    app.config["RIVO_SESSION_IDLE_TIMEOUT"] = timedelta(days=1)
    client.get("/set/a/1")
    for _ in range(40):
        clock.advance(timedelta(hours=20).total_seconds())
        assert client.get("/get/a").text == "'1'"


def test_rotation_issues_a_new_id_and_keeps_the_data(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config.update(RIVO_SESSION_ID_LIFETIME=3600, RIVO_SESSION_ID_GRACE=300)
    client.get("/set/a/1")
    old = session_cookie(client)
    clock.advance(3599)
    assert "Set-Cookie" not in client.get("/get/a").headers
    clock.advance(2)
    response = client.get("/get/a")
    new = cookie_value(response)
    assert new and new != old
    assert response.text == "'1'"
    assert client.get("/get/a").text == "'1'"


def test_an_id_rotated_out_many_times_within_its_grace_still_leads_home(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    """A short ID lifetime beside the grace period: an ID still in its grace
    may be several rotations behind (one a minute, here). A request still
    carrying the first must follow them all, not start a new session whose
    cookie would replace the browser's current one (a log-out)."""
    app.config.update(RIVO_SESSION_ID_LIFETIME=60, RIVO_SESSION_ID_GRACE=300)
    client.get("/login/alice")
    first = session_cookie(client)
    for _ in range(4):
        clock.advance(61)
        assert client.get("/get/user").text == "'alice'"  # rotates
    current = session_cookie(client)
    assert current != first
    late = app.test_client()
    late.set_cookie("session", first or "")
    response = late.get("/set/late/1")
    assert cookie_value(response) == current  # learns the newest, as above
    assert client.get("/get/late").text == "'1'"
    assert client.get("/get/user").text == "'alice'"


def test_old_id_leads_to_the_new_session_during_the_grace_period(
    app: flask.Flask, clock: FakeClock
) -> None:
    app.config.update(RIVO_SESSION_ID_LIFETIME=3600, RIVO_SESSION_ID_GRACE=300)
    browser = app.test_client()
    browser.get("/set/a/1")
    old = session_cookie(browser)
    clock.advance(3601)
    browser.get("/get/a")  # rotates
    new = session_cookie(browser)
    # A request that left with the old ID before the rotation answered:
    late = app.test_client()
    late.set_cookie("session", old or "")
    response = late.get("/set/b/2")
    assert response.text == "ok"
    assert cookie_value(response) == new  # it learns the new ID, never the old
    assert browser.get("/get/b").text == "'2'"  # and its write landed there
    clock.advance(301)
    stale = app.test_client()
    stale.set_cookie("session", old or "")
    assert stale.get("/get/a").text == "None"
    assert browser.get("/get/a").text == "'1'"


def test_rotated_out_pointer_holds_no_usable_id(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    client.get("/set/a/1")
    clock.advance(3601)
    client.get("/get/a")
    new = session_cookie(client)
    dump = repr(store.records())
    assert new is not None
    assert new not in dump


def test_regenerate_kills_the_old_id_at_once(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/cart/apples")
    before = session_cookie(client)
    response = client.get("/login/7")
    after = cookie_value(response)
    assert after and after != before
    assert client.get("/get/cart").text == "'apples'"
    # What is left under the old key is a tombstone: no data, no user, and
    # nothing that leads to the new ID.
    tombstone = store.records()[session_key(before or "")]
    assert is_replaced(tombstone.successor)
    assert (dict(tombstone.data), tombstone.user_id) == ({}, None)
    attacker = app.test_client()
    attacker.set_cookie("session", before or "")
    assert attacker.get("/get/user").text == "None"


def test_session_fixation_planted_id_never_leads_into_the_logged_in_session(
    app: flask.Flask,
) -> None:
    attacker = app.test_client()
    attacker.get("/set/lang/en")  # the attacker gets a real, valid session ID
    planted = session_cookie(attacker) or ""
    victim = app.test_client()
    victim.set_cookie("session", planted)  # ... and plants it on the victim
    victim.get("/login/42")
    assert session_cookie(victim) != planted
    assert attacker.get("/get/user").text == "None"
    assert victim.get("/get/user").text == "'42'"


def test_destroy_ends_the_session_and_expires_the_cookie(
    client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/a/1")
    response = client.get("/destroy")
    assert cookie_value(response) == ""
    assert store.records() == {}


def test_writing_after_destroy_starts_a_new_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/logout")
    def logout() -> str:
        flask.session.destroy()
        flask.flash("Logged out")
        return "out"

    client.get("/login/1")
    old = session_cookie(client)
    response = client.get("/logout")
    new = cookie_value(response)
    assert new and new != old
    assert session_key(old or "") not in store.records()
    [record] = store.records().values()
    assert record.user_id is None
    assert set(record.data) == {"_flashes"}


def test_changed_user_agent_ends_the_session_for_good(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/a/1", headers={"User-Agent": "Firefox"})
    assert client.get("/get/a", headers={"User-Agent": "Firefox"}).text == "'1'"
    assert client.get("/get/a", headers={"User-Agent": "curl"}).text == "None"
    assert client.get("/get/a", headers={"User-Agent": "Firefox"}).text == "None"
    assert store.records() == {}


def test_user_agent_check_can_be_turned_off(
    app: flask.Flask, client: FlaskClient
) -> None:
    app.config["RIVO_SESSION_UA_MATCH"] = False
    client.get("/set/a/1", headers={"User-Agent": "Firefox"})
    assert client.get("/get/a", headers={"User-Agent": "curl"}).text == "'1'"


@pytest.mark.parametrize(
    ("octets", "first", "second", "kept"),
    [
        (0, "10.0.0.1", "192.168.9.9", True),
        (3, "10.0.0.1", "10.0.0.200", True),
        (3, "10.0.0.1", "10.0.1.1", False),
        (4, "10.0.0.1", "10.0.0.2", False),
        (4, "10.0.0.1", "10.0.0.1", True),
    ],
)
def test_ipv4_prefix_check(
    app: flask.Flask,
    client: FlaskClient,
    octets: int,
    first: str,
    second: str,
    kept: bool,
) -> None:
    app.config["RIVO_SESSION_IP_OCTETS"] = octets
    client.get("/set/a/1", environ_overrides={"REMOTE_ADDR": first})
    text = client.get("/get/a", environ_overrides={"REMOTE_ADDR": second}).text
    assert text == ("'1'" if kept else "None")


@pytest.mark.parametrize(
    ("bits", "second", "kept"),
    [
        (0, "2001:db8:ffff::1", True),
        (64, "2001:db8:0:0:ffff::9", True),
        (64, "2001:db8:0:1::1", False),
    ],
)
def test_ipv6_prefix_check(
    app: flask.Flask, client: FlaskClient, bits: int, second: str, kept: bool
) -> None:
    app.config["RIVO_SESSION_IPV6_PREFIX"] = bits
    client.get("/set/a/1", environ_overrides={"REMOTE_ADDR": "2001:db8::1"})
    text = client.get("/get/a", environ_overrides={"REMOTE_ADDR": second}).text
    assert text == ("'1'" if kept else "None")


def test_forwarded_for_header_counts_only_behind_proxyfix(app: flask.Flask) -> None:
    app.config["RIVO_SESSION_IP_OCTETS"] = 4
    client = app.test_client()
    client.get("/set/a/1", environ_overrides={"REMOTE_ADDR": "10.0.0.1"})
    spoofed = {"X-Forwarded-For": "10.0.0.1"}
    text = client.get(
        "/get/a", headers=spoofed, environ_overrides={"REMOTE_ADDR": "10.9.9.9"}
    ).text
    assert text == "None"

    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    client = app.test_client()
    client.get("/set/a/1", headers={"X-Forwarded-For": "203.0.113.5"})
    text = client.get("/get/a", headers={"X-Forwarded-For": "203.0.113.5"}).text
    assert text == "'1'"
    text = client.get("/get/a", headers={"X-Forwarded-For": "198.51.100.7"}).text
    assert text == "None"


def test_read_only_requests_write_only_one_touch_per_interval(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    app.config["RIVO_SESSION_TOUCH_INTERVAL"] = 60
    client.get("/set/a/1")
    store.calls.clear()
    for _ in range(5):
        clock.advance(10)
        client.get("/get/a")
    assert store.calls == ["load"] * 5
    clock.advance(11)  # 61 s since the last write
    client.get("/get/a")
    assert store.calls[-2:] == ["load", "touch"]
    store.calls.clear()
    client.get("/get/a")
    assert store.calls == ["load"]


def test_touch_keeps_a_read_only_session_alive(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config.update(RIVO_SESSION_IDLE_TIMEOUT=300, RIVO_SESSION_TOUCH_INTERVAL=60)
    client.get("/set/a/1")
    for _ in range(10):
        clock.advance(200)
        assert client.get("/get/a").text == "'1'"


def test_modifying_request_costs_one_read_and_one_write(
    client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/a/1")
    store.calls.clear()
    client.get("/set/a/2")
    assert store.calls == ["load", "save"]
    store.calls.clear()
    client.get("/set/a/2")  # same value: nothing to write
    assert store.calls == ["load"]


def test_concurrent_writes_to_different_keys_both_land(
    app: flask.Flask, client: FlaskClient
) -> None:
    client.get("/set/a/0")
    cookie = session_cookie(client) or ""
    first, second = open_session(app, cookie), open_session(app, cookie)
    first["x"] = 1
    second["y"] = 2
    del second["a"]
    save_session(app, first)
    save_session(app, second)
    assert client.get("/get/x").text == "1"
    assert client.get("/get/y").text == "2"
    assert client.get("/get/a").text == "None"


def test_concurrent_writes_to_the_same_key_last_writer_wins(
    app: flask.Flask, client: FlaskClient
) -> None:
    client.get("/set/a/0")
    cookie = session_cookie(client) or ""
    first, second = open_session(app, cookie), open_session(app, cookie)
    first["a"] = "first"
    second["a"] = "second"
    save_session(app, first)
    save_session(app, second)
    assert client.get("/get/a").text == "'second'"


def test_in_place_change_is_saved_when_marked_modified(
    app: flask.Flask, client: FlaskClient
) -> None:
    @app.get("/append")
    def append() -> str:
        flask.session.setdefault("items", []).append(len(flask.session["items"]))
        flask.session.modified = True
        return "ok"

    client.get("/append")
    client.get("/append")
    assert client.get("/get/items").text == "[0, 1]"


def test_write_during_a_parallel_rotation_follows_the_new_id(
    app: flask.Flask, client: FlaskClient, clock: FakeClock
) -> None:
    client.get("/set/a/0")
    cookie = session_cookie(client) or ""
    clock.advance(3601)
    rotating, parallel = open_session(app, cookie), open_session(app, cookie)
    rotating["r"] = 1
    parallel["p"] = 2
    first = cookie_value(save_session(app, rotating))
    second = cookie_value(save_session(app, parallel))
    assert first and first == second and first != cookie
    assert client.get("/get/r").text == "1"
    assert client.get("/get/p").text == "2"


def test_write_after_a_parallel_destroy_does_not_revive(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/login/5")
    cookie = session_cookie(client) or ""
    ending, writing = open_session(app, cookie), open_session(app, cookie)
    ending.destroy()
    writing["cart"] = "pears"
    save_session(app, ending)
    response = save_session(app, writing)
    assert cookie_value(response) is None  # left alone
    assert store.records() == {}


def test_user_index_lists_and_ends_sessions(app: flask.Flask) -> None:
    ext = RivoSessions()

    @app.get("/others-out")
    def others_out() -> str:
        return str(ext.end_user_sessions("alice", keep_current=True))

    @app.get("/mine")
    def mine() -> list[bool]:
        return [i.current for i in ext.user_sessions("alice")]

    phones = [app.test_client() for _ in range(3)]
    for phone in phones:
        phone.environ_base["HTTP_USER_AGENT"] = "Phone"
        phone.get("/login/alice")
    bob = app.test_client()
    bob.get("/login/bob")
    with app.test_request_context():
        infos = ext.user_sessions("alice")
        assert len(infos) == 3
        assert {i.user_agent for i in infos} == {"Phone"}
        assert not any(i.current for i in infos)
        assert ext.end_user_session("bob", infos[0].key) is False  # not bob's
    assert phones[0].get("/get/user").text == "'alice'"
    assert sorted(phones[0].get("/mine").json) == [False, False, True]
    assert phones[0].get("/others-out").text == "2"
    assert phones[0].get("/get/user").text == "'alice'"
    assert phones[1].get("/get/user").text == "None"
    assert bob.get("/get/user").text == "'bob'"
    with app.test_request_context():
        [info] = ext.user_sessions("alice")
        assert ext.end_user_session("alice", info.key) is True
        assert ext.end_user_sessions("alice") == 0
    assert phones[0].get("/get/user").text == "None"


def test_logout_everywhere_ends_the_current_session_too(app: flask.Flask) -> None:
    ext = RivoSessions()

    @app.get("/everywhere")
    def everywhere() -> str:
        return str(ext.end_user_sessions(flask.session["user"]))

    client = app.test_client()
    client.get("/login/carol")
    other = app.test_client()
    other.get("/login/carol")
    assert client.get("/everywhere").text == "2"
    assert client.get("/get/user").text == "None"
    assert other.get("/get/user").text == "None"


def test_extension_methods_need_an_installed_app() -> None:
    app = flask.Flask(__name__)
    with app.test_request_context(), pytest.raises(RuntimeError, match="not installed"):
        RivoSessions().user_sessions("x")


def test_clear_logs_the_user_out_of_the_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/clear")
    def clear() -> str:
        flask.session.clear()
        return "cleared"

    client.get("/login/9")
    assert len(store.user_sessions("9")) == 1
    response = client.get("/clear")
    assert cookie_value(response) == ""
    assert store.records() == {}


def test_views_of_the_session_count_as_reads(
    app: flask.Flask, client: FlaskClient
) -> None:
    @app.get("/views")
    def views() -> str:
        s = flask.session
        parts = (sorted(s.keys()), list(s.values()), sorted(s.items()), len(s), list(s))
        return " ".join(map(str, parts))

    client.get("/set/a/1")
    response = client.get("/views")
    assert response.text == "['a'] ['1'] [('a', '1')] 1 ['a']"
    assert response.headers["Vary"] == "Cookie"


def test_user_id_may_be_set_without_other_data(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/only-user")
    def only_user() -> str:
        flask.session.user_id = 77  # type: ignore[assignment]
        return repr(flask.session.user_id)

    assert client.get("/only-user").text == "'77'"
    [(key, record)] = store.user_sessions("77")
    assert dict(record.data) == {}
    with app.test_request_context():
        assert [i.key for i in RivoSessions().user_sessions("77")] == [key]


def test_shorter_idle_timeout_applies_to_existing_sessions(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    client.get("/set/a/1")
    clock.advance(120)
    app.config["RIVO_SESSION_IDLE_TIMEOUT"] = 100
    assert client.get("/get/a").text == "None"
    assert store.records() == {}


def test_unreadable_record_is_dropped_not_a_500(
    client: FlaskClient, store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    client.get("/set/a/1")
    [(key, record)] = store.records().items()
    damaged = {"a": '{"secret-value'}
    store.save(key, dataclasses.replace(record, version=2, data=damaged), 1)
    response = client.get("/get/a")
    assert (response.status_code, response.text) == (200, "None")
    assert "Dropping unreadable session record: JSONDecodeError" in caplog.text
    assert "secret-value" not in caplog.text  # the log names the error, not the data
    assert store.records() == {}


def test_setting_user_id_files_an_existing_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/claim/<user_id>")
    def claim(user_id: str) -> str:
        flask.session.user_id = user_id
        return "ok"

    client.get("/set/a/1")
    before = session_cookie(client)
    assert "Set-Cookie" in client.get("/claim/dora").headers
    assert session_cookie(client) == before  # no regenerate asked for
    assert [r.data["a"] for _, r in store.user_sessions("dora")] == ['"1"']
    client.get("/claim/erik")
    assert store.user_sessions("dora") == []
    assert len(store.user_sessions("erik")) == 1


def test_emptying_the_session_keeps_a_parallel_change(
    app: flask.Flask, client: FlaskClient
) -> None:
    """A shows (and so pops) the only flash message while B fills the cart."""
    client.get("/set/_flashes/x")
    cookie = session_cookie(client) or ""
    showing, buying = open_session(app, cookie), open_session(app, cookie)
    showing.pop("_flashes")
    buying["cart"] = "book"
    assert cookie_value(save_session(app, buying)) == cookie  # the same ID
    assert cookie_value(save_session(app, showing)) == cookie  # not deleted: cart lives
    assert client.get("/get/cart").text == "'book'"
    assert client.get("/get/_flashes").text == "None"


def test_emptying_the_session_alone_ends_it(
    app: flask.Flask, clock: FakeClock, store: CountingStore
) -> None:
    @app.get("/pop")
    def pop() -> str:
        flask.session.pop("a")
        return "popped"

    client = app.test_client()
    client.get("/set/a/1")
    old = session_cookie(client) or ""
    assert cookie_value(client.get("/pop")) == ""
    # The empty record fades out over the grace period, then it is gone.
    clock.advance(301)
    faded = store.load(session_key(old))
    assert faded is None or faded.expires_at <= clock()
    late = app.test_client()
    late.set_cookie("session", old)
    assert late.get("/get/a").text == "None"


def test_regenerate_does_not_revive_a_session_ended_meanwhile(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/login/u1")
    cookie = session_cookie(client) or ""
    stolen = open_session(app, cookie)
    with app.test_request_context():
        assert RivoSessions().end_user_sessions("u1") == 1  # log out everywhere
    stolen["role"] = "admin"
    stolen.regenerate()  # e.g. a sudo step in the stolen session's request
    response = save_session(app, stolen)
    assert cookie_value(response) is None  # left alone
    assert store.records() == {}


def test_log_in_after_the_old_session_ended_still_works(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/set/lang/en")
    cookie = session_cookie(client) or ""
    logging_in = open_session(app, cookie)
    store.delete(session_key(cookie))  # ended meanwhile (expired, say)
    logging_in.regenerate()
    logging_in.user_id = "u2"
    logging_in["user"] = "u2"
    new = cookie_value(save_session(app, logging_in))
    assert new
    assert new != cookie
    [(_, record)] = store.user_sessions("u2")
    assert record.data["user"] == '"u2"'


def test_regenerate_carries_a_parallel_change_over(
    app: flask.Flask, client: FlaskClient
) -> None:
    client.get("/set/a/0")
    cookie = session_cookie(client) or ""
    logging_in, buying = open_session(app, cookie), open_session(app, cookie)
    buying["cart"] = "book"
    save_session(app, buying)
    logging_in.regenerate()
    logging_in.user_id = "u3"
    new = cookie_value(save_session(app, logging_in))
    client.set_cookie("session", new or "")
    assert client.get("/get/cart").text == "'book'"


def test_a_late_touch_does_not_stretch_a_rotated_out_id(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    client.get("/set/a/1")
    old = session_cookie(client) or ""
    clock.advance(3599)  # just before rotation, and past the touch interval
    reading = open_session(app, old)
    clock.advance(2)
    client.get("/get/a")  # another request rotates the ID
    pointer = store.records()[session_key(old)]
    assert pointer.successor is not None
    clock.now -= 1.5  # the reader saves "before" the rotation (another server)
    store.calls.clear()
    save_session(app, reading)  # so it decides to touch, not to rotate
    assert store.calls == ["touch"]
    clock.now += 1.5
    assert store.records()[session_key(old)].expires_at == pointer.expires_at
    clock.advance(301)
    late = app.test_client()
    late.set_cookie("session", old)
    assert late.get("/get/a").text == "None"


def test_new_session_cookie_is_kept_out_of_shared_caches(app: flask.Flask) -> None:
    @app.get("/own-policy")
    def own_policy() -> flask.Response:
        flask.session["b"] = 2
        response = flask.make_response("ok")
        response.headers["Cache-Control"] = "no-store"
        return response

    client = app.test_client()
    response = client.get("/set/a/1")
    assert response.headers["Cache-Control"] == 'private, no-cache="Set-Cookie"'
    assert "Cache-Control" not in client.get("/get/a").headers
    fresh = app.test_client()
    assert fresh.get("/own-policy").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("policy", "sent"),
    [
        ("public, max-age=60", 'public, max-age=60, no-cache="Set-Cookie"'),
        ("s-maxage=600", 's-maxage=600, no-cache="Set-Cookie"'),
        ('no-cache="Set-Cookie"', 'no-cache="Set-Cookie"'),
        ("no-cache", "no-cache"),
        ("private, max-age=60", "private, max-age=60"),
    ],
)
@pytest.mark.parametrize("change", ["start", "end"])
def test_a_view_that_lets_caches_keep_it_never_lets_them_keep_the_cookie(
    app: flask.Flask, policy: str, sent: str, change: str
) -> None:
    """A shared cache that stored the ``Set-Cookie`` of a cacheable page
    would hand the session ID (or its deletion) to every later visitor:
    the view's own policy stays, with the cookie excluded from it."""

    @app.get("/cacheable")
    def cacheable() -> flask.Response:
        if change == "start":
            flask.session["a"] = 1
        else:
            flask.session.clear()
        response = flask.make_response("ok")
        response.headers["Cache-Control"] = policy
        return response

    client = app.test_client()
    if change == "end":
        client.get("/set/a/1")
    response = client.get("/cacheable")
    assert "Set-Cookie" in response.headers
    assert response.headers.getlist("Cache-Control") == [sent]


def test_a_deleted_cookie_is_kept_out_of_shared_caches(
    app: flask.Flask, client: FlaskClient
) -> None:
    client.get("/set/a/1")
    response = client.get("/destroy")
    assert "Expires=Thu, 01 Jan 1970" in response.headers["Set-Cookie"]
    assert response.headers["Cache-Control"] == 'private, no-cache="Set-Cookie"'


def test_log_out_ends_a_session_rotated_meanwhile(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    client.get("/login/alice")
    s1 = session_cookie(client) or ""
    clock.advance(3601)  # the ID is due for rotation
    leaving, parallel = open_session(app, s1), open_session(app, s1)
    leaving.destroy()  # log-out
    s2 = cookie_value(save_session(app, parallel))  # the parallel request rotates first
    assert s2
    assert s2 != s1
    assert cookie_value(save_session(app, leaving)) == ""
    assert store.user_sessions("alice") == []
    thief = app.test_client()
    thief.set_cookie("session", s2)
    assert thief.get("/get/user").text == "None"


def test_write_after_a_parallel_emptying_keeps_the_change(
    app: flask.Flask, client: FlaskClient
) -> None:
    client.get("/set/_flashes/x")
    cookie = session_cookie(client) or ""
    showing, buying = open_session(app, cookie), open_session(app, cookie)
    showing.pop("_flashes")
    buying["cart"] = "book"
    assert cookie_value(save_session(app, showing)) == ""  # emptied: the cookie goes
    assert cookie_value(save_session(app, buying)) == cookie  # ... and comes back
    client.set_cookie("session", cookie)
    assert client.get("/get/cart").text == "'book'"
    assert client.get("/get/_flashes").text == "None"


def test_log_out_by_regenerate_does_not_revive_a_session_ended_everywhere(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    client.get("/login/u1")
    client.get("/set/secret/s3cr3t")
    leaving = open_session(app, session_cookie(client) or "")
    with app.test_request_context():
        assert RivoSessions().end_user_sessions("u1") == 1
    leaving.user_id = None  # a log-out that keeps the session's other data
    leaving.regenerate()
    assert cookie_value(save_session(app, leaving)) is None
    assert store.records() == {}


def test_store_failure_during_regenerate_keeps_the_session(
    app: flask.Flask, client: FlaskClient, store: CountingStore, monkeypatch: t.Any
) -> None:
    from flask_rivo import StoreError

    client.get("/set/cart/book")
    cookie = session_cookie(client)
    real_save = store.save

    def no_new_records(key: str, record: t.Any, expected: int | None) -> bool:
        if expected is None:  # the store drops out as the new ID is written
            raise StoreError("connection reset")
        return real_save(key, record, expected)

    monkeypatch.setattr(store, "save", no_new_records)
    assert client.get("/login/u1").status_code == 503
    monkeypatch.undo()
    assert session_cookie(client) == cookie
    assert client.get("/get/cart").text == "'book'"


def test_store_failure_mid_rotation_keeps_the_new_copy_and_sends_its_id(
    app: flask.Flask,
    client: FlaskClient,
    clock: FakeClock,
    store: CountingStore,
    monkeypatch: t.Any,
) -> None:
    """The pointer's write fails: it may have landed, so the new record may
    be the only copy. It is kept, and the 503 hands the browser its ID.
    (tests/stores/test_uncertain.py makes the write land on a real server.)"""
    from flask_rivo import StoreError

    client.get("/login/u2")
    client.get("/set/cart/book")
    old = session_cookie(client)
    clock.advance(3601)
    real_save = store.save

    def no_pointers(key: str, record: t.Any, expected: int | None) -> bool:
        if expected is not None and record.successor is not None:
            raise StoreError("timeout")
        return real_save(key, record, expected)

    monkeypatch.setattr(store, "save", no_pointers)
    response = client.get("/set/x/1")
    monkeypatch.undo()
    assert response.status_code == 503
    new = cookie_value(response)
    assert new and new != old
    assert client.get("/get/cart").text == "'book'"
    assert client.get("/get/user").text == "'u2'"
    # The old record, which the pointer never reached, is left to expire.
    assert len(store.user_sessions("u2")) == 2


def test_store_failure_after_the_old_id_died_at_log_in_sends_the_new_one(
    app: flask.Flask, client: FlaskClient, store: CountingStore, monkeypatch: t.Any
) -> None:
    """Retiring the old ID without a grace period expires its record, then
    deletes it; if the delete fails, the old ID is dead already and only the
    new one leads to the session, so the 503 must carry it."""
    from flask_rivo import StoreError

    app.config["RIVO_SESSION_ID_GRACE"] = 0
    client.get("/set/cart/book")
    old = session_cookie(client)

    def refused(key: str) -> None:
        raise StoreError("connection refused")

    monkeypatch.setattr(store, "delete", refused)
    response = client.get("/login/u1")
    monkeypatch.undo()
    assert response.status_code == 503
    new = cookie_value(response)
    assert new and new != old
    assert client.get("/get/cart").text == "'book'"
    assert client.get("/get/user").text == "'u1'"


def test_store_failure_while_leaving_the_tombstone_at_log_in_sends_the_new_one(
    app: flask.Flask, client: FlaskClient, store: CountingStore, monkeypatch: t.Any
) -> None:
    """The tombstone's write may have landed or not: the new record surely
    exists, so the 503 carries its ID, and the old ID leads nowhere."""
    from flask_rivo import StoreError
    from flask_rivo.stores import Record

    client.get("/set/cart/book")
    old = session_cookie(client)
    save = store.save

    def lost_reply(key: str, record: Record, expected: int | None) -> bool:
        done = save(key, record, expected)
        if is_replaced(record.successor):
            raise StoreError("connection reset")
        return done

    monkeypatch.setattr(store, "save", lost_reply)
    response = client.get("/login/u1")
    monkeypatch.undo()
    assert response.status_code == 503
    new = cookie_value(response)
    assert new and new != old
    assert client.get("/get/user").text == "'u1'"
    assert client.get("/get/cart").text == "'book'"
    stale = app.test_client()
    stale.set_cookie("session", old or "")
    assert stale.get("/get/cart").text == "None"


def test_store_failure_while_dropping_an_unreadable_record_is_a_503(
    app: flask.Flask, client: FlaskClient, store: CountingStore, monkeypatch: t.Any
) -> None:
    import dataclasses

    from flask_rivo import StoreError

    client.get("/set/a/1")
    [(key, record)] = store.records().items()
    store.save(key, dataclasses.replace(record, version=2, data={"a": "{no"}), 1)

    def refused(key: str) -> None:
        raise StoreError("connection refused")

    monkeypatch.setattr(store, "delete", refused)
    assert client.get("/get/a").status_code == 503


def test_keep_current_follows_a_parallel_rotation(
    app: flask.Flask, client: FlaskClient, clock: FakeClock, store: CountingStore
) -> None:
    from flask.globals import request_ctx

    client.get("/login/ann")
    app.test_client().get("/login/ann")  # another device
    s1 = session_cookie(client) or ""
    clock.advance(3601)
    button, parallel = open_session(app, s1), open_session(app, s1)
    s2 = cookie_value(save_session(app, parallel))  # rotates S1 -> S2
    with app.test_request_context():
        request_ctx._session = button
        assert RivoSessions().end_user_sessions("ann", keep_current=True) == 1
    button["note"] = "others logged out"
    save_session(app, button)
    assert len(store.user_sessions("ann")) == 1
    client.set_cookie("session", s2 or "")
    assert client.get("/get/user").text == "'ann'"


def test_any_client_address_is_stored(
    client: FlaskClient, store: CountingStore
) -> None:
    """A proxy fix takes it from a header the client writes: a NUL, which
    PostgreSQL refuses in text columns, failed every write of that client;
    a huge one was stored whole with each session."""
    address = "203.0.113.7\x00" + "9" * 5000
    environ = {"REMOTE_ADDR": address}
    assert client.get("/set/a/1", environ_base=environ).status_code == 200
    assert client.get("/get/a", environ_base=environ).text == "'1'"
    [record] = store.records().values()
    assert record.address == ("203.0.113.7" + "9" * 5000)[: fingerprint.MAX_ADDRESS]


def test_any_user_agent_is_stored(client: FlaskClient, store: CountingStore) -> None:
    """Even one with a NUL, which PostgreSQL refuses in text columns."""
    agent = "Mozilla/5.0 \x00 Grüße 🎉"
    assert client.get("/set/a/1", headers={"User-Agent": agent}).status_code == 200
    assert client.get("/get/a", headers={"User-Agent": agent}).text == "'1'"
    [record] = store.records().values()
    assert record.user_agent == "Mozilla/5.0  Grüße 🎉"
