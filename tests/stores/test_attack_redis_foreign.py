"""Attack: values under the Redis store's session keys that are not packed
records.

The session layout changed from one hash per session to one packed string.
A hash left by the old layout (or any value of another type, or a string
that is no packed record) made every command on its key fail: GET answers
WRONGTYPE, a script's ``redis.call`` aborts the whole script. So a browser
holding such a session's cookie got HTTP 503 on every request until the key
expired (up to the absolute timeout), and its user could not list their
sessions nor be logged out everywhere, as the scripts that walk the user's
index met the key too. Such a value is no session: it must read as none,
and be dropped where met.
"""

from __future__ import annotations

import time
import typing as t

import pytest
from stores.test_redis import cluster  # noqa: F401 (a fixture)
from stores.test_redis import cluster_store  # noqa: F401 (a fixture)
from stores.test_redis import key
from stores.test_redis import record
from stores.test_redis import shared  # noqa: F401 (a fixture)
from support import cookie_value
from support import session_app

from flask_rivo.ids import session_key

if t.TYPE_CHECKING:
    from stores.test_redis import MakeStore

    from flask_rivo.stores.redis import RedisStore

FOREIGN: dict[str, t.Callable[[t.Any, str], object]] = {
    "old hash layout": lambda c, k: c.hset(
        k, mapping={"v": "1", "e": repr(time.time() + 600), "u": "ann", "b": "{}"}
    ),
    "a list": lambda c, k: c.rpush(k, "x"),
    "a string that is no record": lambda c, k: c.set(k, "- one 2 3 4 not json\nann"),
    "a short string": lambda c, k: c.set(k, "garbage"),
}


def plant(store: RedisStore, kind: str) -> str:
    """A foreign value under a session key, filed in ann's index; returns
    the key."""
    k = key()
    FOREIGN[kind](store.client, store.prefix + "s:" + k)
    store.client.zadd(store.prefix + "user:ann", {k: time.time() - 10})
    return k


def exercise(store: RedisStore, kind: str) -> None:
    foreign = plant(store, kind)
    mine = [key(), key()]
    for k in mine:
        assert store.save(k, record("ann"), None)
    assert store.load(foreign) is None
    store.touch(foreign, time.time(), time.time() + 60, 1)
    assert store.save(foreign, record("ann"), 7) is False
    assert sorted(k for k, _ in store.user_sessions("ann")) == sorted(mine)
    assert store.limit_user_sessions("ann", 2) == 0
    assert store.delete_user_sessions("ann") == 2
    assert store.user_sessions("ann") == []
    store.delete(plant(store, kind))
    assert store.load(foreign) is None


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_foreign_value_is_no_session(shared: MakeStore, kind: str) -> None:  # noqa: F811
    exercise(shared(), kind)


@pytest.mark.parametrize("kind", ["old hash layout", "a string that is no record"])
def test_a_foreign_value_is_no_session_on_a_cluster(
    cluster_store: RedisStore,  # noqa: F811
    kind: str,
) -> None:
    exercise(cluster_store, kind)


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_cookie_leading_to_a_foreign_value_gets_a_new_session(
    shared: MakeStore,  # noqa: F811
    kind: str,
) -> None:
    store = shared()
    app = session_app(RIVO_SESSION_STORE=store)
    client = app.test_client()
    client.get("/set/a/1")
    cookie = client.get_cookie("session")
    assert cookie is not None
    store.client.delete(store.prefix + "s:" + session_key(cookie.value))
    FOREIGN[kind](store.client, store.prefix + "s:" + session_key(cookie.value))
    response = client.get("/get/a")
    assert (response.status_code, response.text) == (200, "None")
    assert cookie_value(response) == ""
    assert client.get("/set/a/2").status_code == 200
    assert client.get("/get/a").text == "'2'"
